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

A config's row fields (`ROW_FIELDS`; notebook 02: schemes and sparsities) choose which rows a run makes, so
they are not part of the fingerprint: one seed may be run in parts,

    python run_all.py --profile cpu --only 02 -p SEEDS '[0]' -p SPARSITIES '[0.0]'
    python run_all.py --profile cpu --only 02 -p SEEDS '[0]' -p SPARSITIES '[0.95]'

and seed0.csv then holds both parts' rows (its sidecar lists the parts, each with its commit and time).
A config's table fields (`TABLE_FIELDS`; notebooks 01 and 03: headline_only, notebook 03: parts) choose which tables a run makes and are left
out of the fingerprint too, so seed 1's headline-only rows merge with seed 0's full run.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .results import describe_run

SEED_FIELDS = ("seed", "seeds")


def row_fields(cfg) -> dict[str, str]:
    """A config's row fields (`ROW_FIELDS`: config field -> the table column it fills, e.g. notebook 02's schemes ->
    scheme, sparsities -> sparsity): fields that choose which rows a run produces, not what a row holds. They are left
    out of the fingerprint, so `-p SPARSITIES '[0.95]'` adds seed 0's sparse rows to the dense rows of an earlier
    invocation."""
    return dict(getattr(cfg, "ROW_FIELDS", {}) or {})


def _skipped(cfg) -> set[str]:
    """Fields left out of the fingerprint besides the seed fields: row fields and table fields (`TABLE_FIELDS`: fields
    that choose which tables a run makes, e.g. notebook 03's headline_only and parts)."""
    return set(row_fields(cfg)) | set(getattr(cfg, "TABLE_FIELDS", ()) or ())


def _fingerprint(config: dict, skip) -> str:
    d = {k: v for k, v in config.items() if k not in SEED_FIELDS and k not in skip}
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_fingerprint(cfg) -> tuple[str, dict]:
    """(fingerprint, dict) of a notebook config without its seed, row and table fields (`_skipped`): what must match
    to merge seeds. The dict keeps the row fields."""
    d = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    if callable(getattr(cfg, "method_configs", None)):
        # a config that runs registered methods: each method's resolved config (defaults, preset, overrides) is what
        # must match, not the overrides that led to it
        d = {k: v for k, v in d.items() if k not in ("profile", "method_overrides")}
        d["method_configs"] = {name: asdict(c) for name, c in cfg.method_configs()}
    config = json.loads(json.dumps({k: v for k, v in d.items() if k not in SEED_FIELDS}, sort_keys=True, default=str))
    return _fingerprint(config, _skipped(cfg)), config


def _stored_fingerprint(info: dict, cfg) -> str | None:
    """A sidecar's fingerprint as this code computes it (from its stored config: files written before row fields
    existed hashed them in), else the one it stored."""
    return _fingerprint(info["config"], _skipped(cfg)) if isinstance(info.get("config"), dict) else info.get("fingerprint")


def _keys(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One string per row from its row-field columns (numbers as floats: 0 and 0.0, read back from CSV, match)."""
    def text(v):
        return f"{float(v):.6g}" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v)

    return df[cols].apply(lambda c: c.map(text)).agg("|".join, axis=1) if cols else pd.Series("", index=df.index)


def save_seed(out: str | Path, table: str, cfg, seed: int, rows: pd.DataFrame, device="cpu") -> Path:
    """Save one seed's rows of `table` (under out/seeds/table/seed<seed>.csv).

    Seeds of another config move aside to other-<fingerprint>/ (the folder holds one config). With row fields
    (`row_fields`), an earlier file of the same seed and config keeps its rows of other row values (another
    sparsity or scheme) and this run's rows replace those of the same values. Rows replaced are never lost: the file
    as it was goes to replaced/seed<seed>-<time>.csv (and .json) first."""
    folder = Path(out) / "seeds" / table
    folder.mkdir(parents=True, exist_ok=True)
    fp, config = config_fingerprint(cfg)
    fields = row_fields(cfg)
    csv, side = folder / f"seed{seed}.csv", folder / f"seed{seed}.json"
    for other in folder.glob("seed*.json"):  # every seed of another config moves aside: the folder holds one config
        info = json.loads(other.read_text())
        if _stored_fingerprint(info, cfg) != fp:
            keep = folder / f"other-{info.get('fingerprint')}"
            keep.mkdir(exist_ok=True)
            for f in (other, other.with_suffix(".csv")):
                if f.exists():
                    shutil.move(str(f), str(keep / f.name))
    run = describe_run(device)
    new, parts = rows.assign(seed=seed), []
    if csv.exists() and side.exists():
        info = json.loads(side.read_text())
        old = pd.read_csv(csv)
        cols = [c for c in fields.values() if c in old and c in new]
        kept = old[~_keys(old, cols).isin(set(_keys(new, cols)))] if fields and cols else old.iloc[:0]
        if len(kept) < len(old):
            backup = folder / "replaced"
            backup.mkdir(exist_ok=True)
            stamp = str(info.get("time_utc", "unknown")).replace(":", "").replace("+", "_")
            shutil.copy2(csv, backup / f"seed{seed}-{stamp}.csv")
            shutil.copy2(side, backup / f"seed{seed}-{stamp}.json")
        if len(kept):
            new = pd.concat([kept, new], ignore_index=True)
            parts = info.get("parts") or [{k: info.get(k) for k in ("git_commit", "device", "time_utc")}
                                          | {f: info["config"].get(f) for f in fields}]
            for f, col in fields.items():  # the config's row fields: every value the merged file covers
                config[f] = list(dict.fromkeys([*info["config"].get(f, []), *config.get(f, [])]))
    parts = [*parts, {k: run.get(k) for k in ("git_commit", "device", "time_utc")} | {f: list(getattr(cfg, f)) for f in fields}]
    new.to_csv(csv, index=False)
    side.write_text(json.dumps({"fingerprint": fp, "seed": seed, "rows": len(new), **run, "config": config,
                                **({"parts": parts} if fields else {})}, indent=1, default=str))
    return csv


def merged(out: str | Path, table: str, cfg) -> tuple[pd.DataFrame, list[int], list[str]]:
    """(rows of every saved seed of `table` whose config matches `cfg`, their seeds, files not merged)."""
    folder = Path(out) / "seeds" / table
    fp, _ = config_fingerprint(cfg)
    parts, seeds, skipped = [], [], []
    for side in sorted(folder.glob("seed*.json")) if folder.exists() else []:
        info = json.loads(side.read_text())
        if _stored_fingerprint(info, cfg) != fp:
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
