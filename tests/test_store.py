"""Per-seed rows merged over invocations (unlearnlib.store, the row store), the train-test fit columns and the shared original."""
import json
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from unlearnlib.config import scoped
from unlearnlib.store import STORE_ENV, config_fingerprint, mean_sd, merged, pm, runtime_share, save_rows, view_rows


@dataclass(frozen=True)
class Cfg:
    lr: float = 0.1
    seeds: tuple = (0,)


def rows(v):
    return pd.DataFrame({"method": ["a", "b"], "x": [v, 2 * v]})


def stored(tmp_path, table="t"):
    """The row store's files of `table` for the view tmp_path/"nb" (its store is tmp_path/store/nb)."""
    return tmp_path / "store" / "nb" / table


def test_seeds_of_two_invocations_merge_and_another_config_is_kept_apart(tmp_path):
    out = tmp_path / "nb"
    save_rows(out, "t", Cfg(seeds=(0,)), 0, rows(1.0))
    save_rows(out, "t", Cfg(seeds=(1, 2)), 1, rows(3.0))  # a second invocation, other seeds: same config
    table, seeds, others = merged(out, "t", Cfg(seeds=(5,)))
    assert seeds == [0, 1] and not others
    assert table.x.tolist() == [1.0, 2.0, 3.0, 6.0] and list(table.columns) == ["method", "x", "seed"]
    # seed 0 again with another learning rate: another file, never merged with the first config, which stays
    save_rows(out, "t", Cfg(lr=0.2), 0, rows(10.0))
    table, seeds, others = merged(out, "t", Cfg(lr=0.2))
    assert seeds == [0] and sorted(table.x) == [10.0, 20.0] and len(others) == 1
    old_fp, new_fp = config_fingerprint(Cfg())[0], config_fingerprint(Cfg(lr=0.2))[0]
    assert sorted(pd.read_csv(stored(tmp_path) / f"{old_fp}.csv").x) == [1.0, 2.0, 3.0, 6.0]
    assert json.loads((stored(tmp_path) / f"{new_fp}.json").read_text())["config"]["lr"] == 0.2
    # the view's index points at the config it last stored, and every stored row names what computed it
    index = json.loads((out / "rows.json").read_text())
    assert index["t"] == {"rows": f"store/nb/t/{new_fp}.csv", "fingerprint": new_fp, "seeds": [0]}
    assert view_rows(out, "t").x.tolist() == [10.0, 20.0]
    raw = pd.read_csv(stored(tmp_path) / f"{new_fp}.csv")
    assert raw._commit.notna().all() and raw._time_utc.notna().all() and raw._device.str.startswith("cpu").all()


def test_stored_rows_take_the_column_order_of_the_rows_just_computed(tmp_path):
    """A column the code added since rows were stored: the file takes the order of the rows just computed (a view
    drawn from stored rows then lists its columns as the notebook computes them), and the old rows keep theirs."""
    out = tmp_path / "nb"
    save_rows(out, "t", Cfg(), 0, pd.DataFrame({"a": [1], "c": [3]}))
    save_rows(out, "t", Cfg(), 1, pd.DataFrame({"a": [4], "b": [5], "c": [6]}))
    table = merged(out, "t", Cfg())[0]
    assert list(table.columns) == ["a", "b", "c", "seed"] and table.c.tolist() == [3, 6] and table.b.isna().tolist() == [True, False]


def test_the_store_of_a_run_all_run_is_named_by_the_environment(tmp_path, monkeypatch):
    """run_all's staging folder is not the published view: $UNLEARNLIB_STORE names the notebook's store, and the
    index's path is relative to the profile's folder, so it holds once the staging folder is published."""
    store = tmp_path / "results" / "quick" / "store" / "02_x"
    monkeypatch.setenv(STORE_ENV, str(store))
    staging = tmp_path / "results" / "quick" / ".staging" / "02_x-123-456"
    save_rows(staging, "t", Cfg(), 0, rows(1.0))
    fp = config_fingerprint(Cfg())[0]
    assert (store / "t" / f"{fp}.csv").exists()
    assert json.loads((staging / "rows.json").read_text())["t"]["rows"] == f"store/02_x/t/{fp}.csv"
    final = staging.parent.parent / "02_x"
    staging.rename(final)
    assert view_rows(final, "t").x.tolist() == [1.0, 2.0]


@dataclass(frozen=True)
class RowCfg:
    ROW_FIELDS = {"sparsities": "sparsity"}
    lr: float = 0.1
    sparsities: tuple = (0.0,)
    seeds: tuple = (0,)


def sparse_rows(sparsity, v):
    return pd.DataFrame({"sparsity": [sparsity, sparsity], "method": ["a", "b"], "x": [v, 2 * v]})


