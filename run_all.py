#!/usr/bin/env python
"""Run the numbered notebooks with papermill at a profile; results go to results/<profile>/<notebook>/.

    python run_all.py                      # every notebook, quick profile
    python run_all.py --profile paper      # the papers' scale (a GPU)
    python run_all.py --only 00 02 -p SEED 1
    python run_all.py --only 02 -p SCHEMES '["class"]' -p SEEDS '[0, 1, 2]'
    python run_all.py --profile cpu --only 03 -p SEED 1 -p HEADLINE_ONLY True   # another seed's headline tables
    python run_all.py --profile cpu --only 01 -p SEED 1 -p HEADLINE_ONLY True   # (notebooks 01 and 03)
    python run_all.py --profile cpu --only 03 -p PARTS '["ablation"]'           # one of notebook 03's other parts
    python run_all.py --profile cpu --only 01 --each SEED 1 2 -p HEADLINE_ONLY True   # one invocation per value
    python run_all.py --profile paper --only 02 --ray auto --task-gpus 1 --each SEEDS '[0]' '[1]' '[2]'  # Ray tasks
    python run_all.py --list
    python run_all.py --report             # results/REPRODUCTION.md: each paper's claims, verdict per profile
    python run_all.py --profile smoke --prepare-only build/nbval   # parameterised copies for nbval

`-p NAME VALUE` changes the field `name` of a notebook's config (`unlearnlib.papers`; VALUE a
Python literal) and reaches the notebook through its OVERRIDES parameter; DEVICE is passed as is (a device this
machine lacks, e.g. cuda without a GPU, stops the run before any notebook starts; with --ray the workers decide).
`-p METHOD.FIELD VALUE` (e.g. `-p DAU.ALPHA 0.5`) changes a method's field on top of its profile preset in
every selected notebook that runs that method (notebooks 02 and 04 both run DAU).
Every name and value is checked against the selected notebooks' configs before anything runs: an
unknown name, a value that does not parse or has the wrong type, or `-p PROFILE` disagreeing with
--profile stops the run with a message naming the problem.

Each notebook runs in a staging folder; only when it succeeds does it replace
results/<profile>/<notebook>/ (with the executed notebook, its CSV/PNG and params.json). The notebooks draw their
tables and figures from the row store (results/<profile>/store/), so a run of one seed, scheme or part still
publishes the whole view; the files of the earlier published run of the same config that this run did not write
(the split files of other seeds, tables published before their rows were stored) are kept, and params.json lists
them under "carried".
A failing notebook leaves earlier results untouched, is kept in <notebook>.failed/, and
is reported with its failing cell; the exit status is then non-zero. The kernel's own messages
go to kernel.log in the notebook's results folder.

`--each NAME V1 V2 ...` makes one invocation per value (several: every combination). `--ray ADDRESS` runs the
invocations as Ray tasks that store their rows and publish nothing; each notebook is then published once, by its
first invocation run again here from the caches the tasks filled (`run_on_ray`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
PROFILES = ("smoke", "quick", "cpu", "paper")
RUN_PARAMETERS = ("PROFILE", "DEVICE")  # parameters of every notebook that are not config fields


def discover() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def resolve_parameters(pairs: list[tuple[str, str]], profile: str, notebooks: list[Path]) -> dict[str, dict]:
    """-p NAME VALUE pairs -> per notebook {"OVERRIDES": {field: value}, "DEVICE": ...}, every name and
    value checked against the notebooks' configs. Raises SystemExit with the problem named."""
    from unlearnlib.config import ConfigError, field_types, parse_literal
    from unlearnlib.methods import list_methods
    from unlearnlib.papers import config_class, notebook_config, runs_methods

    run, fields = {}, {}
    given = {}
    for name, text in pairs:
        if name in given:
            # the last value would win silently; one run per value is what --each does
            raise SystemExit(f"-p {name} is given twice ({given[name]} and {text}): give it once, or run one "
                             f"invocation per value with --each {name} {given[name]} {text}")
        given[name] = text
        if not name.isupper():
            raise SystemExit(f"-p {name}: parameters are UPPER_CASE names (e.g. SEEDS, or DAU.ALPHA for a method's field)")
        try:
            value = parse_literal(name, text)
        except ConfigError as exc:
            raise SystemExit(f"-p {name}: {exc}") from None
        if name == "PROFILE":
            if value != profile:
                raise SystemExit(f"-p PROFILE {value!r} disagrees with --profile {profile!r}; use --profile {value}")
            continue
        if name == "RESULTS_DIR":
            raise SystemExit("-p RESULTS_DIR: run_all chooses the results folder; use --results ROOT")
        (run if name in RUN_PARAMETERS else fields)[name] = value
    methods_named = {k.split(".", 1)[0].lower() for k in fields if "." in k}
    for m in sorted(methods_named):
        if m not in list_methods():
            raise SystemExit(f"-p {m.upper()}.<FIELD>: no registered method {m!r}; registered: {list_methods()}")
    per_notebook, used = {}, set()
    for nb in notebooks:
        cls = config_class(nb.stem)
        known = {f.upper() for f in field_types(cls) if f != "profile"} if cls else set()
        mine = {k.lower(): v for k, v in fields.items() if k in known}
        if cls is not None and runs_methods(nb.stem):
            # a method's field (-p DAU.ALPHA 0.5) reaches every selected notebook that runs the method
            try:
                runs = set(notebook_config(nb.stem, profile, mine).runs())
            except ConfigError as exc:
                raise SystemExit(f"-p for {nb.stem}: {exc}") from None
            mine.update({k.lower(): v for k, v in fields.items() if "." in k and k.split(".", 1)[0].lower() in runs})
        if cls is not None:
            try:
                notebook_config(nb.stem, profile, mine)  # builds the config: every check runs now, not mid-run
            except ConfigError as exc:
                raise SystemExit(f"-p for {nb.stem}: {exc}") from None
        used |= {k.upper() for k in mine}
        per_notebook[nb.stem] = {**run, "OVERRIDES": mine}
    unused = sorted(set(fields) - used)
    if unused:
        def accepted(stem):
            cls = config_class(stem)
            names = sorted(f.upper() for f in field_types(cls) if f != "profile") if cls else []
            return [*RUN_PARAMETERS, *names, *(["METHOD.FIELD (e.g. DAU.ALPHA)"] if runs_methods(stem) else [])]

        raise SystemExit(f"-p {', '.join(unused)}: no selected notebook has such a parameter. Accepted: "
                         + "; ".join(f"{nb.stem}: {', '.join(accepted(nb.stem))}" for nb in notebooks)
                         + ". A METHOD.FIELD name reaches the selected notebooks that run that method.")
    return per_notebook


