"""scripts/cpu_queue.py: every queued command is valid today (run_all's parameters, the sweep's grids, the files the
studies' rules read), a finished step is skipped until its command changes, and the queue refuses a CPU without
native bf16. Nothing here runs a step."""
import fnmatch
import importlib.util
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def queue():
    spec = importlib.util.spec_from_file_location("cpu_queue", ROOT / "scripts" / "cpu_queue.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["cpu_queue"] = mod  # its dataclass looks its module up
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("cpu_queue", None)


def _pairs(argv, flag):
    """Values following each `flag` (-p takes two)."""
    out = []
    for i, a in enumerate(argv):
        if a == flag:
            out.append(tuple(argv[i + 1:i + 3]) if flag == "-p" else argv[i + 1])
    return out


def test_every_queued_command_is_valid_today(queue):
    import run_all
    from unlearnlib.methods import get_method
    from unlearnlib.papers import notebook_config
    from unlearnlib.papers.dau import BEYOND, BEYOND_SWEEP_GLOB, NEGGRAD_CLASS_GLOB, READINGS_RANDOM_GLOB, SENSITIVITY_GLOB
    from unlearnlib.sweep import parse_grid

    names = [s.name for s in queue.STEPS]
    assert len(names) == len(set(names)), "step names are unique"
    kinds = set()
    for step in queue.STEPS:
        argv = list(step.argv)
        if "run_all.py" in argv:
            kinds.add("run_all")
            only = _pairs(argv, "--only")
            nb = [p for p in run_all.discover() if p.stem.startswith(only[0])]
            assert only in (["02"], ["04"]) and _pairs(argv, "--profile") == ["cpu"]
            resolved = run_all.resolve_parameters(_pairs(argv, "-p"), "cpu", nb)  # raises on a stale name or value
            over = resolved[nb[0].stem]["OVERRIDES"]
            if step.issue == 37:  # Table 1 under today's config; the beyond table of its own, apart
                assert only == ["02"] and list(over["beyond"]) == []
            else:  # issue 40: the five, and only once the sweeps' choices are in the presets
                assert step.waits is not None
                if only == ["02"]:
                    assert list(over.get("beyond", BEYOND)) == list(BEYOND)
                else:  # notebook 04: the papers' methods and the five, the list its cpu preset holds since its run
                    preset = notebook_config(nb[0].stem, "cpu").methods
                    assert list(over["methods"]) == [*queue.NB04, *BEYOND] == list(preset)
        elif "unlearnlib.sweep" in argv:
            kinds.add("sweep")
            methods = _pairs(argv, "--method")
            starts = [i for i, a in enumerate(argv) if a == "--grid"]
            grids = [argv[i + 1:next((j for j in range(i + 1, len(argv)) if argv[j].startswith("--")), len(argv))]
                     for i in starts]
            assert len(methods) == len(grids) > 0
            for m, g in zip(methods, grids):
                get_method(m)
                assert parse_grid(g, m), f"{step.name}: {m}'s grid"  # raises on a field or value the method lacks
            assert step.issue == 37 or all(len(parse_grid(g, m)) > 1 for m, g in zip(methods, grids))
            out = Path(_pairs(argv, "--out")[0])
            assert out.parent == Path(queue.SWEEPS) and step.outputs == (str(out),)
            # the files the studies' rules read
            assert fnmatch.fnmatch(out.name, BEYOND_SWEEP_GLOB if step.issue == 40 else "sensitivity_*_s*.json") or \
                fnmatch.fnmatch(out.name, READINGS_RANDOM_GLOB) or fnmatch.fnmatch(out.name, NEGGRAD_CLASS_GLOB)
            if "class" in out.name and step.issue == 37:
                assert fnmatch.fnmatch(out.name, SENSITIVITY_GLOB)
        else:
            kinds.add("bench")
            assert "unlearnlib.bench_methods" in argv
    assert kinds == {"run_all", "sweep", "bench"}


def test_a_finished_step_is_skipped_until_its_command_changes(queue, tmp_path):
    first, second = queue.STEPS[:2]
    state = {first.name: {"command": queue.command(first)}}
    left = queue.pending(state=state)
    assert first not in left and second in left and len(left) == len(queue.STEPS) - 1
    state[first.name]["command"] = queue.command(first) + " -p X 1"
    assert first in queue.pending(state=state)
    assert queue.command(first).startswith("python run_all.py --profile cpu")


def test_the_queue_refuses_a_cpu_without_native_bf16_and_unknown_steps(queue, monkeypatch, capsys, tmp_path):
    import unlearnlib.results as results

    monkeypatch.setattr(queue, "STATE", tmp_path / "queue.json")
    monkeypatch.setattr(results, "native_cpu_bf16", lambda: False)
    ran = []
    monkeypatch.setattr(queue, "run", lambda step, commit: ran.append(step) or True)
    assert queue.main([]) == 2 and not ran
    assert "no native bf16" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        queue.main(["--only", "no_such_step"])
    assert queue.main(["--only", "bench_random", "--force"]) == 0 and [s.name for s in ran] == ["bench_random"]
    # without --only: every pending step, up to the first that waits (the beyond tables: no sweep is adopted here)
    monkeypatch.setattr(queue, "STEPS", tuple(replace(s, waits=None) for s in queue.STEPS))
    assert queue.main(["--force"]) == 0 and len(ran) == 1 + len(queue.STEPS)
    assert queue.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "bench_random" in listing and "pending" in listing
    (tmp_path / "queue.json").write_text(json.dumps({"bench_random": {
        "command": queue.command(next(s for s in queue.STEPS if s.name == "bench_random")), "finished_utc": "2026-12-05T00:00:00+00:00", "commit": "abcdef0",
        "minutes": 20.0}}))
    assert queue.main(["--list"]) == 0 and "done 2026-12-05" in capsys.readouterr().out
    ran.clear()
    assert queue.main(["--force"]) == 0 and "bench_random" not in [s.name for s in ran], "a done step is skipped"
    assert queue.main(["--only", "bench_random", "--force"]) == 0 and [s.name for s in ran][-1] == "bench_random", \
        "--only runs a step recorded as done"
    monkeypatch.undo()


def test_the_queue_stops_at_a_step_that_waits_and_says_why(queue, monkeypatch, capsys, tmp_path):
    """The beyond tables wait until the sweeps' choices are in the cpu presets (dau.beyond_unadopted): the queue runs
    what comes before them and stops there, naming each method's reason."""
    from unlearnlib.papers import dau

    monkeypatch.setattr(queue, "STATE", tmp_path / "queue.json")
    # NegGrad+'s seeds 1-2 wait on seed 0's sweep files (their own test below): here they run
    monkeypatch.setattr(queue, "STEPS", tuple(replace(s, waits=None) if s.waits is queue._neggrad_low_alive else s
                                              for s in queue.STEPS))
    seen = []
    monkeypatch.setattr(dau, "beyond_unadopted", lambda results, profile, class_wise=True:
                        seen.append((results, profile, class_wise)) or
                        ["salun: the rule chose {'threshold': 0.3}, not in its cpu preset"])
    ran = []
    monkeypatch.setattr(queue, "run", lambda step, commit: ran.append(step.name) or True)
    assert queue.main(["--force"]) == 3
    first = next(i for i, s in enumerate(queue.STEPS) if s.waits is not None)
    assert ran == [s.name for s in queue.STEPS[:first]] and queue.STEPS[first].name == "nb02_beyond_random_s0"
    out = capsys.readouterr().out
    assert "== nb02_beyond_random_s0 waits: salun: the rule chose {'threshold': 0.3}, not in its cpu preset" in out
    assert seen[0] == (queue.ROOT / "results", "cpu", False)  # random forgetting: NegGrad+'s class-wise rate not asked
    assert queue.main(["--only", "nb02_beyond_class_s0", "--force"]) == 3
    assert seen[-1] == (queue.ROOT / "results", "cpu", True)
    assert queue.main(["--only", "nb04_beyond", "--force"]) == 3 and ran[-1] != "nb04_beyond"
    assert seen[-1] == (queue.ROOT / "results", "cpu", False)  # notebook 04 forgets at random: no class-wise rate


def test_a_finished_step_is_recorded_and_committed_and_a_failing_one_stops_the_queue(queue, monkeypatch, tmp_path):
    """run() in a scratch repository: the step's outputs and queue.json are committed with the commit that ran it;
    a failing step records nothing and commits nothing."""
    import subprocess

    repo = tmp_path / "repo"
    (repo / "results" / "cpu").mkdir(parents=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True, text=True).stdout  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    (repo / "README").write_text("x")
    git("add", "README")
    git("commit", "-q", "-m", "start")
    monkeypatch.setattr(queue, "ROOT", repo)
    monkeypatch.setattr(queue, "STATE", repo / "results" / "cpu" / "queue.json")
    out = "results/cpu/02_sweeps/demo.json"
    ok = queue.Step("demo", 40, 1, (sys.executable, "-c", f"import pathlib; p = pathlib.Path({out!r}); "
                                                        "p.parent.mkdir(parents=True); p.write_text('{}')"),
                    (out,), "writes a file")
    bad = queue.Step("bad", 40, 1, (sys.executable, "-c", "raise SystemExit(3)"), ("results/none",), "fails")
    assert queue.run(bad, commit=True) is False and not queue.STATE.exists()
    start = git("rev-parse", "HEAD").strip()
    (repo / "code.py").write_text("x = 1")  # staged meanwhile by someone else: not the queue's to commit
    git("add", "code.py")
    assert queue.run(ok, commit=True) is True
    state = json.loads(queue.STATE.read_text())
    assert state["demo"]["command"] == queue.command(ok) and state["demo"]["minutes"] >= 0
    assert state["demo"]["commit"] == start + "+dirty", "the checkout the step ran in, dirty by code.py"
    assert git("log", "-1", "--format=%s").startswith("cpu queue: demo (issue 40)")
    assert set(git("show", "--name-only", "--format=", "HEAD").split()) == {out, "results/cpu/queue.json"}
    assert git("diff", "--cached", "--name-only").split() == ["code.py"], "still staged, not committed"
    assert queue.pending(steps=(ok, bad)) == [bad]
    env = queue.child_env()  # each step imports, stores and publishes in this checkout, whichever venv runs it
    assert env["UNLEARNLIB_ROOT"] == str(repo) and env["PYTHONPATH"].split(os.pathsep)[0] == str(repo)


def test_neggrads_later_seeds_wait_for_a_rate_that_lives_through_seed_0(queue, tmp_path):
    """Seeds 1 and 2 of NegGrad+'s class-wise rate run only the rule's extension (0.0001, 0.00003), and only once seed 0
    has run it with a point that did not diverge; if every point diverged there, they say so and never run."""
    sweeps = tmp_path / "cpu" / "02_sweeps"
    sweeps.mkdir(parents=True)

    def sweep_file(name, points):
        rows = [{"method": "retrain", "avg_disparity": 0.0, "params": "{}"}]
        rows += [{"method": "neggrad_plus", "params": json.dumps({"lr_class": lr}), "avg_disparity": disp,
                  **({} if disp == disp else {"diverged": "non-finite weights"})} for lr, disp in points]
        (sweeps / name).write_text(json.dumps({"meta": {"seeds": [0], "scheme": "class", "sparsity": 0.0},
                                               "rows": rows}))

    nan = float("nan")
    sweep_file("neggrad_class_s0.json", [(0.003, nan), (0.001, nan), (0.0003, nan)])
    waits = queue._neggrad_low_alive(tmp_path)
    assert len(waits) == 1 and "not run on seed 0 yet" in waits[0]
    sweep_file("neggrad_class_s0_low.json", [(0.0001, nan), (0.00003, nan)])
    waits = queue._neggrad_low_alive(tmp_path)
    assert len(waits) == 1 and "every class-wise rate diverged on seed 0 (0.003, 0.001, 0.0003, 0.0001, 3e-05)" in waits[0]
    sweep_file("neggrad_class_s0_low.json", [(0.0001, nan), (0.00003, 40.0)])
    assert queue._neggrad_low_alive(tmp_path) == []
    later = [s for s in queue.STEPS if s.name in ("neggrad_class_s1", "neggrad_class_s2")]
    assert len(later) == 2 and all(s.waits is queue._neggrad_low_alive for s in later)
    assert all(f"lr_class={queue.NEGGRAD_LOW}" in s.argv for s in later)