def test_row_fields_let_invocations_add_rows_to_a_seed(tmp_path):
    """Dense then sparse rows of seed 0 from two invocations make one table; a rerun of the dense rows replaces only
    them and logs the replaced rows; another lr is still another config."""
    out = tmp_path / "nb"
    save_rows(out, "t", RowCfg(sparsities=(0.0,)), 0, sparse_rows(0.0, 1.0))
    save_rows(out, "t", RowCfg(sparsities=(0.95,)), 0, sparse_rows(0.95, 5.0))
    table, seeds, others = merged(out, "t", RowCfg(sparsities=(0.0, 0.95)))
    assert seeds == [0] and not others
    assert sorted(zip(table.sparsity, table.x)) == [(0.0, 1.0), (0.0, 2.0), (0.95, 5.0), (0.95, 10.0)]
    fp = config_fingerprint(RowCfg())[0]
    side = json.loads((stored(tmp_path) / f"{fp}.json").read_text())
    assert side["config"]["sparsities"] == [0.0, 0.95] and side["row_columns"] == ["sparsity"]
    assert not (stored(tmp_path) / f"{fp}.replaced.csv").exists()  # nothing was replaced yet
    save_rows(out, "t", RowCfg(sparsities=(0,)), 0, sparse_rows(0, 3.0))  # the dense rows again (0 is 0.0)
    table, _, _ = merged(out, "t", RowCfg())
    assert sorted(zip(table.sparsity, table.x)) == [(0.0, 3.0), (0.0, 6.0), (0.95, 5.0), (0.95, 10.0)]
    gone = pd.read_csv(stored(tmp_path) / f"{fp}.replaced.csv")
    assert sorted(gone.x) == [1.0, 2.0] and gone._replaced_utc.notna().all()
    save_rows(out, "t", RowCfg(lr=0.3), 0, sparse_rows(0.0, 7.0))  # another config: another file
    table, _, _ = merged(out, "t", RowCfg(lr=0.3))
    assert sorted(table.x) == [7.0, 14.0]
    assert len(pd.read_csv(stored(tmp_path) / f"{fp}.csv")) == 4


def test_a_file_named_by_an_older_fingerprint_still_merges(tmp_path):
    """A file whose name is a fingerprint an older code computed: it is found from its stored config."""
    out = tmp_path / "nb"
    path = save_rows(out, "t", RowCfg(), 1, sparse_rows(0.0, 1.0))
    for suffix in (".csv", ".json"):
        path.with_suffix(suffix).rename(path.with_name("stale" + suffix))
    table, seeds, others = merged(out, "t", RowCfg(sparsities=(0.95,)))
    assert seeds == [1] and not others and len(table) == 2


def test_notebook_02_config_declares_its_row_fields():
    from unlearnlib.papers import notebook_config
    from unlearnlib.store import row_fields

    cfg = notebook_config("02_discriminative_adversarial_unlearning", "cpu")
    assert row_fields(cfg) == {"schemes": "scheme", "sparsities": "sparsity"}
    other = replace(cfg, sparsities=(0.95,), schemes=("class",), seeds=(2,))
    assert config_fingerprint(cfg)[0] == config_fingerprint(other)[0]
    # a method's hyper-parameter is part of the fingerprint, however it is set: the same resolved config (an
    # override equal to the preset) merges, a different one does not
    iu = cfg.method_config("influence").alpha
    assert config_fingerprint(cfg)[0] != config_fingerprint(replace(cfg, method_overrides={"influence": {"alpha": iu * 2}}))[0]
    assert config_fingerprint(cfg)[0] == config_fingerprint(replace(cfg, method_overrides={"influence": {"alpha": iu}}))[0]


def test_notebook_03_calls_of_one_ssl_method_each_fill_one_table(tmp_path):
    """Notebook 03's SSL methods are a row field: a call per encoder (the paper profile's plan) stores its rows under
    the profile's config, and the view shows every encoder's; a call of the same encoder again replaces its rows; the
    supervised model's table (no SSL column) stays keyed by the seed; another hyper-parameter is another config."""
    from unlearnlib.papers import notebook_config
    from unlearnlib.store import row_fields

    out = tmp_path / "nb"
    whole = notebook_config("03_contrastive_unlearning", "smoke")
    assert row_fields(whole) == {"ssl_methods": "ssl"}

    def call(ssl, v, cfg=None):
        cfg = cfg or replace(whole, ssl_methods=(ssl,), headline_only=ssl != "moco")  # the plan's calls: MoCo's whole
        save_rows(out, "t23", cfg, 0, pd.DataFrame({"ssl": [ssl, ssl], "model": ["before", "after"], "x": [v, v + 1]}))
        return cfg

    call("moco", 1.0)
    call("simclr", 3.0)
    table, seeds, others = merged(out, "t23", whole)
    assert sorted(zip(table.ssl, table.model, table.x)) == [("moco", "after", 2.0), ("moco", "before", 1.0),
                                                           ("simclr", "after", 4.0), ("simclr", "before", 3.0)]
    assert seeds == [0] and not others
    call("moco", 10.0)  # the same encoder again: its rows replaced, the other's kept
    table, _, _ = merged(out, "t23", whole)
    assert sorted(table[table.ssl == "moco"].x) == [10.0, 11.0] and sorted(table[table.ssl == "simclr"].x) == [3.0, 4.0]
    assert json.loads((stored(tmp_path, "t23") / f"{config_fingerprint(whole)[0]}.json").read_text())["config"][
        "ssl_methods"] == ["moco", "simclr"]  # the encoders the stored rows cover
    other = replace(whole, ssl_methods=("byol",), ssl_epochs=whole.ssl_epochs + 1, headline_only=True)
    call("byol", 5.0, other)
    table, _, others = merged(out, "t23", whole)
    assert "byol" not in set(table.ssl) and len(others) == 1


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