def invocations(pairs: list[tuple[str, str]], each: list[list[str]], profile: str,
                notebooks: list[Path]) -> list[tuple[Path, dict]]:
    """(notebook, parameters) of every invocation a call names: the -p pairs, and one invocation per value of each
    `--each NAME V1 V2 ...` (several --each: every combination), each checked as -p is. A notebook that has none of
    an --each name runs once. In notebook order, then in the order of the values."""
    for e in each:
        if len(e) < 2:
            raise SystemExit(f"--each {' '.join(e)}: give a parameter and at least one value, "
                             "e.g. --each SEED 0 1 2 or --each SCHEMES '[\"class\"]' '[\"random\"]'")
    names = [e[0] for e in each]
    if len(set(names)) < len(names) or set(names) & {n for n, _ in pairs}:
        raise SystemExit(f"--each {', '.join(names)}: each name once, and not also given with -p")
    out, seen = [], set()
    for combo in itertools.product(*[[(e[0], v) for v in e[1:]] for e in each]):
        per = resolve_parameters([*pairs, *combo], profile, notebooks)
        for nb in notebooks:
            key = (nb.stem, json.dumps(per[nb.stem], sort_keys=True, default=str))
            if key not in seen:
                seen.add(key)
                out.append((nb, per[nb.stem]))
    order = {nb.stem: i for i, nb in enumerate(notebooks)}
    return sorted(out, key=lambda job: order[job[0].stem])


