"""The row store: every per-seed row a notebook computed, keyed, kept outside the notebook folders; the folders are
views of it. Also the lock a notebook folder is computed under and the publishing of a run's folder.

    <profile>/store/<notebook>/<table>/<fingerprint>.csv    rows: the table's columns, seed, and per row the
                                                            commit, device and time that computed it (_commit...)
    <profile>/store/<notebook>/<table>/<fingerprint>.json   the config those rows were computed under
    <profile>/store/<notebook>/<table>/<fingerprint>.replaced.csv   rows a later run replaced (never lost)
    <profile>/<notebook>/rows.json                          the view's index: which rows each of its tables shows

A row's key is (notebook, table, profile, config fingerprint, seed, and the values of the config's row fields: the
setting, e.g. notebook 02's scheme and sparsity, notebook 03's SSL method); a run's rows replace the stored rows of the same key, and leave
every other key's rows as they are. So

    python run_all.py --profile cpu --only 02 -p SEEDS '[0]' -p SPARSITIES '[0.0]'
    python run_all.py --profile cpu --only 02 -p SEEDS '[1, 2]' -p SPARSITIES '[0.0]'
    python run_all.py --profile cpu --only 02 -p SEEDS '[0]' -p SPARSITIES '[0.95]'

end with one table of seeds 0-2 dense and seed 0 sparse. The fingerprint covers the config less its seed fields, its
row fields (`ROW_FIELDS`) and its table fields (`TABLE_FIELDS`, fields its per-seed tables do not depend on: which
tables a run makes, e.g. notebook 03's parts, and what its tables of one run hold, e.g. notebook 01's inversion
steps, which key those tables alone: `TABLE_KEYS`): rows of another config sit in another file, never merged with
this config's and never deleted. A field added to a notebook's config, or to one of its methods' configs, after
rows were stored does not part them from this config while it holds its default (`as_stored`): the default must
keep the behaviour that computed them, or the field declares the value its absence meant
(`config.scoped(absent=...)`), and rows stored without it are read as that value. (A field nested deeper, e.g. in
retrain's TrainConfig, is compared as it is.)

Tables a config names in `PER_METHOD` (notebook 02's) are keyed per method too: a (seed, setting) this config's file
lacks is shown from other configs' files when each method the view lists there was computed under this config's
resolution of that method (its config, less the fields `config.scoped` says do not act in that setting) on one device
class (`_lent`; the view measures Avg. Disparity against the retrain row it shows, `_with_disparity`); the view's
index names those files and units, so the report reads what the notebook showed. So a DAU change reruns DAU, not
FT, and a run of a few methods (`-p METHODS '["fisher"]'`, even without retrain) fills in what a config change made
stale; `merged(..., index=True)` with `-p SEEDS '[]'` then publishes the whole view.

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
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import paths
from .metrics import DISPARITY_COLUMNS, avg_disparity
from .results import describe_run, save_table

SEED_FIELDS = ("seed", "seeds")
STORE_ENV = "UNLEARNLIB_STORE"
INDEX = "rows.json"  # a view's index of the stored rows its tables show
PROVENANCE = ("_commit", "_device", "_time_utc")  # per stored row: what computed it
REFERENCE = "retrain"  # the method every other row's Avg. Disparity is measured against (`_lent`)
# rows stored before describe_device named the CPU's instruction set (before 7060d7e, 2026-12-05) were computed on the
# project's documented CPU, an AMD EPYC with avx512_bf16: their cpu-profile run times (retrain 550-650 s a setting) are
# that CPU's bf16 pace, where a CPU without native bf16 runs about 5x slower. They are read as that CPU's description
LEGACY_CPU = ", AVX512, native bf16"


# ---------------------------------------------------------------- fingerprints

def row_fields(cfg) -> dict[str, str]:
    """A config's row fields (`ROW_FIELDS`: config field -> the table column it fills, e.g. notebook 02's schemes ->
    scheme, sparsities -> sparsity): fields that choose which rows a run produces, not what a row holds."""
    return dict(getattr(cfg, "ROW_FIELDS", {}) or {})


def _skipped(cfg, table: str | None = None) -> set[str]:
    """Fields left out of the fingerprint besides the seed fields: row fields and table fields, but for `table` the
    table fields its rows depend on (the config's `TABLE_KEYS`: notebook 01's inversion settings key its stored
    inversions, though not its Table 1)."""
    keys = set((getattr(cfg, "TABLE_KEYS", None) or {}).get(table, ())) if table else set()
    return set(row_fields(cfg)) | (set(getattr(cfg, "TABLE_FIELDS", ()) or ()) - keys)


def _fingerprint(config: dict, skip) -> str:
    d = {k: v for k, v in config.items() if k not in SEED_FIELDS and k not in skip}
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _resolves(cfg) -> bool:
    """Whether a notebook config resolves its methods' configs (`method_configs()`: notebook 02's and 04's
    MethodsRun, notebook 01's room)."""
    return callable(getattr(cfg, "method_configs", None))