def test_runtime_share_reads_each_row_against_the_retrain_of_its_own_group():
    """Notebook 02 sets Table 1 beside the beyond table by each one's share of its own retrain's time (at cpu the two
    ran on other CPUs): a row's share is against the retrain of its seed and setting, in the rows' order, and a group
    without retrain has none."""
    t = pd.DataFrame([{"seed": 0, "scheme": "random", "sparsity": 0.0, "method": "ft", "runtime_s": 30.0},
                      {"seed": 0, "scheme": "random", "sparsity": 0.0, "method": "retrain", "runtime_s": 600.0},
                      {"seed": 1, "scheme": "random", "sparsity": 0.0, "method": "retrain", "runtime_s": 300.0},
                      {"seed": 1, "scheme": "random", "sparsity": 0.0, "method": "ft", "runtime_s": 30.0},
                      {"seed": 0, "scheme": "class", "sparsity": 0.0, "method": "ft", "runtime_s": 30.0},
                      {"seed": 1, "scheme": "random", "sparsity": 0.95, "method": "ft", "runtime_s": float("nan")},
                      {"seed": 1, "scheme": "random", "sparsity": 0.95, "method": "retrain", "runtime_s": 100.0}],
                     index=[7, 3, 5, 1, 2, 9, 4])
    out = runtime_share(t)
    assert list(out.index) == [7, 3, 5, 1, 2, 9, 4] and out.runtime_s.equals(t.runtime_s)
    share = out.runtime_pct_retrain.tolist()
    assert share[:4] == pytest.approx([5.0, 100.0, 100.0, 10.0])  # seed 0's ft against 600 s, seed 1's against 300 s
    assert np.isnan(share[4]) and np.isnan(share[5])  # no class-wise retrain; a diverged row has no run time
    assert share[6] == pytest.approx(100.0)
    assert runtime_share(t.drop(columns="runtime_s")).runtime_pct_retrain.isna().all()
    # a group holding its retrain twice (rows of two runs) gives each row one share, against the first retrain
    twice = pd.concat([t, t.iloc[[1]].assign(runtime_s=60.0)])
    again = runtime_share(twice)
    assert len(again) == len(twice) and again.runtime_pct_retrain.iloc[0] == pytest.approx(5.0)


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


@pytest.mark.parametrize("notebook, changed", [("03_contrastive_unlearning",
                                                {"method_overrides": {"gradient_penalty": {"lr": 2e-3}}}),
                                               ("01_amnesiac_unlearning", {"unlearn_epochs": 6})])
def test_headline_only_runs_merge_with_a_full_run(tmp_path, notebook, changed):
    """headline_only (a table field of notebooks 01 and 03) chooses which tables run: seed 1's headline-only rows
    merge with seed 0's full run, also with rows saved before the field existed (their stored config lacks it), while
    a field that changes the rows (the unlearning lr or epochs) keeps them apart."""
    from unlearnlib.papers import notebook_config

    cfg = notebook_config(notebook, "cpu")
    one = replace(cfg, seed=1, headline_only=True)
    assert "headline_only" in type(cfg).TABLE_FIELDS
    assert all(getattr(cfg, k) != v for k, v in changed.items())
    assert config_fingerprint(cfg)[0] == config_fingerprint(one)[0]
    assert config_fingerprint(cfg)[0] != config_fingerprint(replace(one, **changed))[0]
    if notebook.startswith("03"):  # parts, like headline_only, chooses tables, not what a row holds
        assert config_fingerprint(replace(cfg, parts=("headline",)))[0] == config_fingerprint(cfg)[0]
    out = tmp_path / "nb"
    path = save_rows(out, "t", cfg, 0, rows(1.0))
    side = path.with_suffix(".json")  # as a committed seed-0 file written before headline_only existed
    info = json.loads(side.read_text())
    del info["config"]["headline_only"]
    info["config"].pop("parts", None)  # notebook 03's other table field, newer still
    side.write_text(json.dumps(info))
    save_rows(out, "t", one, 1, rows(3.0))
    _, seeds, others = merged(out, "t", one)
    assert seeds == [0, 1] and not others, "seed 0 stays beside seed 1"


