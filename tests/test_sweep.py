import json
import math

import pytest

from unlearnlib.sweep import main, parse_grid


def test_parse_grid_is_the_cartesian_product_with_typed_values():
    grid = parse_grid(["alpha=1,0.5", "flag=True,None", "name=x"])
    assert grid == [{"alpha": 1, "flag": True, "name": "x"}, {"alpha": 1, "flag": None, "name": "x"},
                    {"alpha": 0.5, "flag": True, "name": "x"}, {"alpha": 0.5, "flag": None, "name": "x"}]
    with pytest.raises(SystemExit, match="FIELD=V1"):
        parse_grid(["alpha"])
    with pytest.raises(SystemExit, match="alpha is given twice"):  # one axis, not the last one silently
        parse_grid(["alpha=1,0.5", "alpha=2"])


def test_assignments_parse_once_per_field():
    """The FIELD=VALUE parser of the benchmarks' --set and --variant: typed values, and a field given twice is an
    error naming it (it used to keep the last silently)."""
    from unlearnlib.config import ConfigError, parse_assignments

    assert parse_assignments(["lr=0.2", " epochs = 3", "name=x", "ks=[1, 2]"]) == {"lr": 0.2, "epochs": 3, "name": "x",
                                                                                 "ks": [1, 2]}
    with pytest.raises(ConfigError, match="--set: lr is given twice"):
        parse_assignments(["lr=0.2", "lr=0.1"])
    with pytest.raises(ConfigError, match="--variant dau 'lam': expected FIELD=VALUE"):
        parse_assignments(["lam"], "--variant dau")