def _as_dict(cfg, resolved: bool = True) -> dict:
    """A notebook config as its stored JSON, without its seed fields. resolved (a config that resolves its methods):
    each method's resolved config (defaults, preset or protocol, overrides) under "method_configs", in place of the
    overrides that led to it and the profile that chose the preset; resolved=False: the config's own fields, as the
    fingerprint of rows stored before the config resolved its methods took them (`_file`)."""
    d = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    if resolved and _resolves(cfg):
        d = {k: v for k, v in d.items() if k not in ("profile", "method_overrides")}
        d["method_configs"] = {name: asdict(c) for name, c in cfg.method_configs()}
        if getattr(cfg, "METHOD_SEEDS_FOLLOW_RUN", False):  # notebook 01: a method seed that is the run's seed is
            for mc in d["method_configs"].values():         # keyed as the row's (seed fields are keys of their own)
                if "seed" in mc and mc["seed"] == d.get("seed"):
                    mc["seed"] = "the run's"
    return json.loads(json.dumps({k: v for k, v in d.items() if k not in SEED_FIELDS}, sort_keys=True, default=str))


def config_fingerprint(cfg, table: str | None = None) -> tuple[str, dict]:
    """(fingerprint, dict) of a notebook config without its seed, row and table fields (for `table`, less the table
    fields that key it: `TABLE_KEYS`): what rows must share to be one table. The dict keeps the row and table
    fields. A config that runs registered methods is keyed by each method's resolved config, not by the overrides
    that led to it (`_as_dict`)."""
    config = _as_dict(cfg)
    return _fingerprint(config, _skipped(cfg, table)), config


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

def _text(v) -> str:
    """A key column's value as text (numbers as floats: 0 and 0.0, read back from CSV, match)."""
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.6g}"  # seeds stay apart past 1e6
    return str(v)


