"""Hyper-parameter sweeps of an unlearning method against retraining, at a profile's scale.

    python -m unlearnlib.sweep --profile paper --scheme class --method dau \\
        --grid non_saturating=False,True max_grad_norm=None,5 --out sweep.json

The original model (cached) and the retrained reference are trained once; then the method runs
for every combination of the grid (each on top of the method's preset at the profile, as the notebooks run it), each row evaluated like notebook 02's Table 1 (UA,
MIA-Efficacy, RA, TA, Avg. Disparity against retrain, run time). The JSON file is rewritten
after every row, so an interrupted sweep keeps what it finished (its meta says `"complete": false`), and the same
command run again keeps those grid points where its original and retrain rows come out the same to the digit
(`earlier_rows`; `--fresh` recomputes them), and runs the rest. Grid points are independent jobs
(`SweepJob`): in this process one after another, or as Ray tasks on a cluster with `--ray ADDRESS`
(or RAY_ADDRESS; "local" starts a local instance; `pip install -e .[ray]`), the rows the same
either way; an IU alpha grid stays one job, so F^{-1}v is computed once (below). Several --method/--grid pairs
may be given: `--method fisher --grid alpha=1e-7,1e-6 --method influence --grid alpha=1,10`. A grid point whose
weights diverge (the method's non-finite check) is a row of its own, its metrics empty and `diverged` saying why;
the other points run on.

Scoring (--score): "validation" (the default) never looks at the test set: the validation set is halved,
the methods see one half (DAU's non-members) and the other plays the test set for TA and the SVC
attack (`experiment.validation_view`); "test" scores on the test split, as Unlearn-Sparse tunes its
baselines (the sweeps committed before this option existed did so; their JSON says which).
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .config import ConfigError, apply_overrides, parse_literal, split_assignments
from .data import device_data, load_dataset
from .evaluation import collect, results_table
from .experiment import forget_request, run_setting, setting_split, tune_config, validation_view
from .methods import get_method, make_config, preset_config
from .methods.influence import reuse_direction
from .setting import setting
from .results import describe_run
from .originals import train_original
from .tasks import ray_address, run_tasks
from .train import resolve_device


def parse_grid(items: list[str], method: str | None = None) -> list[dict]:
    """['a=1,2', 'b=x'] -> [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}], each value through the one override
    parser (`config.parse_literal`) and, given `method`, checked against its config's field types."""
    try:
        fields = split_assignments(items, "--grid", "FIELD=V1,V2,...")
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    axes = {}
    for key, values in fields.items():
        try:
            axes[key] = [parse_literal(key, v) for v in values.split(",")]
        except ConfigError as exc:
            raise SystemExit(f"--grid '{key}={values}': {exc}") from None
    combos = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] or [{}]
    if method is not None:
        base = make_config(method)
        try:
            combos = [{k: getattr(apply_overrides(base, c), k) for k in c} for c in combos]
        except ConfigError as exc:
            raise SystemExit(f"--method {method} --grid: {exc}") from None
    return combos


@dataclass(frozen=True)
class SweepJob:
    """Grid points of one method, run on the sweep's starting model (the original, or its pruned and tuned copy) and
    scored like the reference rows. Everything else (data, split, scoring view) is rebuilt from these fields by
    whichever process runs it, so a Ray worker computes the rows this process would."""

    profile: str
    overrides: tuple[tuple[str, str], ...]  # the setting's dataset / model when given on the command line
    scheme: str
    forget: Any  # forget_request's value
    seed: int
    score: str  # validation | test
    device: str
    threads: int  # torch threads inside the job, wherever it runs (numerics depend on it)
    method: str
    combos: tuple[dict, ...]  # several only for an IU alpha grid (F^{-1} v shared)
    start: Any = field(repr=False, compare=False)  # nn.Module, on the CPU