def run_on_ray(jobs: list[tuple[Path, dict]], profile: str, results_root: Path, description: dict, address: str,
               task_cpus: float, task_gpus: float) -> list[str]:
    """Run every invocation as a Ray task (`unlearnlib.tasks.run_tasks`), then publish each notebook once.

    The tasks store their rows in the notebook's row store as they go (`store.save_rows` takes a file lock, so
    concurrent seeds and settings merge) and publish nothing: a table computed while another task was still running
    would miss that task's rows. When a notebook's tasks are done, its first invocation runs once more in this
    process, from the caches the tasks filled (a cluster needs UNLEARNLIB_CACHE on storage every node sees, or
    this run recomputes), and publishes under the folder's lock as a plain run does: its tables show every row its
    tasks stored. A failed task's staging folder is kept as <notebook>.failed-<n>. Returns the notebooks that failed."""
    from unlearnlib.store import Busy
    from unlearnlib.tasks import execute_notebook, run_tasks

    prepared = [_job(nb, profile, ov, results_root / profile / nb.stem, tag=f"ray{i}-") for i, (nb, ov) in enumerate(jobs)]
    print(f"{len(jobs)} invocation(s) as Ray tasks ({address}), {task_cpus:g} CPU and {task_gpus:g} GPU each", flush=True)

    def done(i, error):
        nb, ov = jobs[i]
        print(f"  task {i + 1}/{len(jobs)} {nb.stem} {ov.get('OVERRIDES', {})}: {'ok' if not error else 'FAILED ' + error}", flush=True)

    errors = run_tasks(execute_notebook, [job for job, _ in prepared], address=address, num_cpus=task_cpus,
                       num_gpus=task_gpus, on_result=done)
    failures = []
    for stem in dict.fromkeys(nb.stem for nb, _ in jobs):
        mine = [i for i, (nb, _) in enumerate(jobs) if nb.stem == stem]
        for n, i in enumerate(mine):
            staging = prepared[i][1]
            if errors[i]:
                failed = staging.parent.parent / f"{stem}.failed-{n}"
                shutil.rmtree(failed, ignore_errors=True)
                staging.rename(failed)
            else:
                shutil.rmtree(staging, ignore_errors=True)
        if any(errors[i] for i in mine):
            failures.append(stem)
        ok = [i for i in mine if not errors[i]]
        if not ok:
            continue
        nb, ov = jobs[ok[0]]
        print(f"  publishing {stem}: its first invocation once more, from the caches", flush=True)
        try:
            published, detail = run_one(nb, profile, ov, results_root, description)
        except Busy as exc:
            published, detail = False, f"STOPPED: {exc}"
        print(f"    {'ok' if published else 'FAILED'} {detail} -> {results_root / profile / stem}", flush=True)
        if not published and stem not in failures:
            failures.append(stem)
    return failures


def device_of(overrides: dict):
    """The DEVICE an invocation's notebook resolves (`resolve_device`): its -p DEVICE, else "auto"."""
    d = overrides.get("DEVICE")
    return "auto" if d is None or d == "" else d


def emulated_bf16_notice(jobs: list[tuple[Path, dict]], profile: str) -> str | None:
    """A line for the user when this run trains in bf16 on a CPU that has no native bf16 (TrainConfig.cpu_bf16,
    on in the cpu profile): it runs several times slower than it would in float32 (unlearnlib.results.native_cpu_bf16),
    which no notebook's log would say until it is hours in. None otherwise."""
    from unlearnlib.papers import config_class, notebook_config
    from unlearnlib.results import native_cpu_bf16
    from unlearnlib.train import CPU_BF16_EMULATED, resolve_device

    slow = []
    for nb, overrides in jobs:
        if resolve_device(device_of(overrides)).type != "cpu" or config_class(nb.stem) is None:
            continue
        train = getattr(notebook_config(nb.stem, profile, overrides.get("OVERRIDES") or {}), "train", None)
        if getattr(train, "cpu_bf16", False) and nb.stem not in slow:
            slow.append(nb.stem)
    if not slow or native_cpu_bf16():
        return None
    import torch

    return f"note: {', '.join(slow)} (profile {profile}): " + CPU_BF16_EMULATED.format(
        cap=torch.backends.cpu.get_cpu_capability())


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(o) or nb.stem == o for o in only)]
    missing = [o for o in only if not any(nb.name.startswith(o) or nb.stem == o for nb in notebooks)]
    if missing:
        names = ", ".join(nb.stem for nb in notebooks)
        raise SystemExit(f"--only {' '.join(missing)}: no such notebook; available: {names}")
    return chosen


