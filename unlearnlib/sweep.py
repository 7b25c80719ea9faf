"""Hyper-parameter sweeps of an unlearning method against retraining, at a profile's scale.

    python -m unlearnlib.sweep --profile paper --scheme class --method dau \\
        --grid non_saturating=False,True max_grad_norm=None,5 --out sweep.json

The original model (cached) and the retrained reference are trained once; then the method runs
for every combination of the grid, each row evaluated like notebook 02's Table 1 (UA,
MIA-Efficacy, RA, TA, Avg. Disparity against retrain, run time). The JSON file is rewritten
after every row, so an interrupted sweep keeps what it finished. Several --method/--grid pairs
may be given: `--method fisher --grid alpha=1e-7,1e-6 --method influence --grid alpha=1,10`.

A sweep chooses hyper-parameters on the test split's numbers (as Unlearn-Sparse tunes its
baselines); say so wherever a chosen value is reported.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from .data import load_dataset, make_split, to_device
from .evaluation import collect, evaluate, results_table
from .methods import make_config, unlearn, with_seed
from .profiles import get_profile
from .results import describe_run
from .train import prune_and_tune, resolve_device, train_original


def parse_value(text: str):
    """'None' -> None, 'True'/'False' -> bool, numbers -> int/float, else the string."""
    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_grid(items: list[str]) -> list[dict]:
    """['a=1,2', 'b=x'] -> [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]."""
    axes = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--grid {item!r}: expected FIELD=V1,V2,...")
        key, values = item.split("=", 1)
        axes[key] = [parse_value(v) for v in values.split(",")]
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] or [{}]


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
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    grids = args.grid or []
    if len(grids) not in (0, len(args.method)):
        raise SystemExit("give one --grid per --method (or none)")
    grids = grids or [[] for _ in args.method]

    profile = get_profile(args.profile, dataset=args.dataset, model=args.model)
    device = resolve_device(args.device)
    dataset = load_dataset(profile.dataset)
    data = to_device(dataset, device)
    forget = args.forget if args.forget is not None else (0.1 if args.scheme == "random" else 0)
    forget = int(forget) if args.scheme == "class" else forget
    split = make_split(dataset, args.scheme, forget, profile.val_size, args.seed, profile.train_size, profile.test_size)
    train_cfg = replace(profile.train, seed=args.seed)
    start, _ = train_original(profile.model, data, split, train_cfg)
    if args.sparsity > 0:
        tune = replace(profile.train, epochs=max(1, profile.train.epochs // 4))
        start, _ = prune_and_tune(start, data, split, args.sparsity, tune)
    meta = describe_run(device, dataset=profile.dataset, profile=args.profile, model=profile.model, seeds=[args.seed],
                        scheme=args.scheme, sparsity=args.sparsity, note="hyper-parameters chosen on test-split numbers")
    pool = ThreadPoolExecutor(max_workers=4)
    kw = dict(mia_max_per_side=profile.mia_max_per_side, seed=args.seed, executor=pool)
    retrained, t = unlearn("retrain", start, split, data, with_seed(make_config("retrain", train=profile.train), args.seed))
    rows = [evaluate(start, data, split, method="original", **kw),
            evaluate(retrained, data, split, method="retrain", runtime_s=t, **kw)]
    params = [{}, {}]

    def write():
        table = results_table(collect(rows))
        table["params"] = [json.dumps(p, default=str) for p in params]
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": table.to_dict("records")}, f, indent=1, default=str)
        return table

    write()
    for method, grid in zip(args.method, grids):
        base = with_seed(make_config(method), args.seed)  # FT and GA at Unlearn-Sparse's batch 256 (their configs)
        for combo in parse_grid(grid):
            model, seconds = unlearn(method, start, split, data, replace(base, **combo))
            rows.append(evaluate(model, data, split, method=method, runtime_s=seconds, **kw))
            params.append(combo)
            table = write()
            r = table.iloc[-1]
            print(f"{method} {combo}: UA {r.ua_pct:.2f} MIA {r.mia_efficacy_pct:.2f} RA {r.ra_pct:.2f} "
                  f"TA {r.ta_pct:.2f} disparity {r.avg_disparity:.2f} ({seconds:.1f} s)", flush=True)
    print(write()[["method", "params", "ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct", "avg_disparity",
                   "runtime_s"]].round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