def _keys(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One string per row from the key columns."""
    return df[cols].apply(lambda c: c.map(_text)).agg("|".join, axis=1) if cols else pd.Series("", index=df.index)


def _json(v):
    return json.loads(json.dumps(asdict(v) if is_dataclass(v) and not isinstance(v, type) else v, default=str))


def _field_defaults(obj, absent: bool = True) -> dict:
    """Field -> default value (JSON form) of a config dataclass (fields without a default left out). absent: where a
    field declares an `absent` value (`config.scoped`: a field added later whose default changed the method's
    behaviour), that value instead: what a stored config lacking the field was computed with (`as_stored`)."""
    out = {}
    for f in fields(obj):
        if absent and "absent" in f.metadata:
            out[f.name] = _json(f.metadata["absent"])
        elif f.default is not MISSING:
            out[f.name] = _json(f.default)
        elif f.default_factory is not MISSING:
            out[f.name] = _json(f.default_factory())
    return out


def config_defaults(cfg) -> dict:
    """What a stored config that lacks a field was computed with, for a notebook config's fields and, under
    "method_configs", each of its methods' config fields: the field's default (what a field added to the code later
    holds when nobody sets it), or its declared `absent` value (`_field_defaults`)."""
    d = _field_defaults(cfg) if is_dataclass(cfg) else {}
    if _resolves(cfg):
        d["method_configs"] = {name: _field_defaults(c) for name, c in cfg.method_configs()}
    return d


def as_stored(config: dict, stored: dict, defaults: dict) -> dict:
    """`config` without the fields that the `stored` config lacks and that hold what `defaults` says such a stored
    config was computed with (`config_defaults`: the default, or a declared `absent` value), at the top level and in
    each method's config: fields added to the code after those rows were stored. A new field at another value (a
    default that changed the behaviour, against its `absent` value, included), or a new method, still makes another
    config."""
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
    fp, config = config_fingerprint(cfg, table)
    folder = _table_dir(out, table)
    skip = _skipped(cfg, table)
    sides = []
    for side in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            stored = json.loads(side.read_text()).get("config")
        except (OSError, ValueError, AttributeError):  # gone meanwhile, or broken: not this config's file
            continue
        if isinstance(stored, dict):
            if _fingerprint(stored, skip) == fp:  # an exact match wins over one through as_stored
                return side.with_suffix(".csv"), fp, config
            sides.append((side, stored))
    defaults = config_defaults(cfg) if sides else {}
    for side, stored in sides:
        if _matches_as_stored(config, stored, defaults, skip):
            return side.with_suffix(".csv"), fp, config
    # rows stored before this notebook's config resolved its methods (notebook 01's before 2026-12-05) were keyed by
    # the config's own fields, the overrides among them: they match a config whose own fields (new ones at their
    # default, as above) are theirs, overrides that resolve to what no override resolves to read as none. Such a file
    # cannot show what its methods resolved to, so it is taken as today's resolution (a method default changed since
    # is not seen in it): the premise as_stored makes of a new field's default. Its next write records the resolution
    legacy = [(side, stored) for side, stored in sides if "method_configs" not in stored] if _resolves(cfg) else []
    if legacy:
        plain = replace(cfg, method_overrides={}) if getattr(cfg, "method_overrides", None) else cfg
        own = _as_dict(plain if _as_dict(plain) == config else cfg, resolved=False)
        for side, stored in legacy:
            if _matches_as_stored(own, stored, defaults, skip):
                return side.with_suffix(".csv"), fp, config
    return folder / f"{fp}.csv", fp, config


def _matches_as_stored(config: dict, stored: dict, defaults: dict, skip) -> bool:
    """Whether `stored` is `config` once the fields the stored config predates are dropped where they hold what its
    absence meant (`as_stored`), seed, row and table fields (`skip`) aside."""
    return _fingerprint(stored, skip) == _fingerprint(as_stored(config, stored, defaults), skip)


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
        # in the columns' order of the rows just computed (columns the code added since go where it puts them)
        order = [*new.columns, *[c for c in old.columns if c not in new.columns]]
        new = pd.concat([old[~hit], new], ignore_index=True)[order]
        side = json.loads(path.with_suffix(".json").read_text())
        for f in row_fields(cfg):  # every row-field value the stored rows cover
            config[f] = list(dict.fromkeys([*side["config"].get(f, []), *config.get(f, [])]))
    _write_csv(new, path)
    _write_text(path.with_suffix(".json"), json.dumps({"fingerprint": fp, "row_columns": list(row_fields(cfg).values()),
                                                      "config": config}, indent=1, default=str))
    _index(out, table, path, fp, sorted(int(s) for s in new.seed.unique()), _lent(table, cfg, path, new))
    return path


def _index(out, table: str, path: Path, fp: str, seeds: list[int], lent=None) -> None:
    """Record in the view `out` which stored rows its table `table` shows: this config's, of these seeds (a later
    run that stores another seed and then fails leaves the published view as it was), and the rows other configs'
    files lend it (`_lent`: their units, and the order the view lists rows in)."""
    index = Path(out) / INDEX
    d = json.loads(index.read_text()) if index.exists() else {}
    rel = lambda p: p.relative_to(_profile_dir(store_dir(out))).as_posix()  # noqa: E731
    d[table] = {"rows": rel(path), "fingerprint": fp, "seeds": seeds}
    if lent and lent.files:
        d[table]["lent"] = [{"rows": rel(p), "units": units} for p, units in lent.files]
        d[table]["order"] = lent.order
    Path(out).mkdir(parents=True, exist_ok=True)
    _write_text(index, json.dumps(dict(sorted(d.items())), indent=1) + "\n")


# ---------------------------------------------------------------- rows keyed per method

@dataclass
class Lent:
    """Rows other configs' files lend a view: (file, its units the view shows) per file; `unit_cols`, the columns
    naming a unit (seed, the setting, the method); `order`, how the view lists rows (`_in_order`)."""
    files: list = dc_field(default_factory=list)
    unit_cols: list = dc_field(default_factory=list)
    order: dict = dc_field(default_factory=dict)


def _row_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.glob("*.csv")) if not p.name.endswith(".replaced.csv")] if folder.is_dir() else []


def device_class(device) -> str:
    """A row's `_device` as rows are compared by it: a CPU described before the instruction set was recorded reads
    as the project's documented CPU (`LEGACY_CPU`)."""
    d = str(device)
    return d + LEGACY_CPU if d.startswith("cpu:") and d.count(",") == 1 else d