def describe() -> dict:
    """Commit and device, from the library (imported here so --list stays fast)."""
    from unlearnlib.results import describe_run
    from unlearnlib.train import resolve_device

    d = describe_run(resolve_device("auto"))
    return {"git_commit": d["git_commit"], "device": d["device"], "torch": d["torch"]}


def run_one(nb: Path, profile: str, overrides: dict, results_root: Path, description: dict) -> tuple[bool, str]:
    """Run one notebook into its own staging folder; publish it to results/<profile>/<notebook>/ only if it
    succeeds, under the folder's lock (unlearnlib.store.Busy if another run holds it)."""
    from unlearnlib.store import folder_lock

    final = results_root / profile / nb.stem
    with folder_lock(final):
        return _run_locked(nb, profile, overrides, final, description)


def _job(nb: Path, profile: str, overrides: dict, final: Path, tag: str = "") -> tuple["NotebookJob", Path]:
    """The invocation of `nb` with `overrides` as a NotebookJob: a staging folder of its own (a concurrent run
    elsewhere never sees or deletes it), the folder's row store, the environment its kernel must see."""
    from unlearnlib.store import STORE_ENV
    from unlearnlib.tasks import NotebookJob

    staging = final.parent / ".staging" / f"{nb.stem}-{tag}{os.getpid()}-{time.time_ns()}"
    params = {"PROFILE": profile, **overrides, "RESULTS_DIR": portable(staging)}
    env = {k: v for k, v in os.environ.items() if k.startswith(("UNLEARNLIB_", "TQDM_"))}
    env[STORE_ENV] = portable(final.parent / "store" / nb.stem)  # rows land here as they are made
    return NotebookJob(notebook=str(nb), staging=str(staging), params=params, cwd=str(NOTEBOOKS), env=env), staging


def _run_locked(nb: Path, profile: str, overrides: dict, final: Path, description: dict) -> tuple[bool, str]:
    from unlearnlib.store import carry_unwritten, publish
    from unlearnlib.tasks import execute_notebook

    job, staging = _job(nb, profile, overrides, final)
    params = job.params
    failed = final.parent / f"{nb.stem}.failed"
    staging.mkdir(parents=True)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    # per-seed rows go straight to the row store (unlearnlib.store), kept even if the notebook fails later
    error = execute_notebook(job)
    meta = {
        "notebook": nb.name,
        "profile": profile,
        "parameters": {k: v for k, v in params.items() if k != "RESULTS_DIR"},
        **description,
        "start_utc": started.isoformat(timespec="seconds"),
        "end_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "status": "failed: " + error if error else "ok",
    }
    cfg = run_config(nb, profile, overrides)
    if cfg is not None:  # what the view shows: a later partial run carries this one's files only under this config
        from unlearnlib.store import config_fingerprint

        meta["config_fingerprint"], meta["config"] = config_fingerprint(cfg)
    (staging / "params.json").write_text(json.dumps(meta, indent=2, default=str))
    if (staging / nb.name).exists():
        portable_papermill_paths(staging / nb.name, nb, final)
    if error:
        shutil.rmtree(failed, ignore_errors=True)
        staging.rename(failed)
        return False, error
    carried = carry_unwritten(final, staging, cfg)
    if carried:
        meta["carried"] = carried
        (staging / "params.json").write_text(json.dumps(meta, indent=2, default=str))
        print(f"  kept from the earlier run (this run did not write them): {', '.join(carried)}")
    publish(staging, final)
    shutil.rmtree(failed, ignore_errors=True)
    return True, f"{meta['seconds']} s"