def test_notebook_01_rows_are_keyed_by_the_fields_acting_on_table_1(tmp_path):
    """Notebook 01 stores Table 1's recalls only: a run with other inversion settings, no judge or other requests for
    the batches-removed curve (table fields: they act on its other tables) adds its seed to the same rows, while a
    field Table 1 reads (the shadow models, the unlearning epochs) keys another config."""
    from unlearnlib.papers import notebook_config

    cfg = notebook_config("01_amnesiac_unlearning", "cpu")
    other_tables = replace(cfg, seed=1, judge=False, inversion="project", inversion_steps=10, request_sizes=(2,),
                           repeats=1)
    assert config_fingerprint(other_tables)[0] == config_fingerprint(cfg)[0]
    for acting in ({"n_shadow": cfg.n_shadow + 1}, {"unlearn_epochs": cfg.unlearn_epochs + 1},
                   {"shadow_data": "test"}, {"n_forget_samples": cfg.n_forget_samples + 1}):
        assert config_fingerprint(replace(cfg, **acting))[0] != config_fingerprint(cfg)[0], acting
    out = tmp_path / "nb"
    path = save_rows(out, "t", cfg, 0, rows(1.0))
    assert save_rows(out, "t", other_tables, 1, rows(3.0)) == path
    _, seeds, others = merged(out, "t", cfg)
    assert seeds == [0, 1] and not others

    # its tables of one run are keyed by the table fields acting on them (TABLE_KEYS): the inversions by their
    # settings, the batches-removed curve by its requests; Table 1 and table_methods by none of them
    for table, acting in (("inversion_grid", {"inversion_steps": 10}), ("accuracy_over_epochs", {"judge": False}),
                          ("batches_removed", {"repeats": 1}), ("amnesiac_record_cost", {"request_sizes": (2,)})):
        a = save_rows(out, table, cfg, 0, rows(1.0))
        assert save_rows(out, table, replace(cfg, **acting), 0, rows(5.0)) != a, (table, acting)
        assert merged(out, table, cfg)[0].x.tolist() == [1.0, 2.0], "the other setting's rows sit apart"
    assert save_rows(out, "table_methods", cfg, 0, rows(1.0)) == save_rows(out, "table_methods", other_tables, 1, rows(1.0))


def test_a_table_of_one_run_shows_its_first_seed_whichever_run_came_last(tmp_path):
    """first_seed_view: a table of one run (notebook 03's ablation, notebook 01's curves) shows the stored rows of
    the smallest seed of this config, on the `where` values asked (notebook 03's base encoder), whatever order the
    invocations ran in; the view's index names that seed; nothing stored: (empty, None)."""
    from unlearnlib.store import first_seed, first_seed_view

    out = tmp_path / "nb"
    assert first_seed_view(out, "t", Cfg(), ssl="moco")[1] is None
    for seed, ssl, v in ((2, "moco", 2.0), (1, "moco", 1.0), (0, "byol", 9.0), (3, "moco", 3.0)):
        save_rows(out, "t", Cfg(), seed, rows(v).assign(ssl=ssl))
        shown, first = first_seed_view(out, "t", Cfg(), ssl="moco")
        assert first == (2 if seed == 2 else 1) and list(shown.columns) == ["method", "x"]
        assert shown.x.tolist() == [first * 1.0, first * 2.0]
        assert json.loads((out / "rows.json").read_text())["t"]["seeds"] == [first]
    assert first_seed_view(out, "t", Cfg(), ssl="simclr")[1] is None
    assert first_seed_view(out, "t", Cfg(lr=0.3), ssl="moco")[1] is None, "another config's rows are not shown"
    every = merged(out, "t", Cfg())[0]
    assert first_seed(every, by=["ssl"]).groupby("ssl").x.min().to_dict() == {"byol": 9.0, "moco": 1.0}
    assert first_seed(every).x.tolist() == [9.0, 18.0] and "seed" not in first_seed(every)


@dataclass(frozen=True)
class MethodCfg:
    lr: float = 0.1


@dataclass(frozen=True)
class MethodCfgLater:  # the same method after the code gained a field whose default keeps the old behaviour
    lr: float = 0.1
    detach: bool = False


@dataclass(frozen=True)
class Runs:
    lr: float = 0.1
    seeds: tuple = (0,)
    method_cls: ClassVar[type] = MethodCfg
    method_overrides: dict = field(default_factory=dict)  # resolved into method_configs, left out of the fingerprint

    def method_configs(self):
        return [("m", replace(self.method_cls(), **self.method_overrides))]


@dataclass(frozen=True)
class RunsLater(Runs):
    beyond: tuple = ()  # a notebook field added later, at its default
    method_cls: ClassVar[type] = MethodCfgLater


def test_a_field_added_later_at_its_default_keeps_the_stored_rows(tmp_path):
    """Rows stored before a config (or one of its methods' configs) gained a field are still this config's rows
    while the new field holds its default; set to anything else, it is another config."""
    out = tmp_path / "nb"
    save_rows(out, "t", Runs(), 0, rows(1.0))
    save_rows(out, "t", RunsLater(seeds=(1,)), 1, rows(3.0))
    table, seeds, others = merged(out, "t", RunsLater())
    assert seeds == [0, 1] and not others
    changed = replace(RunsLater(), beyond=("ssd",))
    assert merged(out, "t", changed)[1] == [] and len(merged(out, "t", changed)[2]) == 1
    assert merged(out, "t", RunsLater(method_overrides={"detach": False}))[1] == [0, 1]  # its default, set
    detached = RunsLater(method_overrides={"detach": True})  # the method's new field set: another config
    assert merged(out, "t", detached)[1] == [] and len(merged(out, "t", detached)[2]) == 1