def _unit_key(config: dict, skip: set, method: str, setting: dict, out_of_scope, reference: bool) -> str | None:
    """What one method's rows in one setting depend on: the config less its methods (the dataset, model, original's
    training, split sizes...), the method's resolved config and (reference=True) the reference's (`REFERENCE`: the
    rows' Avg. Disparity), each less the fields that do not act in `setting` (`config.scoped`). "original" (the
    starting model) depends on the first part alone; a method the config does not resolve has no key.
    reference=False: without the reference's part (a table whose view measures Avg. Disparity itself,
    `_with_disparity`, or holds none)."""
    mcs = config.get("method_configs") or {}
    if method != "original" and method not in mcs:
        return None
    base = {k: v for k, v in config.items()
            if k not in SEED_FIELDS and k not in skip and k not in ("method_configs", "methods")}
    with_ref = reference and method != REFERENCE and REFERENCE in mcs
    names = [] if method == "original" else [method, *([REFERENCE] if with_ref else [])]
    part = {n: {f: v for f, v in mcs[n].items() if f not in out_of_scope(n, setting)} for n in names}
    return hashlib.sha1(json.dumps([base, part], sort_keys=True, default=str).encode()).hexdigest()


def _lent(table: str, cfg, path: Path, own: pd.DataFrame | None) -> Lent:
    """The rows other configs' files of `table` lend this config's view (`PER_METHOD`): for each (seed, setting)
    this config's own file lacks, every method the view lists ("original" and the config's methods, or the table's
    one method) from files whose stored config resolves that method, in that setting, as this one does (`_unit_key`,
    fields added later at their default aside, as `as_stored`), all computed on one device class (`device_class`:
    run times and float results compare). A setting lacking any method is not shown. The newest run lends a unit
    that several files hold. Avg. Disparity: where the table lists retrain, the view measures every row's against
    the retrain row it shows (`_with_disparity`), so a run without retrain (`-p METHODS '["fisher"]'`) lends too;
    where it does not (Table 2's DAU rows), retrain's config is part of the key. A file whose config (.json) cannot
    be read, or that lacks a column of this config's rows, lends nothing."""
    per = getattr(cfg, "PER_METHOD", None) or {}
    if table not in per or not _resolves(cfg):
        return Lent()
    fixed = per[table]  # None: the rows' method column; a name: every row is that method's (e.g. DAU's trajectory)
    cols = list(row_fields(cfg).values())
    unit_cols = ["seed", *cols, *(["method"] if fixed is None else [])]
    field_defaults = _field_defaults(cfg, absent=False) if is_dataclass(cfg) else {}
    # each setting column in the order of its field's default, then any value the config adds: one order for the
    # notebook's table and its view whichever settings a run ran
    values = {c: list(dict.fromkeys(_text(v) for v in [*(field_defaults.get(f) or []), *getattr(cfg, f)]))
              for f, c in row_fields(cfg).items()}
    expected = [fixed] if fixed is not None else ["original", *cfg.methods]
    if fixed is None:
        values["method"] = expected
    lent = Lent(unit_cols=unit_cols, order={"unit_cols": unit_cols, "values": values})
    files = [p for p in _row_files(path.parent) if p != path]
    if not files:
        return lent
    _, config = config_fingerprint(cfg)
    defaults, skip = config_defaults(cfg), _skipped(cfg, table)  # (as_stored's: the methods' fields' too)
    group_cols = ["seed", *cols]
    own_groups = set(_keys(own, [c for c in group_cols if c in own])) if own is not None and len(own) else set()
    method_of = (lambda df: df["method"]) if fixed is None else (lambda df: pd.Series(fixed, index=df.index))
    stored = []
    for p in files:
        rows = pd.read_csv(p)
        needed = [*group_cols, *PROVENANCE, *(["method"] if fixed is None else [])]
        if not len(rows) or any(c not in rows for c in needed):
            continue
        try:
            side = json.loads(p.with_suffix(".json").read_text()).get("config")
        except (OSError, ValueError, AttributeError):  # missing (a writer between its .csv and .json), broken
            continue
        if isinstance(side, dict):
            stored.append((p, rows, side, as_stored(config, side, defaults)))
    columns = set(own.columns) if own is not None else set().union(*(set(r.columns) for _, r, _, _ in stored))
    columns -= {"avg_disparity"} if REFERENCE in expected else set()  # the view measures it (`_with_disparity`)
    candidates = {}  # (group, method) -> [(time, device class, file, unit)]
    for p, rows, side, mine in stored:
        if not columns <= set(rows.columns):
            continue  # rows of an older code's columns: a mean over them would quietly drop seeds
        # retrain's config in the key where the view cannot measure Avg. Disparity itself
        with_ref = "avg_disparity" in rows and REFERENCE not in expected
        rows = rows.assign(_unit=_keys(rows, unit_cols), _group=_keys(rows, group_cols), _m=method_of(rows))
        keys = {}
        for (group, m), g in rows.groupby(["_group", "_m"], sort=False):
            if group in own_groups or m not in expected:
                continue
            setting = {c: g[c].iloc[0] for c in cols}
            k = json.dumps([m, [_text(v) for v in setting.values()]])
            if k not in keys:
                theirs = _unit_key(side, skip, m, setting, cfg.out_of_scope, reference=with_ref)
                ours = _unit_key(mine, skip, m, setting, cfg.out_of_scope, reference=with_ref)
                keys[k] = theirs is not None and theirs == ours
            if keys[k]:
                for dev, u in g.groupby(g["_device"].map(device_class), sort=False):
                    newest = str(u["_time_utc"].dropna().max()) if u["_time_utc"].notna().any() else ""
                    candidates.setdefault((group, m), []).append((newest, dev, p, u["_unit"].iloc[0]))
    chosen = {}
    for group in dict.fromkeys(grp for grp, _ in candidates):
        options = [candidates.get((group, m), []) for m in expected]
        common = set.intersection(*(set(dev for _, dev, _, _ in o) for o in options)) if all(options) else set()
        if not common:
            continue  # a method missing, or no device class that computed them all
        dev = max((c for o in options for c in o if c[1] in common))[1]
        for o in options:
            _, _, p, unit = max(c for c in o if c[1] == dev)
            chosen.setdefault(p, []).append(unit)
    lent.files = [(p, chosen[p]) for p in files if p in chosen]
    return lent


