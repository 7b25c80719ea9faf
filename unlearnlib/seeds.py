"""Per-seed rows of a headline table, kept per seed and merged over invocations; mean ± sd over seeds.

A notebook saves each seed's rows of a table under <results>/seeds/<table>/seed<k>.csv with a
sidecar seed<k>.json (the config without its seed fields, its fingerprint, commit, device, time).
run_all copies the seeds/ folder of the published results into a new run's staging folder, so

    python run_all.py --profile cpu --only 02 -p SEEDS '[0]'
    python run_all.py --profile cpu --only 02 -p SEEDS '[1, 2]'

end with one table over seeds 0, 1 and 2: `merged` returns every saved seed whose config matches
this run's (other seed fields aside). A saved seed of a different config is never merged and never
deleted: saving a seed of a new config first moves every seed of another config to
seeds/<table>/other-<fingerprint>/, so seeds/<table>/ holds one config's seeds (what the report reads).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from .results import describe_run

SEED_FIELDS = ("seed", "seeds")


def config_fingerprint(cfg) -> tuple[str, dict]:
    """(fingerprint, dict) of a notebook config without its seed fields: what must match to merge seeds."""
    d = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    d = {k: v for k, v in d.items() if k not in SEED_FIELDS}
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12], json.loads(text)


def save_seed(out: str | Path, table: str, cfg, seed: int, rows: pd.DataFrame, device="cpu") -> Path:
    """Save one seed's rows of `table` (under out/seeds/table/); an earlier file of another config moves aside."""
    folder = Path(out) / "seeds" / table
    folder.mkdir(parents=True, exist_ok=True)
    fp, config = config_fingerprint(cfg)
    csv, side = folder / f"seed{seed}.csv", folder / f"seed{seed}.json"
    for other in folder.glob("seed*.json"):  # every seed of another config moves aside: the folder holds one config
        old = json.loads(other.read_text()).get("fingerprint")
        if old != fp:
            keep = folder / f"other-{old}"
            keep.mkdir(exist_ok=True)
            for f in (other, other.with_suffix(".csv")):
                if f.exists():
                    shutil.move(str(f), str(keep / f.name))
    rows.assign(seed=seed).to_csv(csv, index=False)
    side.write_text(json.dumps({"fingerprint": fp, "seed": seed, "rows": len(rows), **describe_run(device),
                                "config": config}, indent=1, default=str))
    return csv


def merged(out: str | Path, table: str, cfg) -> tuple[pd.DataFrame, list[int], list[str]]:
    """(rows of every saved seed of `table` whose config matches `cfg`, their seeds, files not merged)."""
    folder = Path(out) / "seeds" / table
    fp, _ = config_fingerprint(cfg)
    parts, seeds, skipped = [], [], []
    for side in sorted(folder.glob("seed*.json")) if folder.exists() else []:
        info = json.loads(side.read_text())
        if info.get("fingerprint") != fp:
            skipped.append(f"{side.name} (config {info.get('fingerprint')}, this run {fp})")
            continue
        parts.append(pd.read_csv(side.with_suffix(".csv")))
        seeds.append(int(info["seed"]))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return rows, sorted(seeds), skipped


def mean_sd(rows: pd.DataFrame, by: Sequence[str], cols: Sequence[str], seed_col: str = "seed") -> pd.DataFrame:
    """Per group of `by`: each column's mean, its standard deviation over seeds (`<col>_sd`, ddof 1; NaN for
    one seed) and n_seeds. Group order is the rows' order."""
    g = rows.groupby(list(by), sort=False)
    mean = g[list(cols)].mean()
    sd = g[list(cols)].std(ddof=1).add_suffix("_sd")
    n = g[seed_col].nunique().rename("n_seeds")
    out = pd.concat([mean, sd, n], axis=1).reset_index()
    order = [*by, *[c for col in cols for c in (col, f"{col}_sd")], "n_seeds"]
    return out[order]


def pm(mean: float, sd: float, digits: int = 2) -> str:
    """'m ± s' (just 'm' when sd is NaN: one seed)."""
    if pd.isna(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if pd.isna(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"
