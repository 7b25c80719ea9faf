"""experiment.run_method / run_methods: every method through one cache, its per-iteration trace stored with it."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import unlearnlib.experiment as E
from unlearnlib.data import make_split
from unlearnlib.methods import make_config
from unlearnlib.originals import train_original
from unlearnlib.train import TrainConfig


@pytest.fixture
def start(digits, digits_data):
    split = make_split(digits, "random", 40, val_size=60, seed=3, train_size=400)
    model, _ = train_original("mlp", digits_data, split, TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False),
                              progress=False)
    return model, split


def _counting(monkeypatch):
    calls = []
    real = E.unlearn
    monkeypatch.setattr(E, "unlearn", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    return calls


def test_dau_is_cached_with_its_trace(start, digits_data, monkeypatch):
    """DAU's game trajectory is a hook whose output is stored with the cached entry: a second run loads the model,
    its run time and the same trace without playing the game; asking for a trace an entry lacks recomputes it."""
    model, split = start
    cfg = make_config("dau", iterations=4, pretrain_iters=2, log_every=2, batch_size=32, pair_batch_size=16,
                      sensitivity_draws=2)
    calls = _counting(monkeypatch)
    plain = E.run_method("dau", model, split, digits_data, cfg)
    assert plain.trace == [] and not plain.cached
    traced = E.run_method("dau", model, split, digits_data, cfg, trace=True)  # no trace stored: played again
    assert [t["iteration"] for t in traced.trace] == [2, 4] and not traced.cached
    again = E.run_method("dau", model, split, digits_data, cfg, trace=True)
    assert again.cached and again.trace == traced.trace and again.seconds == traced.seconds
    assert all(torch.equal(a, b) for a, b in zip(traced.model.state_dict().values(), again.model.state_dict().values()))
    assert calls == ["dau", "dau"]


def test_run_setting_caches_every_method_and_keeps_the_trajectory(start, digits_data, monkeypatch):
    model, split = start
    methods = [("retrain", make_config("retrain", train=TrainConfig(epochs=1, batch_size=64, augment=False))),
               ("finetune", make_config("finetune", epochs=1, augment=False)),
               ("dau", make_config("dau", iterations=2, pretrain_iters=1, log_every=1, batch_size=32,
                                   pair_batch_size=16, sensitivity_draws=2))]
    first_traj, again_traj = [], []
    first = E.run_setting(model, digits_data, split, 0.0, methods, seed=1, trajectories=first_traj, tag={"seed": 1},
                          log=None)
    calls = _counting(monkeypatch)
    again = E.run_setting(model, digits_data, split, 0.0, methods, seed=1, trajectories=again_traj, tag={"seed": 1},
                          log=None)
    assert calls == [] and again.seconds == first.seconds
    assert again_traj == first_traj and len(first_traj) == 2 and all(t["seed"] == 1 for t in first_traj)
    E.run_setting(model, digits_data, split, 0.0, methods, seed=2, log=None)  # another seed: another config
    assert calls == ["retrain", "finetune", "dau"]


def test_a_diverging_method_stops_the_run_unless_asked_for_its_row(start, digits_data, monkeypatch):
    """run_setting(diverged="row") (the sweep, the beyond-the-paper table): a method whose weights become non-finite is
    a row with `diverged` and no metrics, nothing is cached for it, and the next method runs; by default (the papers'
    tables) it stops the run with the method's message; mean_sd counts the seeds it diverged on."""
    from unlearnlib.store import mean_sd

    model, split = start
    methods = [("grad_ascent", make_config("grad_ascent", lr=1e30)),
               ("finetune", make_config("finetune", epochs=1, augment=False))]
    with pytest.raises(FloatingPointError, match="non-finite weights"):
        E.run_setting(model, digits_data, split, 0.0, methods, seed=7, log=None)
    seen = []
    run = E.run_setting(model, digits_data, split, 0.0, methods, seed=7, log=seen.append, diverged="row")
    rows = E.collect(run.rows)
    assert [r["method"] for r in rows] == ["original", "grad_ascent", "finetune"]
    assert "non-finite weights" in rows[1]["diverged"] and "ua_pct" not in rows[1] and "diverged" not in rows[2]
    assert np.isnan(run.seconds["grad_ascent"]) and "grad_ascent diverged" in seen[0]
    calls = _counting(monkeypatch)
    E.run_setting(model, digits_data, split, 0.0, methods, seed=7, log=None, diverged="row")
    assert calls == ["grad_ascent"]  # computed again (nothing cached), finetune from the cache
    t = pd.DataFrame([{**r, "seed": 0} for r in rows] + [{**rows[1], "seed": 1, "diverged": None, "ua_pct": 5.0}])
    t = mean_sd(t, ["method"], ["ua_pct"]).set_index("method")
    assert t.loc["grad_ascent", "n_seeds"] == 2 and t.loc["grad_ascent", "n_diverged"] == 1
    assert t.loc["grad_ascent", "ua_pct"] == 5.0 and t.loc["finetune", "n_diverged"] == 0
    with pytest.raises(ValueError, match="diverged must be 'raise' or 'row'"):
        E.run_setting(model, digits_data, split, 0.0, methods, seed=7, log=None, diverged="skip")