def _with_disparity(rows: pd.DataFrame, order: dict) -> pd.DataFrame:
    """A view with lent rows measures every row's Avg. Disparity against the reference row its setting shows (as
    `evaluation.results_table` computes it in a run): a lent row's stored one is against its own run's retrain, or
    missing (a run without it)."""
    if "method" not in rows or REFERENCE not in set(rows.method) or not set(DISPARITY_COLUMNS) <= set(rows):
        return rows
    rows = rows.copy() if "avg_disparity" in rows else rows.assign(avg_disparity=np.nan)
    groups = [c for c in order["unit_cols"] if c != "method" and c in rows]
    for _, g in rows.groupby(groups, sort=False):
        ref = g[g.method == REFERENCE]
        if len(ref):
            r = ref.iloc[0].to_dict()
            rows.loc[g.index, "avg_disparity"] = [avg_disparity(x, r) for x in g.to_dict("records")]
    return rows


def _units_of(rows: pd.DataFrame, units, cols: list[str]) -> pd.DataFrame:
    """The rows of `rows` whose unit (their values of `cols`, as `_keys` writes them) is one of `units`."""
    return rows[_keys(rows, cols).isin(set(units))]


def _in_order(rows: pd.DataFrame, order: dict) -> pd.DataFrame:
    """Rows of several runs in one order: by seed, then each setting column and the method in the config's order
    (`order["values"]`); rows of one unit keep their stored order."""
    keys = [rows.seed.astype(float)]
    for c, vals in order["values"].items():
        if c in rows:
            rank = {v: i for i, v in enumerate(vals)}
            keys.append(rows[c].map(lambda v: rank.get(_text(v), len(rank))))
    idx = pd.DataFrame({f"k{i}": k.to_numpy() for i, k in enumerate(keys)}).sort_values(
        [f"k{i}" for i in range(len(keys))], kind="mergesort").index
    return rows.iloc[idx].reset_index(drop=True)


def drop_provenance(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if c.startswith("_")])