@dataclass(frozen=True)
class MethodCfgChanged:  # the same method after the code gained a field whose default changes the behaviour
    lr: float = 0.1
    order: str = scoped("new", schemes=("class",), absent="old")


@dataclass(frozen=True)
class RunsChanged(Runs):
    method_cls: ClassVar[type] = MethodCfgChanged


def test_a_field_added_later_with_an_absent_value_keeps_the_stored_rows_apart(tmp_path):
    """A field added with `absent` (its default changed what the method does): rows stored before it are read as
    computed with the absent value, so under the new default they are another config's; set to the absent value,
    the field keys them as before. Where the field does not act (a scoped field, another scheme), a row's per-method
    key leaves it out (`_unit_key`)."""
    from unlearnlib.store import _unit_key, as_stored, config_defaults

    out = tmp_path / "nb"
    save_rows(out, "t", Runs(), 0, rows(1.0))
    table, seeds, others = merged(out, "t", RunsChanged())
    assert seeds == [] and len(others) == 1  # the new default: not the stored rows' config
    assert merged(out, "t", RunsChanged(method_overrides={"order": "old"}))[1] == [0]  # the old behaviour, named
    new = RunsChanged()
    _, config = config_fingerprint(new)
    theirs = json.loads((stored(tmp_path) / f"{config_fingerprint(Runs())[0]}.json").read_text())["config"]
    mine = as_stored(config, theirs, config_defaults(new))
    from dataclasses import fields as dc_fields

    from unlearnlib.config import acts_on
    # the scope a MethodsRun derives from the field's declaration (`out_of_scope`): "order" acts class-wise only
    scope = lambda name, setting: {f.name for f in dc_fields(MethodCfgChanged) if not acts_on(f, setting)}  # noqa: E731
    key = lambda c, scheme: _unit_key(c, set(), "m", {"scheme": scheme}, scope, reference=False)  # noqa: E731
    assert key(mine, "class") != key(theirs, "class") and key(mine, "random") == key(theirs, "random")
    # without `absent`, the same field at its default would have kept the class-wise rows as this config's
    plain = as_stored(config, theirs, {**config_defaults(new), "method_configs": {"m": {"lr": 0.1, "order": "new"}}})
    assert key(plain, "class") == key(theirs, "class")


def test_nothing_is_carried_from_a_view_of_another_config(tmp_path):
    """A partial run carries the earlier view's other tables only when that view shows the same config's rows; after
    a config change (a table of both indexes under another fingerprint) its tables are of another config."""
    from unlearnlib.store import INDEX, carry_unwritten

    def view(folder, fp, extra=None):
        folder.mkdir(parents=True)
        (folder / INDEX).write_text(json.dumps({"t": {"rows": f"store/nb/t/{fp}.csv", "fingerprint": fp, "seeds": [0]}}))
        for name, text in (extra or {}).items():
            (folder / name).write_text(text)

    final, staging = tmp_path / "nb", tmp_path / "staging"
    view(final, "aaa", {"figure.png": "old config's figure"})
    view(staging, "bbb")
    assert carry_unwritten(final, staging) == [] and not (staging / "figure.png").exists()
    assert json.loads((staging / INDEX).read_text())["t"]["fingerprint"] == "bbb"
    same = tmp_path / "staging2"
    view(same, "aaa")
    assert carry_unwritten(final, same) == ["figure.png"]


def test_a_partial_run_carries_nothing_from_a_run_of_another_config(tmp_path):
    """A run that stores no rows (notebook 03's ablation alone) under another config than the published view's gets
    nothing of it (the index test cannot see it: no table in both indexes): run_all records each run's config in
    params.json, and carry-over compares it as the store does. Another seed, or a config that gained a field at its
    default since, is the same config and carries the earlier files."""
    from unlearnlib.store import carry_unwritten, config_fingerprint

    def view(folder, cfg, extra=None):
        folder.mkdir(parents=True)
        (folder / "params.json").write_text(json.dumps({"config": config_fingerprint(cfg)[1]}))
        for name, text in (extra or {}).items():
            (folder / name).write_text(text)

    final = tmp_path / "nb"
    view(final, Runs(seeds=(0,)), {"table4.csv": "seed 0's ablation"})
    other = Runs(lr=0.2, seeds=(1,))
    view(tmp_path / "a", other)
    assert carry_unwritten(final, tmp_path / "a", other) == [] and not (tmp_path / "a" / "table4.csv").exists()
    view(tmp_path / "b", Runs(seeds=(1,)))
    assert carry_unwritten(final, tmp_path / "b", Runs(seeds=(1,))) == ["table4.csv"]
    view(tmp_path / "c", RunsLater(seeds=(2,)))
    assert carry_unwritten(final, tmp_path / "c", RunsLater(seeds=(2,))) == ["table4.csv"]
    view(tmp_path / "d", other)  # without a config to compare (a caller passing none): the index test alone
    assert carry_unwritten(final, tmp_path / "d") == ["table4.csv"]


def _store_seeds(args):
    """A writer process of the test below: its own view folder, the shared store (STORE_ENV), a run of seeds."""
    import os
    view, store, seeds = args
    os.environ[STORE_ENV] = store
    for s in seeds:
        save_rows(view, "t", Cfg(), s, rows(float(s)))