def run_config(nb: Path, profile: str, overrides: dict):
    """The config a notebook invocation runs under (its room's, with the invocation's OVERRIDES); None for a notebook
    without a room."""
    from unlearnlib.papers import ROOMS, notebook_config

    if nb.stem not in ROOMS:
        return None
    return notebook_config(nb.stem, profile, overrides.get("OVERRIDES") or {})


def portable(path: Path) -> str:
    """`path` relative to the repository when it lies inside it and the kernel's unlearnlib resolves relative
    results folders against this same repository (`unlearnlib.results.notebook_dir`); else absolute. Committed
    results then name no folder of the machine that ran them."""
    from unlearnlib import paths

    path = Path(path).resolve()
    if paths.repo_root().resolve() == ROOT and path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    return str(path)


def portable_papermill_paths(executed: Path, nb: Path, final: Path) -> None:
    """Papermill records the input and output paths it was given in the executed notebook's metadata: name them
    relative to the repository (the notebook, and the folder it is published to). A warning printed by a library
    names the file it came from: the environment's folder is written `<venv>` (the kernel runs in this process's
    environment, linked or not), so a committed notebook names no folder of the machine that ran it."""
    d = json.loads(without_prefix(executed.read_text()))
    pm_meta = d.get("metadata", {}).get("papermill")
    if isinstance(pm_meta, dict):
        pm_meta["input_path"] = portable(nb)
        pm_meta["output_path"] = str(Path(portable(final)) / nb.name)
    executed.write_text(json.dumps(d, indent=1, ensure_ascii=False) + "\n")


def without_prefix(text: str, prefixes=None) -> str:
    """`text` with each of `prefixes` (default: this environment's sys.prefix, as given and resolved, longest
    first) written `<venv>`."""
    if prefixes is None:
        prefixes = {sys.prefix, os.path.realpath(sys.prefix)}
    for prefix in sorted({str(p).rstrip("/") for p in prefixes if str(p).rstrip("/")}, key=len, reverse=True):
        text = text.replace(prefix + "/", "<venv>/")
    return text


def prepare(notebooks: list[Path], profile: str, overrides: dict[str, dict], out: Path) -> None:
    """Write parameterised, unexecuted copies (for pytest --nbval-lax), results under out/results."""
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        params = {"PROFILE": profile, **overrides[nb.stem], "RESULTS_DIR": str((out / "results" / nb.stem).resolve())}
        pm.execute_notebook(str(nb), str(out / nb.name), parameters=params, prepare_only=True,
                            kernel_name="python3", progress_bar=False)
        print(f"prepared {out / nb.name}")


# progress bars in a batch run: at most one frame every 30 s (tqdm reads TQDM_* defaults from the environment, which
# the kernel inherits), so an executed notebook keeps its tables and messages, not thousands of bar frames
BATCH_ENV = {"TQDM_MININTERVAL": "30"}


