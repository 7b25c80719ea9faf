#!/usr/bin/env python
"""Run the numbered notebooks with papermill at a profile; results go to results/<profile>/<notebook>/.

    python run_all.py                      # every notebook, quick profile
    python run_all.py --profile paper      # the papers' scale (a GPU)
    python run_all.py --only 00 02 -p SEED 1
    python run_all.py --list
    python run_all.py --profile smoke --prepare-only build/nbval   # parameterised copies for nbval

Each notebook runs in a staging folder; only when it succeeds does it replace
results/<profile>/<notebook>/ (with the executed notebook, its CSV/PNG and params.json).
A failing notebook leaves earlier results untouched, is kept in <notebook>.failed/, and
is reported with its failing cell; the exit status is then non-zero.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
PROFILES = ("smoke", "quick", "paper")


def discover() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def parse_value(text: str):
    """A Python literal if it parses as one (1, 0.5, None, [1, 2], 'x'), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(o) or nb.stem == o for o in only)]
    missing = [o for o in only if not any(nb.name.startswith(o) or nb.stem == o for nb in notebooks)]
    if missing:
        names = ", ".join(nb.stem for nb in notebooks)
        raise SystemExit(f"--only {' '.join(missing)}: no such notebook; available: {names}")
    return chosen


def _describe() -> dict:
    """Commit and device, from the library (imported here so --list stays fast)."""
    from unlearnlib.results import describe_run
    from unlearnlib.train import resolve_device

    d = describe_run(resolve_device("auto"))
    return {"git_commit": d["git_commit"], "device": d["device"], "torch": d["torch"]}


def run_one(nb: Path, profile: str, overrides: dict, results_root: Path) -> tuple[bool, str]:
    import papermill as pm

    final = results_root / profile / nb.stem
    staging = results_root / profile / ".staging" / nb.stem
    failed = results_root / profile / f"{nb.stem}.failed"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    params = {"PROFILE": profile, **overrides, "RESULTS_DIR": str(staging)}
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    error = ""
    try:
        pm.execute_notebook(str(nb), str(staging / nb.name), parameters=params, cwd=str(NOTEBOOKS),
                            progress_bar=True, kernel_name="python3")
    except pm.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - a kernel or papermill failure is reported, not raised
        error = f"{type(exc).__name__}: {exc}"
    meta = {
        "notebook": nb.name,
        "profile": profile,
        "parameters": {k: v for k, v in params.items() if k != "RESULTS_DIR"},
        **_describe(),
        "start_utc": started.isoformat(timespec="seconds"),
        "end_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "status": "failed: " + error if error else "ok",
    }
    (staging / "params.json").write_text(json.dumps(meta, indent=2, default=str))
    if error:
        shutil.rmtree(failed, ignore_errors=True)
        staging.rename(failed)
        return False, error
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(failed, ignore_errors=True)
    return True, f"{meta['seconds']} s"


def prepare(notebooks: list[Path], profile: str, overrides: dict, out: Path) -> None:
    """Write parameterised, unexecuted copies (for pytest --nbval-lax), results under out/results."""
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        params = {"PROFILE": profile, **overrides, "RESULTS_DIR": str((out / "results" / nb.stem).resolve())}
        pm.execute_notebook(str(nb), str(out / nb.name), parameters=params, prepare_only=True,
                            kernel_name="python3", progress_bar=False)
        print(f"prepared {out / nb.name}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or names to run")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a notebook parameter (VALUE as a Python literal)")
    ap.add_argument("--list", action="store_true", help="list the notebooks and exit")
    ap.add_argument("--prepare-only", metavar="DIR", help="write parameterised copies to DIR without running")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root (default results/)")
    args = ap.parse_args(argv)

    notebooks = select(discover(), args.only)
    if args.list:
        for nb in notebooks:
            print(nb.stem)
        return 0
    if not notebooks:
        print(f"no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 2
    overrides = {name: parse_value(value) for name, value in args.param}
    bad = [k for k in overrides if not k.isupper()]
    if bad:
        raise SystemExit(f"parameters are UPPER_CASE names (e.g. SEED); got {bad}")
    if args.prepare_only:
        prepare(notebooks, args.profile, overrides, Path(args.prepare_only))
        return 0
    results_root = Path(args.results).resolve()
    failures = []
    for i, nb in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {nb.stem} (profile {args.profile})", flush=True)
        ok, detail = run_one(nb, args.profile, overrides, results_root)
        where = results_root / args.profile / (nb.stem if ok else f"{nb.stem}.failed")
        print(f"    {'ok' if ok else 'FAILED'} {detail} -> {where}", flush=True)
        if not ok:
            failures.append(nb.stem)
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(failures)}; earlier results were kept",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