def test_sweep_writes_one_row_per_setting_with_retrain_as_reference(tmp_path):
    out = tmp_path / "sweep.json"
    assert main(["--profile", "smoke", "--scheme", "class", "--method", "grad_ascent", "--grid", "lr=1e-4,1e-2",
                 "--device", "cpu", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["original", "retrain", "grad_ascent", "grad_ascent"]
    assert [json.loads(r["params"]) for r in rows[2:]] == [{"lr": 1e-4}, {"lr": 1e-2}]
    assert rows[1]["avg_disparity"] == 0
    # a 100x larger ascent step forgets more of the class
    assert rows[3]["ua_pct"] > rows[2]["ua_pct"]


def test_a_diverging_grid_point_is_a_row_and_the_sweep_goes_on(tmp_path):
    """A step so large the weights become non-finite is the grid's result at that point: its row says why, with no
    metrics, and the next point still runs (NegGrad+'s class-wise rate sweep starts where the reference diverges)."""
    out = tmp_path / "sweep.json"
    assert main(["--profile", "smoke", "--scheme", "class", "--method", "grad_ascent", "--grid", "lr=1e30,1e-2",
                 "--device", "cpu", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    rows = d["rows"]
    assert d["meta"]["complete"] and [r["method"] for r in rows] == ["original", "retrain", "grad_ascent", "grad_ascent"]
    assert "non-finite weights" in rows[2]["diverged"] and math.isnan(rows[2]["ua_pct"])
    assert not isinstance(rows[3]["diverged"], str) and rows[3]["avg_disparity"] >= 0


def test_grid_values_are_checked_against_the_method_config():
    assert parse_grid(["lr=1e-3,0.01"], "finetune") == [{"lr": 1e-3}, {"lr": 0.01}]
    with pytest.raises(SystemExit, match="lr takes a number"):
        parse_grid(["lr=fast"], "finetune")
    with pytest.raises(SystemExit, match="unknown parameter"):
        parse_grid(["epochz=3"], "finetune")
    with pytest.raises(SystemExit, match="not a Python literal"):
        parse_grid(["lr=[1,"], "finetune")


def test_validation_view_keeps_test_out_and_holds_half_the_validation_back():
    import numpy as np

    from unlearnlib import load_dataset, make_split, to_device
    from unlearnlib.experiment import validation_view

    ds = load_dataset("digits")
    data = to_device(ds, "cpu")
    split = make_split(ds, "class", 4, 0.2, 0, 600, 200)
    method_split, view, score_split = validation_view(data, split, seed=0)
    held = np.setdiff1d(split.val, method_split.val)
    assert len(method_split.val) + len(held) == len(split.val) and len(held) >= len(split.val) // 2
    assert np.array_equal(method_split.train, split.train) and np.array_equal(method_split.retain, split.retain)
    # the scoring view's test part is the held-out validation samples: no test image is looked at
    assert len(view.x_test) == len(held)
    assert (view.x_test == data.x_train[held]).all()
    # class-wise: the held-out samples of the forgotten class are its test_forget, the rest its test
    labels = view.y_test.numpy()
    assert (labels[score_split.test_forget] == 4).all() and (labels[score_split.test] != 4).all()
    assert len(score_split.test) + len(score_split.test_forget) == len(held)


def test_sweep_scores_on_validation_by_default(tmp_path):
    out = tmp_path / "sweep.json"
    assert main(["--profile", "smoke", "--method", "finetune", "--grid", "epochs=1", "--device", "cpu",
                 "--out", str(out)]) == 0
    meta = json.loads(out.read_text())["meta"]
    assert meta["score"] == "validation" and "validation" in meta["note"]


def test_grid_points_are_jobs_and_an_alpha_grid_of_iu_stays_one():
    from unlearnlib.sweep import plan_jobs

    jobs = plan_jobs([("finetune", [{"lr": 0.1}, {"lr": 0.01}]), ("influence", [{"alpha": 1}, {"alpha": 3}]),
                      ("fisher", [{"alpha": 1e-7}, {"alpha": 1e-6}])],
                     profile="smoke", overrides=(), scheme="random", forget=0.1, seed=0, score="validation",
                     device="cpu", threads=1, start=None)
    assert [(j.method, j.combos) for j in jobs] == [("finetune", ({"lr": 0.1},)), ("finetune", ({"lr": 0.01},)),
                                                    ("influence", ({"alpha": 1}, {"alpha": 3})),
                                                    ("fisher", ({"alpha": 1e-7},)), ("fisher", ({"alpha": 1e-6},))]
    # IU points that differ in more than alpha are separate jobs
    jobs = plan_jobs([("influence", [{"alpha": 1, "form": "current"}, {"alpha": 1, "form": "legacy"}])],
                     profile="smoke", overrides=(), scheme="random", forget=0.1, seed=0, score="validation",
                     device="cpu", threads=1, start=None)
    assert len(jobs) == 2


def test_rows_keep_the_grid_order_when_jobs_finish_out_of_order(tmp_path, monkeypatch):
    """Ray returns jobs as they finish: the JSON, rewritten after each, lists the finished rows in grid order, each with
    its own params (a fake runner finishes the jobs last to first)."""
    import unlearnlib.sweep as S

    out, seen = tmp_path / "sweep.json", []

    def last_first(fn, jobs, address=None, num_cpus=1, num_gpus=0, on_result=None, progress=False):
        results = {}
        for i in reversed(range(len(jobs))):
            results[i] = fn(jobs[i])
            on_result(i, results[i])
            seen.append([(r["method"], r["params"]) for r in json.loads(out.read_text())["rows"]])
        return [results[i] for i in range(len(jobs))]

    monkeypatch.setattr(S, "run_tasks", last_first)
    assert main(["--profile", "smoke", "--method", "grad_ascent", "--grid", "lr=1e-4,1e-2", "--method", "finetune",
                 "--grid", "epochs=1", "--device", "cpu", "--out", str(out)]) == 0
    ga1, ga2, ft = ('{"lr": 0.0001}', '{"lr": 0.01}', '{"epochs": 1}')
    ref = [("original", "{}"), ("retrain", "{}")]
    assert seen == [ref + [("finetune", ft)], ref + [("grad_ascent", ga2), ("finetune", ft)],
                    ref + [("grad_ascent", ga1), ("grad_ascent", ga2), ("finetune", ft)]]
    # the same rows as the in-process run
    monkeypatch.undo()
    assert main(["--profile", "smoke", "--method", "grad_ascent", "--grid", "lr=1e-4,1e-2", "--method", "finetune",
                 "--grid", "epochs=1", "--device", "cpu", "--out", str(tmp_path / "in_order.json")]) == 0
    a, b = (json.loads(p.read_text())["rows"] for p in (out, tmp_path / "in_order.json"))
    assert [(r["method"], r["params"], r["ua_pct"], r["ra_pct"]) for r in a] == \
        [(r["method"], r["params"], r["ua_pct"], r["ra_pct"]) for r in b]


def test_a_cut_sweep_keeps_its_grid_points_when_run_again_on_the_same_start(tmp_path, monkeypatch):
    """The file of a cut run says `complete: false`; the same command again keeps its finished grid points (only the
    rest run) when its original and retrain rows are this run's to the digit, and recomputes everything when they
    differ (another starting model), with --fresh, or after a finished run."""
    import unlearnlib.sweep as S

    out = tmp_path / "sweep.json"
    argv = ["--profile", "smoke", "--method", "grad_ascent", "--grid", "lr=1e-4,1e-2", "--device", "cpu", "--out", str(out)]
    assert main(argv) == 0
    whole = json.loads(out.read_text())
    assert whole["meta"]["complete"] is True
    cut = {"meta": {**whole["meta"], "complete": False}, "rows": whole["rows"][:3]}  # cut after its first point
    out.write_text(json.dumps(cut))
    ran, real = [], S.run_tasks

    def spy(fn, jobs, **kw):
        ran.append([(j.method, j.combos) for j in jobs])
        return real(fn, jobs, **kw)

    monkeypatch.setattr(S, "run_tasks", spy)
    assert main(argv) == 0
    assert ran[-1] == [("grad_ascent", ({"lr": 1e-2},))], "only the point the cut run had not finished"
    again = json.loads(out.read_text())
    assert again["meta"]["complete"] is True and again["meta"]["kept_rows"]["grid_points"] == 1
    key = lambda rows: [(r["method"], r["params"], r["ua_pct"], r["ra_pct"], r["avg_disparity"]) for r in rows]  # noqa: E731
    assert key(again["rows"]) == key(whole["rows"])
    # a finished file, --fresh, or a cut file whose retrain row differs: every point runs
    assert main(argv) == 0 and len(ran[-1]) == 2
    out.write_text(json.dumps(cut))
    assert main([*argv, "--fresh"]) == 0 and len(ran[-1]) == 2
    other = {**cut, "rows": [dict(r, ra_pct=r["ra_pct"] + 0.01) if r["method"] == "retrain" else r for r in cut["rows"]]}
    out.write_text(json.dumps(other))
    kept, said = S.earlier_rows(out, whole["meta"], [r for r in whole["rows"][:2]])
    assert kept == {} and "whose retrain row differs" in said
    kept, said = S.earlier_rows(out, {**whole["meta"], "scheme": "class"}, whole["rows"][:2])
    assert kept == {} and "another setting (scheme)" in said


def test_the_studies_rules_skip_a_cut_sweep(tmp_path):
    """A cut sweep's file (complete: false) is not read by the rules until a rerun completes it."""
    from unlearnlib.papers import dau

    sweeps = tmp_path / "cpu" / "02_sweeps"
    sweeps.mkdir(parents=True)
    for scheme in ("random", "class"):
        rows = [{"method": "retrain", "avg_disparity": 0.0, "params": "{}"},
                {"method": "ssd", "avg_disparity": 2.0, "params": json.dumps({"alpha": 10, "lam": 1})}]
        (sweeps / f"beyond_{scheme}_s0.json").write_text(
            json.dumps({"meta": {"seeds": [0], "scheme": scheme, "complete": scheme == "random"}, "rows": rows}))
    assert dau.beyond_sweep(tmp_path, "cpu") is None
    rows = [{"method": "retrain", "ua_pct": 100.0, "mia_efficacy_pct": 100.0, "ra_pct": 99.0, "ta_pct": 90.0,
             "avg_disparity": 0.0, "params": "{}"},
            {"method": "dau", "ua_pct": 90.0, "mia_efficacy_pct": 95.0, "ra_pct": 98.0, "ta_pct": 89.0,
             "avg_disparity": 4.0, "params": json.dumps({"lr_class": None})}]
    (sweeps / "readings_class_s0.json").write_text(json.dumps({"meta": {"seeds": [0], "complete": False}, "rows": rows}))
    assert dau.readings_study(tmp_path, "cpu") is None
