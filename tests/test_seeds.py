"""Per-seed rows merged over invocations (unlearnlib.seeds), the train-test fit columns and the shared original."""
import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest

from unlearnlib.seeds import config_fingerprint, mean_sd, merged, pm, save_seed


@dataclass(frozen=True)
class Cfg:
    lr: float = 0.1
    seeds: tuple = (0,)


def rows(v):
    return pd.DataFrame({"method": ["a", "b"], "x": [v, 2 * v]})


def test_seeds_of_two_invocations_merge_and_another_config_is_kept_apart(tmp_path):
    save_seed(tmp_path, "t", Cfg(seeds=(0,)), 0, rows(1.0))
    save_seed(tmp_path, "t", Cfg(seeds=(1, 2)), 1, rows(3.0))  # a second invocation, other seeds: same config
    table, seeds, skipped = merged(tmp_path, "t", Cfg(seeds=(5,)))
    assert seeds == [0, 1] and not skipped
    assert sorted(table.x) == [1.0, 2.0, 3.0, 6.0]
    # seed 0 again with another learning rate: the old file is moved aside, never merged with the new config
    save_seed(tmp_path, "t", Cfg(lr=0.2), 0, rows(10.0))
    table, seeds, skipped = merged(tmp_path, "t", Cfg(lr=0.2))
    assert seeds == [0] and sorted(table.x) == [10.0, 20.0] and not skipped  # seeds 0 and 1 of lr 0.1 moved aside
    old_fp = config_fingerprint(Cfg())[0]
    kept = tmp_path / "seeds" / "t" / f"other-{old_fp}"
    assert sorted(pd.read_csv(kept / "seed0.csv").x) == [1.0, 2.0] and sorted(pd.read_csv(kept / "seed1.csv").x) == [3.0, 6.0]
    assert sorted(p.name for p in (tmp_path / "seeds" / "t").glob("seed*")) == ["seed0.csv", "seed0.json"]
    assert json.loads((tmp_path / "seeds" / "t" / "seed0.json").read_text())["config"]["lr"] == 0.2


def test_fingerprint_ignores_only_seed_fields():
    assert config_fingerprint(Cfg(seeds=(0,)))[0] == config_fingerprint(Cfg(seeds=(1, 2)))[0]
    assert config_fingerprint(Cfg(lr=0.1))[0] != config_fingerprint(Cfg(lr=0.3))[0]


def test_mean_sd_over_seeds():
    df = pd.concat([rows(v).assign(seed=s) for s, v in enumerate((1.0, 2.0, 3.0))])
    out = mean_sd(df, ["method"], ["x"]).set_index("method")
    assert out.loc["a", "x"] == pytest.approx(2.0) and out.loc["a", "x_sd"] == pytest.approx(1.0)
    assert out.loc["b", "x"] == pytest.approx(4.0) and out.loc["b", "n_seeds"] == 3
    one = mean_sd(rows(1.0).assign(seed=0), ["method"], ["x"])
    assert one.x_sd.isna().all() and pm(one.x[0], one.x_sd[0]) == "1.00"
    assert pm(2.0, 1.0) == "2.00 ± 1.00"


def test_fit_columns_weight_forget_and_retain():
    from unlearnlib.data import Split
    from unlearnlib.experiment import fit_columns

    split = Split("class", 0, forget=np.arange(10), retain=np.arange(10, 40), val=np.arange(40, 45), test=np.arange(30),
                  test_forget=np.arange(30, 40))
    t = pd.DataFrame([{"method": "original", "forget_acc_pct": 100.0, "ra_pct": 80.0, "ta_pct": 60.0,
                       "test_forget_acc_pct": 100.0}])
    r = fit_columns(t, split).iloc[0]
    assert r.orig_train_pct == pytest.approx(85.0)  # (10 * 100 + 30 * 80) / 40
    assert r.orig_test_pct == pytest.approx(70.0)  # (30 * 60 + 10 * 100) / 40
    assert r.orig_gap_pts == pytest.approx(15.0)


def test_both_schemes_of_a_seed_share_the_original(tmp_path, monkeypatch):
    from unlearnlib import load_dataset, make_split, to_device, train_original
    from unlearnlib.train import TrainConfig

    monkeypatch.setenv("UNLEARNLIB_CACHE", str(tmp_path))
    ds = load_dataset("digits")
    data = to_device(ds, "cpu")
    a = make_split(ds, "random", 0.1, 0.1, 3, 300, 100)
    b = make_split(ds, "class", 2, 0.1, 3, 300, 100)
    assert np.array_equal(a.train, b.train) and a.fingerprint() != b.fingerprint()
    cfg = TrainConfig(epochs=1, batch_size=64, augment=False)
    _, first = train_original("mlp", data, a, cfg, progress=False)
    _, second = train_original("mlp", data, b, cfg, progress=False)
    assert not first["cached"] and second["cached"] and first["key"] == second["key"]
    _, other = train_original("mlp", data, make_split(ds, "class", 2, 0.1, 4, 300, 100), cfg, progress=False)
    assert not other["cached"]  # another seed: another training set


def test_augment_modes():
    from types import SimpleNamespace

    from unlearnlib.train import augmentation

    data = SimpleNamespace(crop_padding=4, flip=True)
    assert augmentation(True, data) == (4, True)
    assert augmentation("flip", data) == (0, True)
    assert augmentation(False, data) == (0, False)
    assert augmentation(True, None) == (0, False)
    with pytest.raises(ValueError, match="flip"):
        augmentation("crop", data)