def run_sweep_job(job: SweepJob) -> list[dict]:
    """The evaluated rows of a job's grid points, in order (plain dicts; safe to run as a Ray task)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        s = setting(job.profile, **dict(job.overrides))
        dataset = load_dataset(s.dataset)
        data = device_data(s.dataset, job.device)
        split = setting_split(dataset, s, job.scheme, job.forget, job.seed)
        score = None
        if job.score == "validation":
            split, score_data, score_split = validation_view(data, split, job.seed)
            score = (score_data, score_split)
        start = job.start.to(data.device)
        rows = []
        with ThreadPoolExecutor(max_workers=4) as pool, (reuse_direction() if len(job.combos) > 1 else nullcontext()):
            for combo in job.combos:  # each grid point on top of the method's preset at this profile
                cfg = preset_config(job.method, job.profile, train=s.train, overrides=combo)
                # a point whose weights diverge is the grid's result there, not its end
                run = run_setting(start, data, split, 0.0, [(job.method, cfg)], seed=job.seed, diverged="row",
                                  mia_max_per_side=s.mia_max_per_side, executor=pool, score=score, log=None)
                rows.append(collect(run.rows[1:])[0])
        return rows
    finally:
        torch.set_num_threads(threads)


def plan_jobs(plans: list[tuple[str, list[dict]]], **fields_) -> list[SweepJob]:
    """One job per grid point, except an IU grid over alpha alone: one job, as the update is linear in alpha
    (`methods.influence.reuse_direction`: F^{-1} v once, run times of its later rows exclude it)."""
    jobs = []
    for method, combos in plans:
        shared = len({json.dumps({k: v for k, v in c.items() if k != "alpha"}, default=str) for c in combos}) < len(combos)
        groups = [combos] if method == "influence" and shared else [[c] for c in combos]
        jobs += [SweepJob(method=method, combos=tuple(g), **fields_) for g in groups]
    return jobs


# what must match for a cut run's rows to stand in a new run of the same --out: the setting, and (checked apart) the
# reference rows, original and retrain, to the digit: the same starting model and reference
SETTING_KEYS = ("dataset", "profile", "model", "seeds", "scheme", "sparsity", "score")
REFERENCE_METRICS = ("ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct")


def earlier_rows(path, meta: dict, ref_rows: list[dict]) -> tuple[dict[tuple[str, str], dict], str]:
    """The grid points an earlier run of this sweep left in `path` (cut before its end: `meta["complete"]` False) that
    this run keeps, {(method, params JSON): row}, and a line saying what was kept or why nothing was. Nothing unless the
    file's setting (SETTING_KEYS) is this run's and its original and retrain rows are this run's to the digit
    (REFERENCE_METRICS): another CPU type trains another original from the same seed (results/cpu/NOTES.md), and its
    points would not stand beside this run's."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        return {}, ""
    try:
        old = json.loads(path.read_text())
        old_meta, rows = old["meta"], old["rows"]
    except (ValueError, KeyError, TypeError):
        return {}, f"{path.name}: not a sweep file this run can read; it is rewritten"
    if old_meta.get("complete", True):
        return {}, ""  # a finished run (or one from before the flag): a new run replaces it, as before
    differs = [k for k in SETTING_KEYS if old_meta.get(k) != meta.get(k)]
    if differs:
        return {}, f"{path.name}: an earlier cut run of another setting ({', '.join(differs)}); nothing kept"
    old_ref = {r["method"]: r for r in rows if r["method"] in ("original", "retrain") and r.get("params") == "{}"}
    for r in ref_rows:
        o = old_ref.get(r["method"])
        if o is None or any(o.get(m) != r.get(m) for m in REFERENCE_METRICS):
            return {}, (f"{path.name}: an earlier cut run (commit {str(old_meta.get('git_commit'))[:7]}, "
                        f"{old_meta.get('device')}) whose {r['method']} row differs from this run's (another starting "
                        "model or reference); nothing kept")
    kept = {(r["method"], r["params"]): {k: v for k, v in r.items() if k not in ("params", "avg_disparity")}
            for r in rows if r["method"] not in ("original", "retrain")}
    return kept, (f"{path.name}: kept {len(kept)} grid point(s) of an earlier cut run (commit "
                  f"{str(old_meta.get('git_commit'))[:7]}, {old_meta.get('device')}, {old_meta.get('time_utc')}): "
                  "the same setting, original and retrain")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--scheme", default="random", choices=["random", "class"])
    ap.add_argument("--forget", type=float, default=None, help="fraction (random) or class id (class); default 0.1 / 0")
    ap.add_argument("--sparsity", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", action="append", required=True)
    ap.add_argument("--grid", action="append", nargs="*", default=None, metavar="FIELD=V1,V2")
    ap.add_argument("--score", default="validation", choices=["validation", "test"],
                    help="what the rows are scored on (default: a held-out half of the validation set)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ray", default=None, metavar="ADDRESS",
                    help="run the grid points as Ray tasks (an address, 'auto' or 'local'; default: RAY_ADDRESS, else "
                         "in this process)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per grid point (and CPUs Ray reserves for each); default: this process's")
    ap.add_argument("--out", required=True)
    ap.add_argument("--fresh", action="store_true",
                    help="recompute every grid point, also those an earlier cut run of this sweep left in --out")
    args = ap.parse_args(argv)
    grids = args.grid or []
    if len(grids) not in (0, len(args.method)):
        raise SystemExit("give one --grid per --method (or none)")
    grids = grids or [[] for _ in args.method]
    for m in args.method:
        try:
            get_method(m)
        except ValueError as exc:
            raise SystemExit(f"--method: {exc}") from None
    plans = [(m, parse_grid(g, m)) for m, g in zip(args.method, grids)]

    try:
        s = setting(args.profile, **{k: v for k, v in (("dataset", args.dataset), ("model", args.model)) if v})
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    device = resolve_device(args.device)
    dataset = load_dataset(s.dataset)
    data = device_data(s.dataset, str(device))
    forget = args.forget if args.forget is not None else (0.1 if args.scheme == "random" else 0)
    forget = forget_request(args.scheme, forget, int(forget))
    split = setting_split(dataset, s, args.scheme, forget, args.seed)
    original, _ = train_original(s.model, data, split, replace(s.train, seed=args.seed))
    if args.score == "validation":
        split, score_data, score_split = validation_view(data, split, args.seed)
        score = (score_data, score_split)
        note = "scored on a held-out half of the validation set (ta_pct = its accuracy; SVC non-members = it)"
    else:
        score, note = None, "scored on the test split"
    where = ray_address(args.ray)
    threads = torch.get_num_threads() if args.threads is None else args.threads
    if threads < 1:
        raise SystemExit(f"--threads must be at least 1, got {threads}")
    meta = describe_run(device, dataset=s.dataset, profile=args.profile, model=s.model, seeds=[args.seed],
                        scheme=args.scheme, sparsity=args.sparsity, score=args.score, note=note,
                        method_configs="each grid point on top of the method's preset at this profile (unlearnlib/methods)",
                        runner=f"Ray at {where}" if where else "in-process")
    pool = ThreadPoolExecutor(max_workers=4)
    tune = tune_config(s.train)
    # the reference: original and retrain, through the pipeline (retrain cached)
    ref = run_setting(original, data, split, args.sparsity, [("retrain", preset_config("retrain", args.profile, train=s.train))],
                      tune_cfg=tune, seed=args.seed, mia_max_per_side=s.mia_max_per_side, executor=pool, score=score, log=None)
    jobs = plan_jobs(plans, profile=args.profile, overrides=tuple((k, v) for k, v in (("dataset", args.dataset),
                                                                                       ("model", args.model)) if v),
                     scheme=args.scheme, forget=forget, seed=args.seed, score=args.score,
                     # a Ray worker sees only the GPU it was given, as cuda:0
                     device=device.type if where else str(device), threads=threads,
                     # each job carries the starting model: on Ray a CPU copy (pickled per job: a ResNet-18 is 45 MB)
                     start=copy.deepcopy(ref.start).cpu() if where else ref.start)
    if any(j.method == "influence" and len(j.combos) > 1 for j in jobs):
        meta["influence_runtime"] = ("F^{-1} v computed once per plan and scaled by each alpha (the update is linear "
                                     "in alpha): runtime_s of the plan's first influence row is IU's; later rows "
                                     "exclude F^{-1} v")
    ref_rows, done = collect(ref.rows), {}
    meta["complete"] = False  # until the last grid point: a cut run's file says so, and a rerun keeps its points
    kept, said = ({}, "") if args.fresh else earlier_rows(args.out, meta, ref_rows)
    if said:
        print(said, flush=True)
    for i, job in enumerate(jobs):
        rows = [kept.get((job.method, json.dumps(c, default=str))) for c in job.combos]
        if all(r is not None for r in rows):
            done[i] = rows
    if done:
        meta["kept_rows"] = {"grid_points": sum(len(done[i]) for i in done), "note": said}
    todo = [i for i in range(len(jobs)) if i not in done]

    def write():
        finished = [(r, c) for i in sorted(done) for r, c in zip(done[i], jobs[i].combos)]
        table = results_table(ref_rows + [r for r, _ in finished])
        table["params"] = [json.dumps(p, default=str) for p in [{}, {}] + [c for _, c in finished]]
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": table.to_dict("records")}, f, indent=1, default=str)
        return table

    def arrived(i, rows):
        done[i] = rows
        table = write()
        first = len(ref_rows) + sum(len(done[k]) for k in done if k < i)  # this job's rows in the table
        for k, combo in enumerate(jobs[i].combos):
            r = table.iloc[first + k]
            if isinstance(r.get("diverged"), str):
                print(f"{r.method} {combo}: diverged ({r.diverged})", flush=True)
                continue
            print(f"{r.method} {combo}: UA {r.ua_pct:.2f} MIA {r.mia_efficacy_pct:.2f} RA {r.ra_pct:.2f} "
                  f"TA {r.ta_pct:.2f} disparity {r.avg_disparity:.2f} ({r.runtime_s:.1f} s)", flush=True)

    write()
    run_tasks(run_sweep_job, [jobs[i] for i in todo], address=args.ray, num_cpus=threads,
              num_gpus=1 if device.type == "cuda" else 0, on_result=lambda k, rows: arrived(todo[k], rows))
    meta["complete"] = True
    print(write()[["method", "params", "ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct", "avg_disparity",
                   "runtime_s"]].round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
