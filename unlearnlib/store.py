"""The row store: every per-seed row a notebook computed, keyed, kept outside the notebook folders; the folders are
views of it. Also the lock a notebook folder is computed under and the publishing of a run's folder.

    <profile>/store/<notebook>/<table>/<fingerprint>.csv    rows: the table's columns, seed, and per row the
                                                            commit, device and time that computed it (_commit...)
    <profile>/store/<notebook>/<table>/<fingerprint>.json   the config those rows were computed under
    <profile>/store/<notebook>/<table>/<fingerprint>.replaced.csv   rows a later run replaced (never lost)
    <profile>/<notebook>/rows.json                          the view's index: which rows each of its tables shows

A row's key is (notebook, table, profile, config fingerprint, seed, and the values of the config's row fields: the
setting, e.g. notebook 02's scheme and sparsity); a run's rows replace the stored rows of the same key, and leave
every other key's rows as they are. So

    python run_all.py --profile cpu --only 02 -p SEEDS '[0]' -p SPARSITIES '[0.0]'
    python run_all.py --profile cpu --only 02 -p SEEDS '[1, 2]' -p SPARSITIES '[0.0]'
    python run_all.py --profile cpu --only 02 -p SEEDS '[0]' -p SPARSITIES '[0.95]'

end with one table of seeds 0-2 dense and seed 0 sparse. The fingerprint covers the config less its seed fields, its
row fields (`ROW_FIELDS`) and its table fields (`TABLE_FIELDS`: which tables a run makes, e.g. notebook 03's parts):
rows of another config sit in another file, never merged with this config's and never deleted. A field added to a
notebook's config, or to one of its methods' configs, after rows were stored does not part them from this config
while it holds its default (`as_stored`): the default must keep the behaviour that computed them. (A field nested
deeper, e.g. in retrain's TrainConfig, is compared as it is.)

A notebook run by run_all writes its rows straight to results/<profile>/store/ (`UNLEARNLIB_STORE`, set by run_all),
so the rows of a run that fails later are kept; its tables go to a staging folder that `publish` makes the notebook's
folder. A notebook run by hand writes rows beside its scratch folder (<folder>/../store/<notebook>).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import sys
from contextlib import contextmanager
from dataclasses import MISSING, asdict, fields, is_dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import paths
from .results import describe_run

SEED_FIELDS = ("seed", "seeds")
STORE_ENV = "UNLEARNLIB_STORE"
INDEX = "rows.json"  # a view's index of the stored rows its tables show
PROVENANCE = ("_commit", "_device", "_time_utc")  # per stored row: what computed it


# ---------------------------------------------------------------- fingerprints

def row_fields(cfg) -> dict[str, str]:
    """A config's row fields (`ROW_FIELDS`: config field -> the table column it fills, e.g. notebook 02's schemes ->
    scheme, sparsities -> sparsity): fields that choose which rows a run produces, not what a row holds."""
    return dict(getattr(cfg, "ROW_FIELDS", {}) or {})


def _skipped(cfg) -> set[str]:
    """Fields left out of the fingerprint besides the seed fields: row fields and table fields."""
    return set(row_fields(cfg)) | set(getattr(cfg, "TABLE_FIELDS", ()) or ())


def _fingerprint(config: dict, skip) -> str:
    d = {k: v for k, v in config.items() if k not in SEED_FIELDS and k not in skip}
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_fingerprint(cfg) -> tuple[str, dict]:
    """(fingerprint, dict) of a notebook config without its seed, row and table fields: what rows must share to be
    one table. The dict keeps the row and table fields."""
    d = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    if callable(getattr(cfg, "method_configs", None)):
        # a config that runs registered methods: each method's resolved config (defaults, preset, overrides) is what
        # must match, not the overrides that led to it
        d = {k: v for k, v in d.items() if k not in ("profile", "method_overrides")}
        d["method_configs"] = {name: asdict(c) for name, c in cfg.method_configs()}
    config = json.loads(json.dumps({k: v for k, v in d.items() if k not in SEED_FIELDS}, sort_keys=True, default=str))
    return _fingerprint(config, _skipped(cfg)), config


# ---------------------------------------------------------------- where

def store_dir(out: str | Path) -> Path:
    """The store of the notebook whose results folder is `out`: $UNLEARNLIB_STORE (run_all's, relative paths from
    the repository), else <out>/../store/<out's name>."""
    env = os.environ.get(STORE_ENV)
    if env:
        d = Path(env)
        return d if d.is_absolute() else paths.repo_root() / d
    out = Path(out)
    return out.parent / "store" / out.name