def execute(args, jobs: list[tuple[Path, dict]], results_root: Path, description: dict) -> list[str]:
    """Run the invocations (here, one after another, or as Ray tasks); the notebooks that failed or stopped."""
    from unlearnlib.store import Busy

    if args.ray:
        failures = run_on_ray(jobs, args.profile, results_root, description, args.ray, args.task_cpus, args.task_gpus)
    else:  # (Ray's workers are other machines: their CPUs and GPUs are theirs to report)
        from unlearnlib.train import resolve_device

        for device in dict.fromkeys(device_of(o) for _, o in jobs):
            try:
                resolved = resolve_device(device)  # a device this machine lacks stops the run here, not in a cell
            except ValueError as exc:
                raise SystemExit(f"-p DEVICE: {exc}") from None
            if args.profile == "paper" and resolved.type == "cpu" and device == "auto":
                raise SystemExit("--profile paper is sized for a GPU (the papers' models and schedules; the times in "
                                 "results/paper/ are an H100's or H200's) and torch sees none here: on CPU cores it "
                                 "would run many times longer. Run it where torch sees a GPU, or on a cluster with --ray; "
                                 "--profile cpu is the papers' data at a size for CPU cores; or pass -p DEVICE cpu to "
                                 "run the paper profile on this CPU anyway")
        notice = emulated_bf16_notice(jobs, args.profile)
        if notice:
            print(notice, file=sys.stderr, flush=True)
        failures = []
        for i, (nb, overrides) in enumerate(jobs, 1):
            shown = {k: v for k, v in overrides.items() if v}
            print(f"[{i}/{len(jobs)}] {nb.stem} (profile {args.profile}{', ' + str(shown) if shown else ''})", flush=True)
            try:
                ok, detail = run_one(nb, args.profile, overrides, results_root, description)
            except Busy as exc:
                print(f"    STOPPED: {exc}", file=sys.stderr, flush=True)
                failures.append(nb.stem)
                continue
            where = results_root / args.profile / (nb.stem if ok else f"{nb.stem}.failed")
            print(f"    {'ok' if ok else 'FAILED'} {detail} -> {where}", flush=True)
            if not ok:
                failures.append(nb.stem)
    return failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or names to run")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a notebook parameter (VALUE as a Python literal)")
    ap.add_argument("--list", action="store_true", help="list the notebooks and exit")
    ap.add_argument("--prepare-only", metavar="DIR", help="write parameterised copies to DIR without running")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root (default results/)")
    ap.add_argument("--each", nargs="+", action="append", default=[], metavar="NAME VALUE",
                    help="NAME V1 V2 ...: one invocation per value (VALUE as for -p; several --each: every combination)")
    ap.add_argument("--ray", metavar="ADDRESS", help="run the invocations as Ray tasks: 'local' (a local instance), "
                    "'auto' or a cluster's address (pip install -e .[ray]); each notebook is published once at the end")
    ap.add_argument("--task-cpus", type=float, default=1.0, help="CPUs Ray reserves for each invocation (default 1)")
    ap.add_argument("--task-gpus", type=float, default=0.0, help="GPUs Ray reserves for each invocation (default 0; "
                    "a notebook on cuda needs more than 0, a fraction shares one)")
    ap.add_argument("--report", action="store_true", help="write <results>/REPRODUCTION.md (every claim, per profile, "
                    "from the results) and <results>/<profile>/README.md, then exit; runs no notebook")
    args = ap.parse_args(argv)
    if args.report:
        from unlearnlib.report import write

        for path in write(Path(args.results)):
            print(f"wrote {path}")
        return 0

    for k, v in BATCH_ENV.items():
        os.environ.setdefault(k, v)
    notebooks = select(discover(), args.only)
    if args.list:
        for nb in notebooks:
            print(nb.stem)
        return 0
    if not notebooks:
        print(f"no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 2
    if args.prepare_only:
        if args.each or args.ray:
            raise SystemExit("--prepare-only writes one copy per notebook: drop --each and --ray")
        prepare(notebooks, args.profile, resolve_parameters(args.param, args.profile, notebooks), Path(args.prepare_only))
        return 0
    jobs = invocations(args.param, args.each, args.profile, notebooks)
    results_root = Path(args.results).resolve()
    description = describe()  # the commit at the start: later notebooks rewrite tracked results
    from unlearnlib.tasks import environment

    # the kernels' and tasks' tables say the same commit (a caller's own value kept); unset again afterwards, so a
    # later run in this process (run_all.main called from Python) reads its own
    with environment({"UNLEARNLIB_GIT_COMMIT": os.environ.get("UNLEARNLIB_GIT_COMMIT", description["git_commit"])}):
        failures = execute(args, jobs, results_root, description)
    if failures:
        print(f"{len(failures)} notebook(s) failed or stopped: {', '.join(failures)}; earlier results were kept",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