def test_concurrent_writers_of_one_table_lose_no_rows(tmp_path):
    """run_all --ray's tasks store rows of one table at once (several seeds, one config): every row lands."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    store = str(tmp_path / "store" / "nb")
    jobs = [(str(tmp_path / f"view{w}"), store, range(w * 12, w * 12 + 12)) for w in range(4)]
    with ProcessPoolExecutor(4, mp_context=mp.get_context("fork")) as pool:
        list(pool.map(_store_seeds, jobs))
    fp = config_fingerprint(Cfg())[0]
    got = pd.read_csv(tmp_path / "store" / "nb" / "t" / f"{fp}.csv")
    assert sorted(got.seed.unique()) == list(range(48)) and len(got) == 96


# ---------------------------------------------------------------- rows keyed per method

from dataclasses import fields as dc_fields  # noqa: E402

from unlearnlib.config import acts_on, scoped  # noqa: E402
from unlearnlib.store import device_class, view_provenance, view_seeds  # noqa: E402


@dataclass(frozen=True)
class MCfg:  # a method's config: `rate` acts in class-wise forgetting only (as DAU's lr_class)
    lr: float = 0.1
    rate: float | None = scoped(None, schemes=("class",))


@dataclass(frozen=True)
class PerMethod:
    ROW_FIELDS: ClassVar = {"schemes": "scheme"}
    PER_METHOD: ClassVar = {"t": None, "traj": "b"}
    schemes: tuple = ("random", "class")
    seeds: tuple = (0,)
    methods: tuple = ("retrain", "a", "b")
    method_overrides: dict = field(default_factory=dict)

    def method_configs(self):
        return [(m, replace(MCfg(), **self.method_overrides.get(m, {}))) for m in self.methods]

    def out_of_scope(self, name, setting):
        return {f.name for f in dc_fields(MCfg) if not acts_on(f, setting)}


def method_rows(cfg, v):
    return pd.DataFrame([{"scheme": s, "method": m, "x": v + i} for s in cfg.schemes
                         for i, m in enumerate(("original", *cfg.methods))])


def test_a_setting_borrows_the_rows_of_methods_whose_configs_did_not_change_there(tmp_path):
    """A field that acts in class-wise forgetting only (b's rate) leaves the random-forgetting rows of every method
    as they were: the new config's view shows them from the earlier run's file (lent, with their provenance) until
    its own run stores that setting; a field that acts everywhere (a's lr) lends nothing; the view's index reads
    back as the notebook's merged table."""
    out = tmp_path / "nb"
    old = PerMethod()
    path = save_rows(out, "t", old, 0, method_rows(old, 1.0))
    pd.read_csv(path).assign(_time_utc="2026-01-01T00:00:00+00:00").to_csv(path, index=False)  # an earlier run
    new = PerMethod(method_overrides={"b": {"rate": 0.5}})
    table, seeds, others = merged(out, "t", new)
    assert seeds == [0] and set(table.scheme) == {"random"}
    assert table.method.tolist() == ["original", "retrain", "a", "b"]
    assert len(others) == 1 and "lends 4" in others[0]
    assert merged(out, "t", PerMethod(method_overrides={"a": {"lr": 0.2}}))[1] == []  # acts in every setting
    # a run that computes nothing (-p SEEDS '[]') publishes the view of what the store holds for its config
    pd.testing.assert_frame_equal(merged(out, "t", new, index=True)[0], table)
    pd.testing.assert_frame_equal(view_rows(out, "t"), table)  # until then the view showed the earlier config's
    assert json.loads((out / "rows.json").read_text())["t"]["seeds"] == []  # none of its own yet
    class_only = replace(new, schemes=("class",))
    save_rows(out, "t", class_only, 0, method_rows(class_only, 10.0))
    table, seeds, _ = merged(out, "t", new)
    assert list(zip(table.scheme, table.method, table.x)) == [
        ("random", "original", 1.0), ("random", "retrain", 2.0), ("random", "a", 3.0), ("random", "b", 4.0),
        ("class", "original", 10.0), ("class", "retrain", 11.0), ("class", "a", 12.0), ("class", "b", 13.0)]
    pd.testing.assert_frame_equal(view_rows(out, "t"), table)  # the report reads what the notebook merged
    assert view_seeds(out) == [0]
    runs = sorted(what for _, _, _, what in view_provenance(out))  # this run's class-wise rows and the lent random ones
    assert runs == ["t seed 0 (scheme=class method=original,retrain,a,b)",
                    "t seed 0 (scheme=random method=original,retrain,a,b)"]
    index = json.loads((out / "rows.json").read_text())["t"]
    assert len(index["lent"]) == 1 and len(index["lent"][0]["units"]) == 4
    # a seed the earlier run stored and this config did not run: lent whole, every method there unchanged
    save_rows(out, "t", replace(old, seeds=(1,)), 1, method_rows(old, 20.0))
    assert merged(out, "t", new)[1] == [0, 1]


def test_a_setting_is_lent_only_whole_and_from_one_device_class(tmp_path):
    """A setting missing one method's rows, or whose methods' rows were computed on different devices (run times and
    float results would not compare), is not shown; a config running fewer methods borrows only those."""
    out = tmp_path / "nb"
    old = PerMethod()
    path = save_rows(out, "t", old, 0, method_rows(old, 1.0))
    new = PerMethod(method_overrides={"b": {"rate": 0.5}})
    more = PerMethod(methods=("retrain", "a", "b", "c"))  # "c" has no rows anywhere: no setting is complete
    assert merged(out, "t", more)[1] == []
    stored_rows = pd.read_csv(path)
    stored_rows.loc[stored_rows.method == "b", "_device"] = "NVIDIA H200"
    stored_rows.to_csv(path, index=False)
    assert merged(out, "t", new)[1] == []
    fewer = PerMethod(methods=("retrain", "a"))
    assert merged(out, "t", fewer)[0].method.tolist() == ["original", "retrain", "a"] * 2


def test_a_table_of_one_method_is_keyed_by_that_methods_config(tmp_path):
    """A table whose rows are all one method's (DAU's trajectory: `PER_METHOD` names it) borrows by that method's
    config: a's change leaves b's trajectory rows this config's; b's class-wise rate, its random ones."""
    out = tmp_path / "nb"
    old = PerMethod()
    traj = pd.DataFrame({"scheme": ["random", "random", "class", "class"], "iteration": [0, 1, 0, 1],
                         "v": [1, 2, 3, 4]})
    save_rows(out, "traj", old, 0, traj)
    a_changed = PerMethod(methods=("retrain", "a", "b"), method_overrides={"a": {"lr": 0.3}})
    assert merged(out, "traj", a_changed)[0].v.tolist() == [1, 2, 3, 4]
    assert merged(out, "traj", PerMethod(method_overrides={"b": {"rate": 0.5}}))[0].v.tolist() == [1, 2]
    assert merged(out, "traj", PerMethod(method_overrides={"b": {"lr": 0.5}}))[1] == []


def test_scoped_fields_and_device_classes():
    f = {x.name: x for x in dc_fields(MCfg)}
    assert not acts_on(f["rate"], {"scheme": "random", "sparsity": 0.0}) and acts_on(f["rate"], {"scheme": "class"})
    assert acts_on(f["rate"], {}) and acts_on(f["lr"], {"scheme": "random"})  # no scheme column: it may act
    sparse = dc_fields(_Sparse)[0]
    assert acts_on(sparse, {"scheme": "random", "sparsity": 0.95}) and not acts_on(sparse, {"sparsity": 0.0})
    assert not acts_on(sparse, {"scheme": "class", "sparsity": 0.95})
    # rows recorded before the CPU's instruction set was: the project's documented CPU (AVX-512 with native bf16)
    assert device_class("cpu: x86_64, 2 threads") == "cpu: x86_64, 2 threads, AVX512, native bf16"
    tagged = "cpu: x86_64, 2 threads, AVX2, no native bf16"
    assert device_class(tagged) == tagged
    assert device_class("NVIDIA H200") == "NVIDIA H200"


@dataclass(frozen=True)
class _Sparse:
    lr_sparse: float | None = scoped(None, schemes=("random",), sparse=True)


def test_dau_declares_where_its_setting_specific_fields_act():
    """DAU's class-wise fields leave its random-forgetting rows as they were and lr_sparse its class-wise and dense
    ones, so a change of the class-wise rate reruns class-wise forgetting only."""
    from unlearnlib.papers import notebook_config

    cfg = notebook_config("02_discriminative_adversarial_unlearning", "cpu", {})
    random_dense = cfg.out_of_scope("dau", {"scheme": "random", "sparsity": 0.0})
    assert random_dense == {"lr_class", "lr_sparse", "class_off", "class_off_after", "class_nonmembers"}
    assert cfg.out_of_scope("dau", {"scheme": "class", "sparsity": 0.95}) == {"lr_sparse"}
    assert cfg.out_of_scope("finetune", {"scheme": "random", "sparsity": 0.0}) == set()


def test_the_committed_cpu_store_lends_what_did_not_change():
    """On the committed cpu rows of notebook 02: the class-wise rate 0.005 and FF's and IU's bf16 passes came after the
    complete three-seed run, and only what they changed ran again (FF and IU in random forgetting, FF, IU and DAU
    class-wise). Today's config shows three seeds of every setting, with the earlier run lending the method runs that
    did not change (its file named as a lender); without FF and IU, the same holds for the earlier run's methods."""
    from pathlib import Path

    from unlearnlib.papers import notebook_config

    nb = "02_discriminative_adversarial_unlearning"
    out = Path(__file__).resolve().parents[1] / "results" / "cpu" / nb
    every = {("class", 0.0): [0, 1, 2], ("class", 0.95): [0, 1, 2],
             ("random", 0.0): [0, 1, 2], ("random", 0.95): [0, 1, 2]}
    for overrides, n_methods in (({}, 6), ({"methods": ["retrain", "finetune", "grad_ascent", "dau"]}, 4)):
        cfg = notebook_config(nb, "cpu", overrides)
        table, seeds, others = merged(out, "table1", cfg)
        assert seeds == [0, 1, 2]
        assert table.groupby(["scheme", "sparsity"]).seed.apply(lambda s: sorted(set(s))).to_dict() == every
        assert (table.groupby(["seed", "scheme", "sparsity"]).size() == 1 + n_methods).all()  # the original too
        assert any("lends" in o for o in others), others  # rows come from an earlier config's file


def metric_rows(cfg, v):
    """A run's rows with the four metrics; Avg. Disparity against retrain where the run has it (results_table)."""
    from unlearnlib.evaluation import results_table

    recs = [{"scheme": s, "method": m, "ua_pct": v + i, "mia_efficacy_pct": v, "ra_pct": 90.0, "ta_pct": 80.0 - i}
            for s in cfg.schemes for i, m in enumerate(("original", *cfg.methods))]
    return pd.concat([results_table([r for r in recs if r["scheme"] == s]) for s in cfg.schemes], ignore_index=True)


def test_a_run_without_the_reference_lends_its_methods_and_the_view_measures_their_disparity(tmp_path):
    """After a change to b in every setting, a run of b alone (no retrain) stores b's rows without Avg. Disparity; the
    view of the changed config shows them beside the earlier run's retrain and a, with b's disparity measured against
    that retrain row, as a run of every method would have stored it."""
    out = tmp_path / "nb"
    old = PerMethod()
    save_rows(out, "t", old, 0, metric_rows(old, 10.0))
    new = PerMethod(method_overrides={"b": {"lr": 0.5}})
    assert merged(out, "t", new)[1] == []  # b changed everywhere: nothing to show
    b_only = replace(new, methods=("b",))
    b_rows = metric_rows(b_only, 30.0)
    assert "avg_disparity" not in b_rows
    save_rows(out, "t", b_only, 0, b_rows)
    table, seeds, _ = merged(out, "t", new)
    assert seeds == [0] and table.method.tolist() == ["original", "retrain", "a", "b"] * 2
    b = table[table.method == "b"].iloc[0]
    assert b.ua_pct == 31.0 and b.ta_pct == 79.0  # b-only run's row ("b" is its second method)
    # |31 - 11| (ua), |30 - 10| (mia), 0 (ra), |79 - 79| (ta) against the earlier run's retrain row: mean 10
    assert b.avg_disparity == pytest.approx(10.0)
    assert table[table.method == "retrain"].avg_disparity.eq(0).all()
    assert table.avg_disparity.notna().all()
    merged(out, "t", new, index=True)
    pd.testing.assert_frame_equal(view_rows(out, "t"), table)


def test_a_view_of_several_runs_measures_disparity_against_the_retrain_row_it_shows(tmp_path):
    """Two runs hold random forgetting under the same resolution but disagree (say a GPU run that does not repeat
    to the bit); the view takes retrain from one and the other methods from the newer: every row's Avg. Disparity is
    then measured against the retrain row shown, not the one its own run had."""
    from unlearnlib.metrics import avg_disparity

    out = tmp_path / "nb"
    first = save_rows(out, "t", PerMethod(), 0, metric_rows(PerMethod(), 10.0))
    second_cfg = PerMethod(method_overrides={"b": {"rate": 0.5}})
    second = save_rows(out, "t", second_cfg, 0, metric_rows(second_cfg, 20.0))
    for path, time in ((first, "2026-01-01T00:00:00+00:00"), (second, "2026-02-01T00:00:00+00:00")):
        pd.read_csv(path).assign(_time_utc=time).to_csv(path, index=False)
    t = pd.read_csv(second)  # the second run's retrain row older than the first's: retrain comes from the first
    t.loc[t.method == "retrain", "_time_utc"] = "2025-12-01T00:00:00+00:00"
    t.to_csv(second, index=False)
    table, _, _ = merged(out, "t", PerMethod(method_overrides={"b": {"rate": 0.7}}))
    ref = table[table.method == "retrain"].iloc[0]
    assert ref.ua_pct == 11.0  # the first run's retrain
    assert table[table.method == "a"].ua_pct.iloc[0] == 22.0  # the second run's a
    for _, row in table.iterrows():
        assert row.avg_disparity == pytest.approx(avg_disparity(row, ref))


def test_a_file_whose_config_cannot_be_read_lends_nothing(tmp_path):
    out = tmp_path / "nb"
    path = save_rows(out, "t", PerMethod(), 0, method_rows(PerMethod(), 1.0))
    new = PerMethod(method_overrides={"b": {"rate": 0.5}})
    assert merged(out, "t", new)[1] == [0]
    for text in ("{broken", "[1, 2]"):
        path.with_suffix(".json").write_text(text)
        assert merged(out, "t", new)[1] == []
    path.with_suffix(".json").unlink()  # a writer between its .csv and its .json
    assert merged(out, "t", new)[1] == []


def test_key_text_keeps_large_seeds_apart_and_zero_equal():
    from unlearnlib.store import _text

    assert _text(1234567) != _text(1234568) and _text(0) == _text(0.0) and _text(0.95) == "0.95"