def merged(out: str | Path, table: str, cfg, index: bool = False) -> tuple[pd.DataFrame, list[int], list[str]]:
    """(every stored row of `table` under this config, seed by seed, and the rows other configs' files lend it
    (`PER_METHOD` tables); their seeds; the other configs' row files of this table, named).

    index: record in the view `out`'s index (rows.json) which rows it shows, as `save_rows` does: a run that stores
    nothing (`-p SEEDS '[]'`) then publishes a view of what the store holds for this config."""
    path, fp, _ = _file(out, table, cfg)
    own = pd.read_csv(path) if path.exists() else None
    lent = _lent(table, cfg, path, own)
    if index and (own is not None or lent.files):
        _index(out, table, path, fp, sorted(int(s) for s in own.seed.unique()) if own is not None else [], lent)
    lenders = {p.name: len(units) for p, units in lent.files}
    others = [f"{p.name} (another config" + (f"; lends {lenders[p.name]} of its method runs, each under this config's "
                                             "method configs" if p.name in lenders else "") + ")"
              for p in _row_files(path.parent) if p != path]
    parts = [own] if own is not None else []
    parts += [_units_of(pd.read_csv(p), units, lent.unit_cols) for p, units in lent.files]
    if not parts:
        return pd.DataFrame(), [], others
    rows = pd.concat(parts, ignore_index=True)
    if lent.files:
        rows = _with_disparity(_in_order(rows, lent.order), lent.order)
    else:
        rows = pd.concat([rows[rows.seed == s] for s in sorted(rows.seed.unique())], ignore_index=True)
    return drop_provenance(rows), sorted(int(s) for s in rows.seed.unique()), others


def _shown(folder: Path, tables=None, profile: Path | None = None):
    """(table, rows file, its rows the view `folder` shows, provenance kept) for each table of the view's index (or
    of `tables`) whose rows file exists: the one reader of a view's index. profile: the folder its paths are relative
    to, the view's parent once published (a run's staging folder: `_profile_dir(store_dir(folder))`)."""
    index = Path(folder) / INDEX
    entries = json.loads(index.read_text()) if index.exists() else {}
    base = Path(folder).parent if profile is None else profile
    for table in (tables if tables is not None else list(entries)):
        entry = entries.get(table)
        path = base / entry["rows"] if entry else None
        if path is None or not (path.exists() or entry.get("lent")):
            continue
        yield table, path, entry


def _read_shown(path: Path, entry: dict, **read_kw) -> pd.DataFrame:
    if not path.exists():  # a view of lent rows alone: its config stored none
        rows = pd.DataFrame()
    else:
        rows = pd.read_csv(path, **read_kw)
        rows = rows[rows.seed.isin(entry["seeds"])] if "seeds" in entry else rows
    if not entry.get("lent"):
        return rows
    profile = path.parents[3]  # <profile>/store/<notebook>/<table>/<file>
    cols = list(entry["order"]["unit_cols"])
    lent = [_units_of(pd.read_csv(profile / e["rows"], **read_kw), e["units"], cols) for e in entry["lent"]]
    return _with_disparity(_in_order(pd.concat([rows, *lent], ignore_index=True), entry["order"]), entry["order"])


def view_rows(folder: Path, table: str, every_seed: bool = False, **read_kw) -> pd.DataFrame | None:
    """The stored rows (provenance dropped) that the view `folder` shows for `table`; None if its index has none.
    every_seed: every seed of the rows file it shows them from (its config's), those it does not show included (a
    table the view shows for its first seed alone, whose claims read every seed)."""
    for _, path, entry in _shown(folder, [table]):
        if every_seed:
            entry = {k: v for k, v in entry.items() if k != "seeds"}
        return drop_provenance(_read_shown(path, entry, **read_kw)).reset_index(drop=True)
    return None


def short_commit(commit) -> str:
    """A commit as tables show it: its first 12 characters, and the +dirty mark (results.git_commit) kept."""
    commit = str(commit)
    return commit[:12] + (" +dirty" if commit.endswith("+dirty") else "")