def test_a_method_with_a_hook_is_computed_not_cached(start, digits_data, monkeypatch):
    """A per-epoch hook (notebook 01's monitors) must see every epoch: such a run goes around the cache."""
    model, split = start
    seen = []
    cfg = make_config("finetune", epochs=2, augment=False, on_epoch_end=lambda *a, **k: seen.append(1))
    assert E.method_entry("finetune", model, split, digits_data, cfg) is None
    calls = _counting(monkeypatch)
    for _ in range(2):
        E.run_method("finetune", model, split, digits_data, cfg)
    assert calls == ["finetune"] * 2 and len(seen) == 4


def test_retrain_declares_its_own_cache_entry(start, digits_data):
    """Retrain's result depends on the retain set and the architecture, not the start weights: two start models of
    one architecture share its entry; other methods key on the weights."""
    model, split = start
    cfg = make_config("retrain", train=TrainConfig(epochs=1, batch_size=64, augment=False))
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).view(-1)[0] += 1.0
    assert E.method_entry("retrain", model, split, digits_data, cfg) == E.method_entry("retrain", other, split,
                                                                                          digits_data, cfg)
    ft = make_config("finetune", epochs=1)
    assert E.method_entry("finetune", model, split, digits_data, ft) != E.method_entry("finetune", other, split,
                                                                                          digits_data, ft)


def test_on_a_cpu_no_svc_attack_runs_while_a_method_is_timed(start, digits_data, monkeypatch):
    """The SVC attacks of a row run in the executor; on a CPU they would share the cores with the next method and
    inflate its run time (notebook 02's run-time claim compares it with retrain's, timed alone): every attack of the
    rows before has finished when each method starts."""
    from concurrent.futures import ThreadPoolExecutor

    model, split = start
    submitted, idle_at_start = [], []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, *a, **k):
            f = super().submit(fn, *a, **k)
            submitted.append(f)
            return f

    real = E.run_method

    def each(*a, **kw):  # run_setting runs each method through run_method
        idle_at_start.append((len(submitted), all(f.done() for f in submitted)))
        return real(*a, **kw)

    monkeypatch.setattr(E, "run_method", each)
    methods = [("finetune", make_config("finetune", epochs=1, augment=False)),
               ("grad_ascent", make_config("grad_ascent", epochs=1, augment=False))]
    with Recording(max_workers=4) as pool:
        E.run_setting(model, digits_data, split, 0.0, methods, seed=4, executor=pool, mia_kinds=("entropy",),
                      cache=False, log=None)
    assert [n > 0 for n, _ in idle_at_start] == [True, True]  # the attacks went through the executor
    assert all(done for _, done in idle_at_start)
