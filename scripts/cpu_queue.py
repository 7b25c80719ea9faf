"""The cpu-profile runs the open issues wait on, in order, resumable, each committed as it lands.

    python scripts/cpu_queue.py --list                 # the steps, their estimated minutes, which are done
    nohup python -u scripts/cpu_queue.py --commit > queue.log 2>&1 &     # run what is pending, in order
    python scripts/cpu_queue.py --only sens_class_s0 --commit            # one step (names from --list)

Each step is one command of results/cpu/NOTES.md or results/cpu/02_sweeps/README.md, run alone on the cores (never
beside another heavy job: the cpu profile's run times are results). A finished step is recorded in
results/cpu/queue.json with the commit that ran it, the device, its minutes and its command; a step whose command
changed since it was recorded counts as pending again. The queue stops at the first step that fails (its log is
the output; what the step stored before failing stays: run_all's rows, the sweeps' rewritten JSON).

--commit commits each finished step's result paths and queue.json (those paths only), so a session that ends
mid-queue loses at most the step under way. Run it in a clone of its own (`git clone /work/main /work/queue`), so
code edited meanwhile does not change what runs, then `git pull /work/queue main` where the work goes on: the queue
and every step import, store and publish in the checkout the script is in (UNLEARNLIB_ROOT, PYTHONPATH), whichever
virtual environment runs it.

It refuses to start on a CPU without native bf16 (the cpu profile trains in bf16: emulated, about 50x slower on an
AVX2-only core, `unlearnlib.results.native_cpu_bf16`) unless --force; a step's rows record the device either way,
and the row store never shows rows of two device classes side by side.

What the steps leave to a person: adopting a sweep's choice into a method's cpu preset (the rules:
`unlearnlib.papers.dau.readings_study` and `beyond_sweep`), regenerating the report, and the README's notes
(notebook 02's cpu EXTRA_FOLDERS entry went once `dau_publish` had run, 2026-12-06). A step that needs such a choice
waits for it: the beyond tables (`nb02_beyond_*_s*`, `nb04_beyond`) run only once `dau.beyond_unadopted` is empty,
i.e. the beyond sweeps cover three seeds and every point their rule chose is in the cpu presets (the class-wise steps
also wait for NegGrad+'s class-wise rate, `dau.neggrad_class_rate`); until then the queue stops there (exit 3) and
names each method's reason.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "results" / "cpu" / "queue.json"
SWEEPS = "results/cpu/02_sweeps"
NB02 = ["results/cpu/store", "results/cpu/02_discriminative_adversarial_unlearning"]
PY = sys.executable


@dataclass(frozen=True)
class Step:
    name: str
    issue: int
    minutes: int  # estimated, on the documented CPU (2 cores of an AMD EPYC with avx512_bf16), in the queue's order
    argv: tuple[str, ...]
    outputs: tuple[str, ...]  # paths (relative to the repository) a finished step commits
    why: str
    # what the step waits for: given the results folder, the reasons it cannot run yet (empty: it can); the queue
    # stops at a waiting step and says why, so that it never runs on a config a person has still to settle
    waits: Callable[[Path], list[str]] | None = None


def _nb02(*params: str) -> tuple[str, ...]:
    return (PY, "run_all.py", "--profile", "cpu", "--only", "02", "-p", "BEYOND", "[]", *params)


def _sweep(scheme: str, seed: int, out: str, *method_grids: str) -> tuple[str, ...]:
    return (PY, "-u", "-m", "unlearnlib.sweep", "--profile", "cpu", "--scheme", scheme, "--seed", str(seed),
            *method_grids, "--out", f"{SWEEPS}/{out}")


NEGGRAD_LOW = "0.0001,0.00003"  # the rule's extension of NegGrad+'s class-wise grid, by the same factor


def _neggrad_low_alive(results: Path) -> list[str]:
    """Seeds 1 and 2 of NegGrad+'s class-wise rate wait until a point of the extension has lived through seed 0 (a
    point that diverges on any seed is out: if all did, NegGrad+ diverges class-wise at cpu and nothing is left)."""
    from unlearnlib.papers.dau import neggrad_class_rate

    t = neggrad_class_rate(results, "cpu")
    low = [float(v) for v in NEGGRAD_LOW.split(",")]
    if t is None or not t.lr_class.isin(low).any():
        return ["the extension's points have not run on seed 0 yet (neggrad_class_s0_low)"]
    alive = t[t.lr_class.isin(low) & (t.diverged_on.map(len) == 0)]
    return [] if len(alive) else [f"every class-wise rate diverged on seed 0 ({', '.join(f'{v:g}' for v in t.lr_class)}): "
                                  "under the rule NegGrad+ diverges class-wise at cpu, nothing is left to sweep"]


def _beyond_adopted(results: Path) -> list[str]:
    from unlearnlib.papers.dau import beyond_unadopted

    return beyond_unadopted(results, "cpu")


def _beyond_adopted_random(results: Path) -> list[str]:
    """The same for a table of random forgetting alone (notebook 04's): NegGrad+'s class-wise rate does not act there."""
    from unlearnlib.papers.dau import beyond_unadopted

    return beyond_unadopted(results, "cpu", class_wise=False)


NB04 = ("retrain", "finetune", "grad_ascent", "fisher", "influence", "random_label", "amnesiac", "dau")  # the papers' methods

BEYOND_GRIDS = ("--method", "l1_sparse", "--grid", "alpha=1e-5,1e-4,5e-4",
                "--method", "salun", "--grid", "threshold=0.3,0.5,0.7", "lr=0.005,0.013",
                "--method", "scrub", "--grid", "max_steps=0,1,2",
                "--method", "ssd", "--grid", "alpha=1,3,10", "lam=0.5,1")


def _bench(scheme: str, *args: str) -> tuple[str, ...]:
    """The per-method benchmark at cpu, seed 2, with further arguments (`--methods ...`: those alone, a file of their
    own, results/bench/methods_cpu_cpu[_class]_<methods>.json; `--sparsity 0.95`)."""
    return (PY, "-u", "-m", "unlearnlib.bench_methods", "--profile", "cpu", "--seed", "2", "--scheme", scheme, *args)


def _beyond_sweeps() -> tuple[Step, ...]:
    """Issue 40's sweeps, per seed both schemes (about 65 minutes each on the Xeon of sessions 16-19: a retrain, then
    18 grid points of about 3.3 minutes); after seed 0's two, SCRUB's grid again where it ran under the small-scale
    loaders before they left the cpu profile (2026-12-06, unlearnlib/methods/scrub.py; that file keeps its old rows
    under meta.superseded_rows), and SSD's class-wise grid again where its whole-data importance read the retain set in
    file order (2026-12-06, unlearnlib/methods/ssd.py, `class_order`; beyond_class_s0.json keeps those rows likewise)."""
    steps = []
    for s in (0, 1, 2):
        for scheme in ("random", "class"):
            steps.append(Step(f"beyond_{scheme}_s{s}", 40, 65,
                              _sweep(scheme, s, f"beyond_{scheme}_s{s}.json", *BEYOND_GRIDS),
                              (f"{SWEEPS}/beyond_{scheme}_s{s}.json",),
                              f"l1-sparse, SalUn, SCRUB and SSD over their grids, {scheme} forgetting, seed {s} "
                              "(rule: beyond_sweep)"))
        if s == 0:
            steps.append(Step("beyond_random_s0_scrub", 40, 12,
                              _sweep("random", 0, "beyond_random_s0_scrub.json", "--method", "scrub", "--grid",
                                     "max_steps=0,1,2"),
                              (f"{SWEEPS}/beyond_random_s0_scrub.json",),
                              "SCRUB's max_steps grid under its authors' large-scale loaders, random forgetting, "
                              "seed 0 (rule: beyond_sweep)"))
            steps.append(Step("beyond_class_s0_ssd", 40, 12,
                              _sweep("class", 0, "beyond_class_s0_ssd.json", "--method", "ssd", "--grid",
                                     "alpha=1,3,10", "lam=0.5,1"),
                              (f"{SWEEPS}/beyond_class_s0_ssd.json",),
                              "SSD's grid with I_D read class by class as its reference reads it, class-wise, "
                              "seed 0 (rule: beyond_sweep)"))
            # issue 39's benchmark rows of the two methods changed since it ran, beside those files (same seed)
            steps.append(Step("bench_scrub_random", 39, 6, _bench("random", "--methods", "scrub"), ("results/bench",),
                              "SCRUB under its large-scale loaders in the per-method benchmark, random forgetting, "
                              "seed 2 (methods_cpu_cpu.json's row predates them)"))
            steps.append(Step("bench_ssd_class", 39, 6, _bench("class", "--methods", "ssd"), ("results/bench",),
                              "SSD with I_D read class by class in the per-method benchmark, class-wise, seed 2 "
                              "(methods_cpu_cpu_class.json's row predates it)"))
    return tuple(steps)


STEPS: tuple[Step, ...] = (
    # issue 37: notebook 02's view under today's config (results/cpu/NOTES.md, "Rows keyed per method")
    Step("dau_class_s1", 37, 40, _nb02("-p", "SCHEMES", '["class"]', "-p", "SEEDS", "[1]",
                                       "-p", "METHODS", '["retrain", "fisher", "influence", "dau"]'), tuple(NB02),
         "class-wise seed 1: FF and IU (their bf16 passes), DAU (lr_class 0.005), retrain for Table 2's ablation"),
    Step("dau_random_ff_iu", 37, 70, _nb02("-p", "SCHEMES", '["random"]', "-p", "SEEDS", "[0, 1, 2]",
                                           "-p", "METHODS", '["fisher", "influence"]'), tuple(NB02),
         "random forgetting, 3 seeds, dense and sparse: FF and IU under their bf16 passes"),
    Step("dau_publish", 37, 3, _nb02("-p", "SEEDS", "[]"), tuple(NB02),
         "computes nothing: publishes notebook 02's composed view (3 seeds, both schemes, today's config)"),
    # issue 37, reading 3: the sensitivity token (results/cpu/02_sweeps/README.md, "DAU's sensitivity token")
    *(Step(f"sens_{scheme}_s{s}", 37, 15,
           _sweep(scheme, s, f"sensitivity_{scheme}_s{s}.json", "--method", "dau", "--grid",
                  "sensitivity=difference,derivative"),
           (f"{SWEEPS}/sensitivity_{scheme}_s{s}.json",),
           f"DAU's token as the finite difference or its derivative, {scheme} forgetting, seed {s}")
      # class-wise only: the study's rule checks random forgetting for a reading that helps class-wise, and the
      # derivative did not (seeds 0-2, d -0.08 +- 0.60 against its standard error 0.35; 2026-12-06, the sweeps README)
      for scheme in ("class",) for s in (0, 1, 2)),
    # issue 37, the study's ranked table: each reading's effect on random forgetting (its Avg. Disparity, mean +- sd),
    # for the readings that act there (class_off, class_nonmembers and lr_class act class-wise only); the rule adopts
    # nothing from these: they complete the table (results/cpu/02_sweeps/README.md, "Seeds 0-2: the rule applied")
    *(Step(f"readings_random_s{s}", 37, 25,
           _sweep("random", s, f"readings_random_s{s}.json", "--method", "dau", "--grid", "detach_sensitivity=False,True",
                  "--method", "dau", "--grid", "attacker_steps=3", "--method", "dau", "--grid", "pretrain_iters=500",
                  "pretrain_stop=0.9", "--method", "dau", "--grid", "sensitivity=derivative"),
           (f"{SWEEPS}/readings_random_s{s}.json",),
           f"the readings that act on random forgetting, from the cpu preset, seed {s} (the study's ranked table)")
      for s in (0, 1, 2)),
    # issue 39: the per-method benchmark in random forgetting (class-wise: results/bench/methods_cpu_cpu_class.json)
    Step("bench_random", 39, 25, _bench("random"), ("results/bench",),
         "every method's time by phase beside fit's images/s, random forgetting, seed 2"),
    # issue 40: the 2023-2024 baselines' open values (results/cpu/02_sweeps/README.md, "The 2023-2024 baselines")
    *_beyond_sweeps(),
    # issue 40: NegGrad+'s class-wise rate, where the reference's 0.01 diverges at cpu (results/cpu/02_sweeps/README.md,
    # "NegGrad+'s class-wise rate": the grid and the rule written before any run; rule: dau.neggrad_class_rate). Seed
    # 0's three points all diverged (2026-12-07), so the rule's extension runs on seed 0, and seeds 1 and 2 run only
    # the extension's points (a point that diverged on one seed is out), once one of them has lived through seed 0.
    Step("neggrad_class_s0", 40, 40, _sweep("class", 0, "neggrad_class_s0.json", "--method", "neggrad_plus", "--grid",
                                            "lr_class=0.003,0.001,0.0003"),
         (f"{SWEEPS}/neggrad_class_s0.json",),
         "NegGrad+'s class-wise rate over its grid, seed 0 (an original and a retrain of its own, then 3 points)"),
    Step("neggrad_class_s0_low", 40, 8, _sweep("class", 0, "neggrad_class_s0_low.json", "--method", "neggrad_plus",
                                               "--grid", f"lr_class={NEGGRAD_LOW}"),
         (f"{SWEEPS}/neggrad_class_s0_low.json",),
         "the rule's extension of NegGrad+'s class-wise grid, seed 0 (its original and retrain cached)"),
    *(Step(f"neggrad_class_s{s}", 40, 30, _sweep("class", s, f"neggrad_class_s{s}.json", "--method", "neggrad_plus",
                                                 "--grid", f"lr_class={NEGGRAD_LOW}"),
           (f"{SWEEPS}/neggrad_class_s{s}.json",),
           f"NegGrad+'s class-wise rate at the extension's points, seed {s} (an original and a retrain of its own)",
           _neggrad_low_alive)
      for s in (1, 2)),
    # issue 39: the sparse models, not yet benchmarked (runs while the steps below wait for the adoption)
    Step("bench_random_sparse", 39, 75, _bench("random", "--sparsity", "0.95"), ("results/bench",),
         "every method's time by phase on the 95 % sparse original, random forgetting, seed 2"),
    # issue 40, once a person has adopted the sweeps' choices into the cpu presets (`beyond_unadopted` is empty):
    # notebook 02's beyond-the-paper table per seed, with METHODS retrain alone, so that Table 1's other methods are not
    # run again (their seed-0 runs are not in this machine's cache: a run with every method recomputed Table 1, 2026-12-06)
    # and the beyond table's rows (keyed by retrain and the five) land under the full config's fingerprint; then one
    # run of no seeds publishes the whole view from the store; then notebook 04 at cpu with the five beside its methods
    # (its shadows' unlearned models are cached per method)
    # one step per seed and scheme (about 50 minutes each from an empty cache: an original, its pruned copy, two
    # retrains, the five twice), so that a step fits a session whose cache starts empty; the store keeps another
    # scheme's rows of the same seed (store.save_rows). Random forgetting does not wait for NegGrad+'s class-wise rate.
    *(Step(f"nb02_beyond_{scheme}_s{s}", 40, 50,
           (PY, "run_all.py", "--profile", "cpu", "--only", "02", "-p", "SEEDS", f"[{s}]",
            "-p", "SCHEMES", json.dumps([scheme]), "-p", "METHODS", '["retrain"]'),
           # only the store is committed: the folder this run publishes shows Table 1 with retrain alone, until
           # nb02_beyond_publish (a cut run leaves it changed here: `git checkout results/cpu/02_*` before a restart)
           ("results/cpu/store",), f"notebook 02's beyond-the-paper table at cpu, seed {s}, {scheme} forgetting: the "
                                   "five 2023-2024 baselines beside retrain (the reference), dense and 95 % sparse",
           _beyond_adopted if scheme == "class" else _beyond_adopted_random)
      for s in (0, 1, 2) for scheme in ("random", "class")),
    Step("nb02_beyond_publish", 40, 3, (PY, "run_all.py", "--profile", "cpu", "--only", "02", "-p", "SEEDS", "[]"),
         tuple(NB02), "notebook 02's cpu view published from the store: Table 1 as it was, the beyond table's three seeds",
         _beyond_adopted),
    Step("nb04_beyond", 40, 60, (PY, "run_all.py", "--profile", "cpu", "--only", "04",
                                 "-p", "METHODS", json.dumps([*NB04, "neggrad_plus", "scrub", "l1_sparse", "salun", "ssd"])),
         ("results/cpu/04_careful_evaluation",),
         "notebook 04 at cpu with the five 2023-2024 baselines beside the papers' methods", _beyond_adopted_random),
)


def command(step: Step) -> str:
    """The step's command as recorded (the interpreter as `python`)."""
    return shlex.join(["python", *step.argv[1:]])


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def pending(steps=None, state: dict | None = None) -> list[Step]:
    """The steps (default: STEPS) not recorded as finished with their present command."""
    steps, state = STEPS if steps is None else steps, load_state() if state is None else state
    return [s for s in steps if state.get(s.name, {}).get("command") != command(s)]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def child_env() -> dict:
    """A step's environment: this checkout's code and results (UNLEARNLIB_ROOT, PYTHONPATH), whichever virtual
    environment runs the queue (a clone using another checkout's venv, whose editable install points there)."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONUNBUFFERED": "1", "UNLEARNLIB_ROOT": str(ROOT), "PYTHONPATH": path}


def run(step: Step, commit: bool) -> bool:
    from unlearnlib.results import describe_device, git_commit

    head = git_commit(ROOT)  # this checkout's, whichever checkout the imported unlearnlib sits in
    print(f"== {step.name} (issue {step.issue}, about {step.minutes} min): {step.why}\n   {command(step)}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(step.argv, cwd=ROOT, env=child_env()).returncode
    minutes = round((time.perf_counter() - t0) / 60, 1)
    if rc != 0:
        print(f"== {step.name} failed (exit {rc}) after {minutes} min: the queue stops here", flush=True)
        return False
    state = load_state()
    state[step.name] = {"command": command(step), "issue": step.issue, "commit": head,
                        "device": describe_device("cpu"), "minutes": minutes,
                        "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(dict(sorted(state.items())), indent=1) + "\n")
    print(f"== {step.name} done in {minutes} min", flush=True)
    if commit:
        paths = [p for p in step.outputs if (ROOT / p).exists()] + [str(STATE.relative_to(ROOT))]
        _git("add", "--", *paths)
        if _git("diff", "--cached", "--name-only", "--", *paths):  # only these paths: whatever else is staged stays
            _git("commit", "-q", "-m", f"cpu queue: {step.name} (issue {step.issue}), {minutes} min on "
                                       f"{describe_device('cpu')}, computed at {head}", "--", *paths)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true", help="the steps, and which are done")
    ap.add_argument("--only", nargs="+", metavar="STEP",
                    help="these steps only, in the queue's order, also when queue.json records them as done")
    ap.add_argument("--commit", action="store_true", help="commit each finished step's results and queue.json")
    ap.add_argument("--force", action="store_true", help="run on a CPU without native bf16 (about 50x slower)")
    a = ap.parse_args(argv)
    names = {s.name for s in STEPS}
    unknown = sorted(set(a.only or ()) - names)
    if unknown:
        ap.error(f"unknown step(s) {unknown}; the steps: {[s.name for s in STEPS]}")
    # --only names steps to run, done or not; without it, what is pending
    todo = [s for s in STEPS if s.name in a.only] if a.only else pending()
    if a.list:
        state, left = load_state(), {s.name for s in pending()}
        width = max(len(s.name) for s in STEPS)
        for s in STEPS:
            done = state.get(s.name) if s.name not in left else None
            mark = f"done {done['finished_utc']} at {done['commit'][:7]}, {done['minutes']} min" if done else "pending"
            print(f"{s.name:{width}} issue {s.issue}  ~{s.minutes:3} min  {mark}\n    {s.why}")
        print(f"pending: {len(left)} steps, about {sum(s.minutes for s in STEPS if s.name in left)} min")
        return 0
    import unlearnlib
    from unlearnlib.results import describe_device, native_cpu_bf16

    if not Path(unlearnlib.__file__).resolve().is_relative_to(ROOT):
        print(f"unlearnlib imports from {Path(unlearnlib.__file__).parent}, not this checkout ({ROOT})",
              file=sys.stderr)
        return 2
    if not native_cpu_bf16() and not a.force:
        print(f"this CPU has no native bf16 ({describe_device('cpu')}): the cpu profile's bf16 training runs about "
              "50x slower here (small_cnn: 16 images/s on an AVX2-only EPYC, about 900 on the documented CPU) and its "
              "run times would not be the profile's. Run the queue on a CPU with native bf16 "
              "(avx512_bf16 or AMX), or pass --force.", file=sys.stderr)
        return 2
    if a.commit and _git("status", "--porcelain", "--", "results"):
        print("results/ has uncommitted changes (a failed step's stored rows, say: each records its commit and device): "
              "commit or drop them first, so that --commit commits only what the queue computes", file=sys.stderr)
        return 2
    for step in todo:
        reasons = step.waits(ROOT / "results") if step.waits is not None else []
        if reasons:
            print(f"== {step.name} waits: {'; '.join(reasons)}. The queue stops here: settle that (results/cpu/"
                  "02_sweeps/README.md says how), then start it again", flush=True)
            return 3
        if not run(step, a.commit):
            return 1
    print("queue: nothing pending" if not todo else f"queue: {len(todo)} steps done", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this checkout's unlearnlib, whichever venv runs the script
    sys.exit(main())