def _with_provenance(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows with every PROVENANCE column, "?" where they were written without it (tests, hands)."""
    return rows.assign(**{c: "?" for c in PROVENANCE if c not in rows})


def view_provenance(folder: Path) -> list[tuple[str, str, str, str]]:
    """(commit, device, time, what) for the stored rows the view `folder` shows, one per table, seed and run: what =
    '<table> seed N (column=values...)', the row-field columns' values that run computed."""
    out = []
    for table, path, entry in _shown(folder):
        rows = _read_shown(path, entry)
        side = path.with_suffix(".json")
        columns = (json.loads(side.read_text()).get("row_columns") if side.exists()
                   else [c for c in entry.get("order", {}).get("unit_cols", []) if c not in ("seed", "method")])
        fields = [c for c in (columns or []) if c in rows]
        if entry.get("lent"):  # rows of several runs: name the methods each run computed too
            fields += [c for c in ("method",) if c in rows]
        rows = _with_provenance(rows)
        for (seed, commit, device, time_utc), g in rows.groupby(["seed", "_commit", "_device", "_time_utc"], sort=False,
                                                               dropna=False):
            settings = " ".join(f"{c}={','.join(map(str, dict.fromkeys(g[c])))}" for c in fields)
            what = f"{table} seed {seed}" + (f" ({settings})" if fields else "")
            out.append((str(commit), str(device), str(time_utc), what))
    return out


def computed_on(folder: Path, table: str) -> str | None:
    """The devices and commits that computed the stored rows the view `folder` shows for `table` (a view's own run
    may have computed none of them: `-p SEEDS '[]'`), for its tables' metadata; None if its index has none. Called
    by a notebook on the folder it writes (run_all's staging folder, its store named by $UNLEARNLIB_STORE)."""
    for _, path, entry in _shown(folder, [table], _profile_dir(store_dir(folder))):
        rows = _read_shown(path, entry)
        if not len(rows):
            return None
        runs = {}
        for (device, commit), g in _with_provenance(rows).groupby(["_device", "_commit"], sort=False, dropna=False):
            runs.setdefault(str(device), []).append(f"{short_commit(commit)} (seeds {sorted(int(s) for s in set(g.seed))})")
        return "; ".join(f"{device} at {', '.join(commits)}" for device, commits in runs.items())
    return None


def view_seeds(folder: Path) -> list[int]:
    """Every seed of the stored rows the view `folder` shows."""
    seeds = set()
    for _, path, entry in _shown(folder):
        if entry.get("lent"):
            seeds |= set(_read_shown(path, entry).seed.astype(int))
            continue
        seeds |= set(entry["seeds"]) if "seeds" in entry else set(pd.read_csv(path, usecols=["seed"]).seed.astype(int))
    return sorted(seeds)


# ---------------------------------------------------------------- tables over seeds

def first_seed(rows: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of the smallest seed (of each group of `by`, e.g. notebook 03's SSL method), without the seed column:
    a per-seed table as its view shows one run of it, the same whichever invocation ran last."""
    if not len(rows):
        return rows
    first = rows.groupby(list(by), sort=False).seed.transform("min") if by else rows.seed.min()
    return rows[rows.seed == first].drop(columns="seed").reset_index(drop=True)


def first_seed_view(out: str | Path, table: str, cfg, **where) -> tuple[pd.DataFrame, int | None]:
    """A table of one run (notebook 03's ablation, amounts, retrained encoder and figures' rows) as the view `out`
    shows it: the stored rows of `table` under this config of the smallest seed whose rows hold the `where` values
    (notebook 03's base encoder: ssl="moco"), without the seed and `where` columns; the view's index records that
    seed. (empty frame, None) when no stored row matches. So the view is the same whichever invocation ran last, and
    none is carried from an earlier view: a run of seed 1 with every part stores its rows beside seed 0's, and the
    view goes on showing seed 0's."""
    path, fp, _ = _file(out, table, cfg)
    rows = pd.read_csv(path) if path.exists() else pd.DataFrame()
    for col, value in where.items():
        rows = rows[rows[col] == value] if col in rows else rows.iloc[0:0]
    if not len(rows):
        return pd.DataFrame(), None
    seed = int(rows.seed.min())
    _index(out, table, path, fp, [seed])
    return drop_provenance(rows[rows.seed == seed]).drop(columns=["seed", *where]).reset_index(drop=True), seed


def show_first_seed(out: str | Path, table: str, cfg, meta: dict, *, where: dict | None = None,
                    pop: Sequence[str] = (), run_only: Sequence[str] = (), save: bool = True,
                    **save_kw) -> tuple[pd.DataFrame | None, int | None, dict]:
    """(rows, seed, meta) of a table of one run as the view `out` shows it, whichever invocation computed it: the
    stored rows of this config's first seed (`first_seed_view`, `where` its column values), saved as the view's
    `table` (save=False: not saved, e.g. the images behind a figure) with `meta`, the seed shown and where its rows
    were computed (`computed_on`); the columns `pop` go from the rows into the meta (their first row's value). Where
    the seed shown is not this invocation's (cfg.seed), the meta leaves out `run_only`, this invocation's own
    figures (notebook 01's original fit and judge), and says so. (None, None, {}) when no invocation of this config
    has stored the table."""
    rows, seed = first_seed_view(out, table, cfg, **(where or {}))
    if seed is None:
        return None, None, {}
    mine = seed == getattr(cfg, "seed", None)
    view_meta = {**{k: v for k, v in meta.items() if mine or k not in run_only}, "seeds": [seed],
                 "rows_computed_on": computed_on(out, table), **{c: rows.pop(c).iloc[0] for c in pop if c in rows}}
    if not mine:
        view_meta["note"] = (f"seed {seed}'s rows, the first stored for this config (this invocation ran seed "
                             f"{getattr(cfg, 'seed', '?')})" + (f"; this invocation's {list(run_only)} left out"
                                                                 if run_only else ""))
    if save:
        save_table(rows, Path(out) / table, view_meta, **save_kw)
    return rows, seed, view_meta


def mean_sd(rows: pd.DataFrame, by: Sequence[str], cols: Sequence[str], seed_col: str = "seed") -> pd.DataFrame:
    """Per group of `by`: each column's mean, its standard deviation over seeds (`<col>_sd`, ddof 1; NaN for
    one seed) and n_seeds. Group order is the rows' order. Where the rows hold a `diverged` column (`run_setting`'s
    diverged="row": a method whose weights diverged, no metrics), the means are over the seeds it ran and
    n_diverged counts the seeds where it diverged."""
    g = rows.groupby(list(by), sort=False)
    mean = g[list(cols)].mean()
    sd = g[list(cols)].std(ddof=1).add_suffix("_sd")
    n = [g[seed_col].nunique().rename("n_seeds")]
    if "diverged" in rows:
        n.append(g["diverged"].agg(lambda d: int(d.map(lambda v: isinstance(v, str)).sum())).rename("n_diverged"))
    out = pd.concat([mean, sd, *n], axis=1).reset_index()
    order = [*by, *[c for col in cols for c in (col, f"{col}_sd")], *[x.name for x in n]]
    return out[order]


def runtime_share(rows: pd.DataFrame, by: Sequence[str] = ("seed", "scheme", "sparsity")) -> pd.DataFrame:
    """`rows` with `runtime_pct_retrain`: each row's run time as a percentage of the run time of the `REFERENCE`
    (retrain) row in its group of `by` (NaN where the group has none). Two tables computed on different machines
    (notebook 02's Table 1 and its beyond table at cpu, run over several sessions' CPUs) compare by it where their
    seconds do not: call it on each table, against its own retrain, before they are set side by side."""
    by = [c for c in by if c in rows]
    if not by or not len(rows) or "runtime_s" not in rows:
        return rows.assign(runtime_pct_retrain=np.nan)
    ref = rows.loc[rows.method == REFERENCE, [*by, "runtime_s"]].drop_duplicates(by).rename(columns={"runtime_s": "_ref"})
    base = rows[by].merge(ref, on=by, how="left")["_ref"].to_numpy(dtype=float)  # a left merge keeps the rows' order
    return rows.assign(runtime_pct_retrain=100 * rows.runtime_s.to_numpy(dtype=float) / base)


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


def same_config(cfg, stored: dict) -> bool:
    """Whether a config recorded as `config_fingerprint(...)[1]` (a published run's params.json "config") is `cfg`'s
    as the row store reads it: the same fingerprint once seed, row and table fields are left out, fields added to the
    code since at the value their absence meant (`as_stored`)."""
    fp, config = config_fingerprint(cfg)
    skip = _skipped(cfg)
    return _fingerprint(stored, skip) == fp or _matches_as_stored(config, stored, config_defaults(cfg), skip)


def carry_unwritten(final: Path, staging: Path, cfg=None) -> list[str]:
    """Copy into the finished run's `staging` folder what the earlier view `final` holds and this run did not write,
    and return the carried files' relative paths.

    A run of part of a notebook (one scheme, one seed, `headline_only`, notebook 03's `parts`) never deletes what an
    earlier run computed; each carried table keeps its .meta.json. Never carried: the earlier run's logs, and the
    Markdown twin or .meta.json of a table whose CSV this run wrote (`save_table(markdown=False)` writes a CSV without
    a twin). The view's index of stored rows merges: this run's entries, then the earlier ones for tables this run
    did not store. Nothing is carried when the earlier view is of another config: its params.json records a config
    (run_all writes it) that is not `cfg`'s (`same_config`), or, for a view published before params.json named its
    config, a table of both indexes comes from another rows file (another config's). A run that stores no rows (a
    notebook 03 run of its ablation alone) is checked by the first test only."""
    if not final.is_dir():
        return []
    old_params = final / "params.json"
    recorded = json.loads(old_params.read_text()).get("config") if old_params.exists() else None
    if cfg is not None and isinstance(recorded, dict) and not same_config(cfg, recorded):
        print(f"  the earlier view was of another config (its params.json's config is not this run's "
              f"{config_fingerprint(cfg)[0]}): nothing carried")
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
