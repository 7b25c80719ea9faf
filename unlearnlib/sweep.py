"""Hyper-parameter sweeps of an unlearning method against retraining, at a profile's scale.

    python -m unlearnlib.sweep --profile paper --scheme class --method dau \\
        --grid non_saturating=False,True max_grad_norm=None,5 --out sweep.json

The original model (cached) and the retrained reference are trained once; then the method runs
for every combination of the grid, each row evaluated like notebook 02's Table 1 (UA,
MIA-Efficacy, RA, TA, Avg. Disparity against retrain, run time). The JSON file is rewritten
after every row, so an interrupted sweep keeps what it finished. Several --method/--grid pairs
may be given: `--method fisher --grid alpha=1e-7,1e-6 --method influence --grid alpha=1,10`.

Scoring (--score): "validation" (the default) never looks at the test set: the validation set is halved,
the methods see one half (DAU's non-members) and the other plays the test set for TA and the SVC
attack (`experiment.validation_view`); "test" scores on the test split, as Unlearn-Sparse tunes its
baselines (the sweeps committed before this option existed did so; their JSON says which).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import replace

from .config import ConfigError, apply_overrides, parse_literal
from .data import load_dataset, to_device
from .evaluation import collect, results_table
from .experiment import forget_request, run_setting, setting_split, validation_view
from .methods import get_method, make_config
from .methods.influence import reuse_direction
from .profiles import setting
from .results import describe_run
from .originals import train_original
from .train import resolve_device


def parse_grid(items: list[str], method: str | None = None) -> list[dict]:
    """['a=1,2', 'b=x'] -> [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}], each value through the one override
    parser (`config.parse_literal`) and, given `method`, checked against its config's field types."""
    axes = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--grid {item!r}: expected FIELD=V1,V2,...")
        key, values = item.split("=", 1)
        try:
            axes[key] = [parse_literal(key, v) for v in values.split(",")]
        except ConfigError as exc:
            raise SystemExit(f"--grid {item!r}: {exc}") from None
    combos = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] or [{}]
    if method is not None:
        base = make_config(method)
        try:
            combos = [{k: getattr(apply_overrides(base, c), k) for k in c} for c in combos]
        except ConfigError as exc:
            raise SystemExit(f"--method {method} --grid: {exc}") from None
    return combos


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
    ap.add_argument("--out", required=True)
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
    data = to_device(dataset, device)
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
    meta = describe_run(device, dataset=s.dataset, profile=args.profile, model=s.model, seeds=[args.seed],
                        scheme=args.scheme, sparsity=args.sparsity, score=args.score, note=note)
    pool = ThreadPoolExecutor(max_workers=4)
    tune = replace(s.train, epochs=max(1, s.train.epochs // 4))
    # the reference: original and retrain, through the pipeline (retrain cached)
    ref = run_setting(original, data, split, args.sparsity, [("retrain", make_config("retrain", train=s.train))],
                      tune_cfg=tune, seed=args.seed, mia_max_per_side=s.mia_max_per_side, executor=pool, score=score, log=None)
    rows, params = list(ref.rows), [{}, {}]

    def write():
        table = results_table(collect(rows))
        table["params"] = [json.dumps(p, default=str) for p in params]
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": table.to_dict("records")}, f, indent=1, default=str)
        return table

    write()
    for method, combos in plans:
        # IU's update is linear in alpha: F^{-1} v once per plan, each alpha scales it (run times after the first
        # row of a plan exclude F^{-1} v; the JSON's meta says so)
        reuse = method == "influence" and len({json.dumps({k: v for k, v in c.items() if k != "alpha"}, default=str)
                                               for c in combos}) < len(combos)
        if reuse:
            meta["influence_runtime"] = ("F^{-1} v computed once per plan and scaled by each alpha (the update is linear "
                                         "in alpha): runtime_s of the plan's first influence row is IU's; later rows "
                                         "exclude F^{-1} v")
        with reuse_direction() if reuse else nullcontext():
            for combo in combos:  # FT and GA at Unlearn-Sparse's batch 256 (their configs' defaults)
                run = run_setting(ref.start, data, split, 0.0, [(method, make_config(method, **combo))], tune_cfg=tune,
                                  seed=args.seed, mia_max_per_side=s.mia_max_per_side, executor=pool, score=score, log=None)
                rows.append(run.rows[1])
                params.append(combo)
                table = write()
                r = table.iloc[-1]
                print(f"{method} {combo}: UA {r.ua_pct:.2f} MIA {r.mia_efficacy_pct:.2f} RA {r.ra_pct:.2f} "
                      f"TA {r.ta_pct:.2f} disparity {r.avg_disparity:.2f} ({run.seconds[method]:.1f} s)", flush=True)
    print(write()[["method", "params", "ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct", "avg_disparity",
                   "runtime_s"]].round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
