"""The per-method benchmark (issue 39): phases are timed exclusively, and every method gets a row."""

from unlearnlib.bench_methods import PHASES, PhaseTimer, bench_methods


def test_phase_timer_charges_nested_time_to_the_inner_phase_unless_absorbing():
    """On a fake clock (a timed test would depend on the machine's load): each nap advances it exactly."""
    now = [0.0]
    t = PhaseTimer(clock=lambda: now[0])

    def nap(s):
        now[0] += s

    backward = t.wrap("backward", nap)
    tokens = t.wrap("tokens", lambda: (nap(0.02), backward(0.03)))
    forward = t.wrap("forward", lambda: (nap(0.02), backward(0.03)))
    t.enter("other")
    nap(0.01)  # 0.01 other
    forward()  # 0.02 forward, 0.03 backward
    tokens()  # absorbing: all 0.05 stays with tokens
    t.exit()
    got = {k: round(v, 9) for k, v in t.totals.items()}
    assert got == {"other": 0.01, "forward": 0.02, "backward": 0.03, "tokens": 0.05}


def test_bench_methods_times_every_method_by_phase(tmp_path):
    r = bench_methods("smoke", ["retrain", "finetune", "fisher", "dau"], evaluate_rows=False)
    rows = {m["method"]: m for m in r["methods"]}
    assert list(rows) == ["retrain", "finetune", "fisher", "dau"] and rows["retrain"]["share_of_retrain_pct"] == 100
    for m in rows.values():
        assert set(m["phases_s"]) == set(PHASES)
        assert sum(m["phases_s"].values()) <= m["seconds"] * 1.05 + 0.01  # the phases split the method's own time
    assert rows["fisher"]["phases_s"]["curvature"] > 0 and rows["dau"]["phases_s"]["tokens"] > 0
    assert rows["dau"]["phases_s"]["attacker"] > 0 and rows["finetune"]["images_forwarded"] > 0
    assert r["fit_images_per_s"] == rows["retrain"]["images_per_s"]


def test_a_cut_benchmark_keeps_the_methods_it_timed(tmp_path, monkeypatch):
    """The JSON is written after every method, marked incomplete until the last: a run stopped by a time limit after
    two methods leaves their rows (here the third method stops it)."""
    import json

    import pytest

    from unlearnlib import bench_methods as bm

    real = bm.PhaseTimer.measure
    count = {"n": 0}

    def measure(self, types):
        count["n"] += 1
        if count["n"] == 3:
            raise KeyboardInterrupt  # what `timeout` does to the run, in effect
        return real(self, types)

    monkeypatch.setattr(bm.PhaseTimer, "measure", measure)
    with pytest.raises(KeyboardInterrupt):
        bm.main(["--profile", "smoke", "--methods", "retrain", "grad_ascent", "finetune", "--no-evaluate",
                 "--out", str(tmp_path)])
    # a run of some methods writes a file of its own: a run of every method (methods_smoke_cpu.json) stays whole
    got = json.loads((tmp_path / "methods_smoke_cpu_retrain-grad_ascent-finetune.json").read_text())
    assert got["complete"] is False and [m["method"] for m in got["methods"]] == ["retrain", "grad_ascent"]
    assert got["methods"][1]["share_of_retrain_pct"] > 0