def _table_dir(out, table: str) -> Path:
    return store_dir(out) / table


def _profile_dir(store: Path) -> Path:
    """<profile>/ of a notebook's store <profile>/store/<notebook>: what a view's index paths are relative to."""
    return store.parent.parent


# ---------------------------------------------------------------- rows

def _keys(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One string per row from the key columns (numbers as floats: 0 and 0.0, read back from CSV, match)."""
    def text(v):
        return f"{float(v):.6g}" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v)

    return df[cols].apply(lambda c: c.map(text)).agg("|".join, axis=1) if cols else pd.Series("", index=df.index)


def _json(v):
    return json.loads(json.dumps(asdict(v) if is_dataclass(v) and not isinstance(v, type) else v, default=str))


def _field_defaults(obj) -> dict:
    """Field -> default value (JSON form) of a config dataclass (fields without a default left out)."""
    out = {}
    for f in fields(obj):
        if f.default is not MISSING:
            out[f.name] = _json(f.default)
        elif f.default_factory is not MISSING:
            out[f.name] = _json(f.default_factory())
    return out


def config_defaults(cfg) -> dict:
    """The defaults of a notebook config's fields and, under "method_configs", of each of its methods' config
    fields: what a field added to the code later holds when nobody sets it."""
    d = _field_defaults(cfg) if is_dataclass(cfg) else {}
    if callable(getattr(cfg, "method_configs", None)):
        d["method_configs"] = {name: _field_defaults(c) for name, c in cfg.method_configs()}
    return d


def as_stored(config: dict, stored: dict, defaults: dict) -> dict:
    """`config` without the fields that the `stored` config lacks and that sit at their default, at the top level and
    in each method's config: fields added to the code after those rows were stored, whose default keeps the
    behaviour that computed them. A new field set to another value, or a new method, still makes another config."""
    out = {}
    for k, v in config.items():
        if k not in stored and k in defaults and k != "method_configs" and defaults[k] == v:
            continue
        if k == "method_configs" and isinstance(v, dict) and isinstance(stored.get(k), dict):
            known = defaults.get(k, {})
            v = {name: {f: x for f, x in mc.items()
                        if not (isinstance(stored[k].get(name), dict) and f not in stored[k][name]
                                and f in known.get(name, {}) and known[name][f] == x)}
                 for name, mc in v.items()}
        out[k] = v
    return out


def _file(out, table: str, cfg) -> tuple[Path, str, dict]:
    """(this config's rows file of `table`, fingerprint, config): the file whose stored config has this config's
    fingerprint as this code computes it (a file named by an older code's fingerprint still matches), once the
    fields the stored config predates are dropped where they hold their defaults (`as_stored`)."""
    fp, config = config_fingerprint(cfg)
    folder = _table_dir(out, table)
    skip = _skipped(cfg)
    sides = []
    for side in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        stored = json.loads(side.read_text()).get("config")
        if isinstance(stored, dict):
            if _fingerprint(stored, skip) == fp:  # an exact match wins over one through as_stored
                return side.with_suffix(".csv"), fp, config
            sides.append((side, stored))
    defaults = config_defaults(cfg) if sides else {}
    for side, stored in sides:
        if _fingerprint(stored, skip) == _fingerprint(as_stored(config, stored, defaults), skip):
            return side.with_suffix(".csv"), fp, config
    return folder / f"{fp}.csv", fp, config


def _write_text(path: Path, text: str) -> None:
    """Write a file whole or not at all (a reader never sees it half written)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    _write_text(path, df.to_csv(index=False))


@contextmanager
def _dir_locked(folder: Path):
    """Hold an exclusive advisory lock (flock) on `folder` inside the block: concurrent writers of one table's rows
    (run_all --ray's tasks, several seeds or settings at once) read, merge and write one after another. Where flock
    is missing (not POSIX) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def save_rows(out: str | Path, table: str, cfg, seed: int, rows: pd.DataFrame, device="cpu") -> Path:
    """Store one seed's rows of `table` under this config's fingerprint, and point the view `out` at them.

    They replace the stored rows of the same seed and row-field values (another sparsity's or scheme's rows of that
    seed stay); replaced rows go to <fingerprint>.replaced.csv first. Each row records the commit, device and time
    that computed it. Concurrent writers of one table take turns (`_dir_locked`)."""
    folder = _table_dir(out, table)
    folder.mkdir(parents=True, exist_ok=True)
    with _dir_locked(folder):  # the rows file is chosen under the lock too: another writer may be writing a side file
        path, fp, config = _file(out, table, cfg)
        return _save_rows_locked(out, table, cfg, seed, rows, device, path, fp, config)


def _save_rows_locked(out, table: str, cfg, seed: int, rows: pd.DataFrame, device, path: Path, fp: str,
                      config: dict) -> Path:
    run = describe_run(device)
    new = rows.assign(seed=seed, _commit=run["git_commit"], _device=run["device"], _time_utc=run["time_utc"])
    cols = ["seed", *[c for c in row_fields(cfg).values() if c in new]]
    if path.exists():
        old = pd.read_csv(path)
        cols = [c for c in cols if c in old]
        hit = _keys(old, cols).isin(set(_keys(new, cols)))
        if hit.any():
            log = path.with_suffix(".replaced.csv")
            gone = old[hit].assign(_replaced_utc=run["time_utc"])
            _write_csv(pd.concat([pd.read_csv(log), gone], ignore_index=True) if log.exists() else gone, log)
        new = pd.concat([old[~hit], new], ignore_index=True)
        side = json.loads(path.with_suffix(".json").read_text())
        for f in row_fields(cfg):  # every row-field value the stored rows cover
            config[f] = list(dict.fromkeys([*side["config"].get(f, []), *config.get(f, [])]))
    _write_csv(new, path)
    _write_text(path.with_suffix(".json"), json.dumps({"fingerprint": fp, "row_columns": list(row_fields(cfg).values()),
                                                      "config": config}, indent=1, default=str))
    _index(out, table, path, fp, sorted(int(s) for s in new.seed.unique()))
    return path


def _index(out, table: str, path: Path, fp: str, seeds: list[int]) -> None:
    """Record in the view `out` which stored rows its table `table` shows: this config's, of these seeds (a later
    run that stores another seed and then fails leaves the published view as it was)."""
    index = Path(out) / INDEX
    d = json.loads(index.read_text()) if index.exists() else {}
    d[table] = {"rows": path.relative_to(_profile_dir(store_dir(out))).as_posix(), "fingerprint": fp, "seeds": seeds}
    Path(out).mkdir(parents=True, exist_ok=True)
    _write_text(index, json.dumps(dict(sorted(d.items())), indent=1) + "\n")


def drop_provenance(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if c.startswith("_")])


def merged(out: str | Path, table: str, cfg) -> tuple[pd.DataFrame, list[int], list[str]]:
    """(every stored row of `table` under this config, seed by seed; their seeds; the other configs' row files of
    this table, named: they are kept, not merged)."""
    path, fp, _ = _file(out, table, cfg)
    others = [f"{p.name} (another config)" for p in sorted(path.parent.glob("*.csv"))
              if p != path and not p.name.endswith(".replaced.csv")] if path.parent.is_dir() else []
    if not path.exists():
        return pd.DataFrame(), [], others
    rows = pd.read_csv(path)
    rows = pd.concat([rows[rows.seed == s] for s in sorted(rows.seed.unique())], ignore_index=True)
    return drop_provenance(rows), sorted(int(s) for s in rows.seed.unique()), others


def _shown(folder: Path, tables=None):
    """(table, rows file, its rows the view `folder` shows, provenance kept) for each table of the view's index (or
    of `tables`) whose rows file exists: the one reader of a view's index."""
    index = Path(folder) / INDEX
    entries = json.loads(index.read_text()) if index.exists() else {}
    for table in (tables if tables is not None else list(entries)):
        entry = entries.get(table)
        path = Path(folder).parent / entry["rows"] if entry else None
        if path is None or not path.exists():
            continue
        yield table, path, entry


def _read_shown(path: Path, entry: dict, **read_kw) -> pd.DataFrame:
    rows = pd.read_csv(path, **read_kw)
    return rows[rows.seed.isin(entry["seeds"])] if "seeds" in entry else rows


def view_rows(folder: Path, table: str, **read_kw) -> pd.DataFrame | None:
    """The stored rows (provenance dropped) that the view `folder` shows for `table`; None if its index has none."""
    for _, path, entry in _shown(folder, [table]):
        return drop_provenance(_read_shown(path, entry, **read_kw)).reset_index(drop=True)
    return None


def view_provenance(folder: Path) -> list[tuple[str, str, str]]:
    """(commit, time, what) for the stored rows the view `folder` shows, one per table, seed and run: what =
    '<table> seed N (column=values...)', the row-field columns' values that run computed."""
    out = []
    for table, path, entry in _shown(folder):
        rows = _read_shown(path, entry)
        side = json.loads(path.with_suffix(".json").read_text())
        fields = [c for c in (side.get("row_columns") or []) if c in rows]
        for (seed, commit, time_utc), g in rows.groupby(["seed", "_commit", "_time_utc"], sort=False, dropna=False):
            settings = " ".join(f"{c}={','.join(map(str, dict.fromkeys(g[c])))}" for c in fields)
            out.append((str(commit), str(time_utc), f"{table} seed {seed}" + (f" ({settings})" if fields else "")))
    return out


def view_seeds(folder: Path) -> list[int]:
    """Every seed of the stored rows the view `folder` shows."""
    seeds = set()
    for _, path, entry in _shown(folder):
        seeds |= set(entry["seeds"]) if "seeds" in entry else set(pd.read_csv(path, usecols=["seed"]).seed.astype(int))
    return sorted(seeds)


# ---------------------------------------------------------------- tables over seeds

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


# ---------------------------------------------------------------- the lock and publishing

class Busy(RuntimeError):
    """Another run holds the folder's lock."""


@contextmanager
def folder_lock(final: Path):
    """Hold <results>/<profile>/.locks/<notebook>.lock while this run computes and publishes `final`.

    A second run on the same folder stops at once with a message naming the holder (pid, host, start,
    command). A lock whose process is gone (same host) is stale and taken over."""
    lock = final.parent / ".locks" / f"{final.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start_utc": dt.datetime.now(dt.timezone.utc)
          .isoformat(timespec="seconds"), "command": " ".join(sys.argv)}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                other = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                other = {}
            if other.get("host") == me["host"] and other.get("pid") and not _alive(other["pid"]):
                lock.unlink(missing_ok=True)  # stale: its process ended without releasing it
                continue
            raise Busy(f"{final} is being computed by another run (pid {other.get('pid', '?')} on "
                       f"{other.get('host', '?')}, started {other.get('start_utc', '?')}: "
                       f"{other.get('command', '?')}); wait for it or remove {lock} if that run is gone") from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def carry_unwritten(final: Path, staging: Path) -> list[str]:
    """Copy into the finished run's `staging` folder what the earlier view `final` holds and this run did not write,
    and return the carried files' relative paths.

    A run of part of a notebook (one scheme, one seed, `headline_only`, notebook 03's `parts`) never deletes what an
    earlier run computed; each carried table keeps its .meta.json. Never carried: the earlier run's logs, and the
    Markdown twin or .meta.json of a table whose CSV this run wrote (`save_table(markdown=False)` writes a CSV without
    a twin). The view's index of stored rows merges: this run's entries, then the earlier ones for tables this run
    did not store. Nothing is carried when the earlier view shows another config's rows (a table of both indexes from
    another rows file, i.e. another config's): its tables are of that config."""
    if not final.is_dir():
        return []
    old_index = json.loads((final / INDEX).read_text()) if (final / INDEX).exists() else {}
    new_index = json.loads((staging / INDEX).read_text()) if (staging / INDEX).exists() else {}
    other = sorted(t for t in old_index if t in new_index and old_index[t].get("rows") != new_index[t].get("rows"))
    if other:
        # the earlier view shows another config's rows (its table `other[0]` from another rows file, the file of
        # another fingerprint): its tables and figures are of that config, so none is carried into this one's view
        print(f"  the earlier view was of another config ({other[0]}: {old_index[other[0]].get('rows')} -> "
              f"{new_index[other[0]].get('rows')}): nothing carried")
        return []
    written = {f.relative_to(staging) for f in staging.rglob("*") if f.is_file()}  # before anything is carried
    carried = []
    for f in sorted(final.rglob("*")):
        rel = f.relative_to(final)
        if (not f.is_file() or rel.name in ("params.json", "kernel.log", INDEX) or rel in written
                or _twin_of_written(rel, written)):
            continue
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, staging / rel)
        carried.append(rel.as_posix())
    if old_index:
        (staging / INDEX).write_text(json.dumps(dict(sorted({**old_index, **new_index}.items())), indent=1) + "\n")
    return carried


def publish(staging: Path, final: Path) -> None:
    """Make `staging` the view `final` (the earlier one is removed once the new one is in place)."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _twin_of_written(rel: Path, written: set[Path]) -> bool:
    """Whether `rel` is the .md or .meta.json twin of a table whose .csv this run wrote (`written`: relative paths)."""
    for suffix in (".md", ".meta.json"):
        if rel.name.endswith(suffix):
            return rel.parent / (rel.name[: -len(suffix)] + ".csv") in written
    return False
