"""One-off: move the per-seed rows of committed results folders (<folder>/seeds/<table>/seed<N>.csv + .json, with
other-<fingerprint>/ and replaced/ beside them) into the row store (unlearnlib.store), and leave each folder an index
(rows.json) of the rows its tables show. Run from the repository root:

    python scripts/migrate_seeds_to_store.py results/quick results/cpu results/paper

Per folder and table, the sidecars are grouped by config fingerprint as the present code computes it from their
stored config. Each group becomes <profile>/store/<notebook>/<table>/<fingerprint>.csv: the seeds' rows in seed
order, each row with the commit, device and time of the sidecar (or of the part of a seed run in parts whose
row-field values it holds), and <fingerprint>.json with the config. Files under replaced/ go to
<fingerprint>.replaced.csv. Two folders of one notebook with the same config (the paper profile's class-wise and
random runs kept under variant names) share one rows file: their keys differ by the scheme. A key present in both is
an error, never resolved silently. The folder's seeds/ is removed once its rows are written.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from unlearnlib.papers import config_class
from unlearnlib.store import INDEX, _fingerprint, _keys, _skipped, _write_csv, row_fields

PROVENANCE = {"git_commit": "_commit", "device": "_device", "time_utc": "_time_utc"}


def notebook_of(folder: Path) -> str:
    nbs = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    return nbs[0].stem if nbs else folder.name


def fingerprint(info: dict, cls) -> str:
    return _fingerprint(info["config"], _skipped(cls)) if isinstance(info.get("config"), dict) else info["fingerprint"]


def with_provenance(rows: pd.DataFrame, info: dict, cls) -> pd.DataFrame:
    """Each row's commit, device and time: its part's (a seed run in parts lists them per row-field values), else
    the sidecar's."""
    rows = rows.copy()
    for k, col in PROVENANCE.items():
        rows[col] = info.get(k)
    fields = row_fields(cls)
    for part in info.get("parts") or []:
        hit = pd.Series(True, index=rows.index)
        for f, col in fields.items():
            values = part.get(f)
            if col in rows and isinstance(values, list):
                hit &= _keys(rows, [col]).isin(set(_keys(pd.DataFrame({col: values}), [col])))
        for k, col in PROVENANCE.items():
            rows.loc[hit, col] = part.get(k)
    return rows


def migrate(folder: Path) -> list[str]:
    notebook = notebook_of(folder)
    cls = config_class(notebook)
    store = folder.parent / "store" / notebook
    index = json.loads((folder / INDEX).read_text()) if (folder / INDEX).exists() else {}
    done = []
    for tdir in sorted(p for p in (folder / "seeds").iterdir() if p.is_dir()):
        table = tdir.name
        groups: dict[str, list[tuple[dict, pd.DataFrame]]] = {}
        for side in sorted(tdir.glob("seed*.json")) + sorted(tdir.glob("other-*/seed*.json")):
            info = json.loads(side.read_text())
            groups.setdefault(fingerprint(info, cls), []).append((info, pd.read_csv(side.with_suffix(".csv"))))
        top = {fingerprint(json.loads(s.read_text()), cls) for s in tdir.glob("seed*.json")}
        if len(top) > 1:
            raise SystemExit(f"{tdir}: seeds of {len(top)} configs at the top; expected one")
        out = store / table
        out.mkdir(parents=True, exist_ok=True)
        for fp, entries in groups.items():
            entries.sort(key=lambda e: int(e[0]["seed"]))
            rows = pd.concat([with_provenance(df.assign(seed=int(info["seed"])) if "seed" not in df else df, info, cls)
                              for info, df in entries], ignore_index=True)
            path = out / f"{fp}.csv"
            if path.exists():
                old = pd.read_csv(path)
                cols = ["seed", *[c for c in row_fields(cls).values() if c in rows and c in old]]
                clash = set(_keys(old, cols)) & set(_keys(rows, cols))
                if clash:
                    raise SystemExit(f"{tdir}: rows of keys {sorted(clash)} are stored already in {path}")
                rows = pd.concat([old, rows], ignore_index=True)
                rows = pd.concat([rows[rows.seed == s] for s in sorted(rows.seed.unique())], ignore_index=True)
            _write_csv(rows, path)
            config = entries[-1][0]["config"]
            if path.with_suffix(".json").exists():
                prev = json.loads(path.with_suffix(".json").read_text())["config"]
                for f in row_fields(cls):
                    config[f] = list(dict.fromkeys([*prev.get(f, []), *config.get(f, [])]))
            path.with_suffix(".json").write_text(json.dumps(
                {"fingerprint": fp, "row_columns": list(row_fields(cls).values()), "config": config},
                indent=1, default=str))
            done.append(f"{path} ({len(rows)} rows)")
        for side in sorted(tdir.glob("replaced/seed*.json")):
            info = json.loads(side.read_text())
            fp = fingerprint(info, cls)
            df = pd.read_csv(side.with_suffix(".csv"))
            df = with_provenance(df.assign(seed=int(info["seed"])) if "seed" not in df else df, info, cls)
            df["_replaced_utc"] = "before the row store"
            log = out / f"{fp}.replaced.csv"
            _write_csv(pd.concat([pd.read_csv(log), df], ignore_index=True) if log.exists() else df, log)
            if not (out / f"{fp}.json").exists():
                (out / f"{fp}.json").write_text(json.dumps(
                    {"fingerprint": fp, "row_columns": list(row_fields(cls).values()), "config": info["config"]},
                    indent=1, default=str))
        if top:
            (fp,) = top
            seeds = sorted(int(json.loads(p.read_text())["seed"]) for p in tdir.glob("seed*.json"))
            index[table] = {"rows": (out / f"{fp}.csv").relative_to(folder.parent).as_posix(), "fingerprint": fp,
                            "seeds": seeds}
    (folder / INDEX).write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    shutil.rmtree(folder / "seeds")
    return done


def main(roots: list[str]) -> None:
    for root in roots:
        for folder in sorted(p for p in Path(root).iterdir() if (p / "seeds").is_dir()):
            for line in migrate(folder):
                print(line)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1:])
