"""The unlearning pipeline, written once: original model (cached) -> optional pruning -> every method (each
cached) -> evaluation -> table. Notebooks 00 and 02 and the sweep call it; notebooks 01 and 03 and the shadow jobs
run their methods through the same `run_method` / `run_methods`.

    table = run_table(dataset, data, setting, schemes=["random"], sparsities=[0.0], seeds=[0],
                      methods=[("retrain", cfg_r), ("finetune", cfg_ft)], out=results_folder)

`run_setting` does one (scheme, sparsity, seed); `run_table` loops over them and, given `out`, saves
the table gathered so far after each one, so an interrupted run keeps what it finished.
Every method runs through one cached path (`run_method`): its result is stored on disk under a key of everything
that determines it (the method's own `cache_entry` where it declares one, as retrain does), with its measured run
time and, when asked, its per-iteration trace, so a resumed run skips what it finished.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from .cache import cache_key, entry_path, load_entry, save_entry, tensor_bytes, weights_fingerprint
from .config import ConfigError
from .data import Dataset, DeviceData, Split, make_split
from .evaluation import PendingRow, collect, evaluate, results_table
from .methods import custom_cache_entry, make_config, unlearn, with_seed
from .models import channels_last_names, prune_global, set_layout
from .originals import train_original
from .results import save_table
from .setting import Setting
from .train import TrainConfig, fit


def forget_request(scheme: str, forget_fraction: float, forget_class: int):
    """What make_split forgets in a scheme: a fraction of the training set, or a class id."""
    if scheme == "random":
        return forget_fraction
    if scheme == "class":
        return forget_class
    raise ValueError(f"unknown forgetting scheme {scheme!r}; use 'random' or 'class'")


def setting_split(dataset: Dataset, setting: Setting, scheme: str, forget, seed: int) -> Split:
    """The split of one setting: the profile's sizes, the scheme's forget set, the seed."""
    return make_split(dataset, scheme, forget, setting.val_size, seed, setting.train_size, setting.test_size)


def tune_config(train: TrainConfig, epochs: int | None = None) -> TrainConfig:
    """The schedule that tunes the pruned original: the original's `train`, for `epochs` (None: a quarter of its
    epochs, at least one). Notebook 02, the sweeps and the per-method benchmark tune their sparse originals alike."""
    if epochs is not None and epochs < 0:
        raise ConfigError(f"prune_tune_epochs must be 0 (no tuning) or more, or None (a quarter of the original's "
                          f"epochs), got {epochs}")
    return replace(train, epochs=epochs if epochs is not None else max(1, train.epochs // 4))


def prune_and_tune(model: nn.Module, data: DeviceData, split: Split, sparsity: float, cfg: TrainConfig,
                   progress: bool = True, layers: str = "auto") -> tuple[nn.Module, dict]:
    """The sparse original: one-shot global magnitude pruning of `model` (`models.prune_global`; default:
    convolution weights, as Unlearn-Sparse), then `cfg` epochs of training on forget + retain with the
    masks applied (Unlearn-Sparse trains its sparse models; a 95 %-pruned network without it is barely
    better than chance). cfg.epochs = 0 skips the tuning."""
    pruned = prune_global(model, sparsity, layers)
    seconds = 0.0
    if cfg.epochs > 0:
        x, y = data.train_part(split.train)
        seconds = fit(pruned, x, y, cfg, data=data, progress=progress, desc=f"tune {sparsity:.0%} sparse").seconds
    pruned.eval()
    return pruned, {"seconds": seconds, "sparsity": sparsity}


@dataclass
class MethodRun:
    """One method's outcome: the unlearned model, its run time as measured when it was computed, the per-iteration
    trace it reported (DAU's game, when asked; [] otherwise) and whether it came from the cache."""

    model: nn.Module
    seconds: float
    trace: list[dict] = field(default_factory=list)
    cached: bool = False


class _Uncacheable(Exception):
    """A config value the cache key cannot name (an arbitrary object)."""


def _key_value(v):
    """A config value as plain data for the cache key: tensors by their bytes' hash, dataclasses field by field."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, torch.Tensor):
        return f"tensor:{v.dtype}:{hashlib.sha1(tensor_bytes(v)).hexdigest()}"
    if isinstance(v, (list, tuple)):
        return [_key_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _key_value(x) for k, x in v.items()}
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: _key_value(getattr(v, f.name)) for f in fields(v) if f.compare}
    raise _Uncacheable(type(v).__name__)


def method_entry(name: str, start: nn.Module, split: Split, data: DeviceData, cfg) -> Path | None:
    """The cache entry of method `name` run from `start`, or None when it cannot be cached: a hook other than the
    trace is set (its side effects must happen), or the config holds a value the key cannot name.

    The key: the method's own `cache_entry` where it declares one (retrain: the retain set and the architecture),
    else its start model's weights (`weights_fingerprint`), its full config (hooks aside), its split
    (`Split.fingerprint`: every index array), the dataset's fingerprint and the device type."""
    hooks = [f.name for f in fields(cfg) if not f.compare and getattr(cfg, f.name) is not None]
    if any(h != "on_iteration" for h in hooks):
        return None
    own = custom_cache_entry(name)
    if own is not None:
        return own(start, split, data, cfg)
    try:
        plain = _key_value(cfg)
    except _Uncacheable:
        return None
    key = cache_key(kind="unlearned", method=name, cfg=plain, start=weights_fingerprint(start), dataset=data.name,
                    data=data.fingerprint, split=split.fingerprint(), device=torch.device(data.device).type)
    return entry_path("unlearned", f"{name}-{key}")


def run_method(name: str, start: nn.Module, split: Split, data: DeviceData, cfg: Any = None, *, cache: bool = True,
               trace: bool = False, **overrides) -> MethodRun:
    """`unlearn(name, start, ...)` through the on-disk cache (`method_entry`), with its measured run time.

    trace: collect what the method reports per iteration (a config with an `on_iteration` hook, as DAU's); the trace
    is stored with the cached entry, so a hit returns it too (an entry cached without one is recomputed)."""
    cfg = make_config(name, cfg, **overrides)
    wants = trace and "on_iteration" in {f.name for f in fields(cfg)}
    path = method_entry(name, start, split, data, cfg) if cache else None
    entry = load_entry(path) if path is not None else None
    if entry is not None and (not wants or "trace" in entry[1]):
        tensors, saved = entry
        model = copy.deepcopy(start)
        model.load_state_dict(tensors["state"])
        if "channels_last" in saved:  # the computed model's layout (entries written before it: the start's)
            set_layout(model, saved["channels_last"])
        return MethodRun(model.to(data.device).eval(), float(saved["seconds"]), list(saved.get("trace", [])), True)
    collected: list[dict] = []
    if wants:
        cfg = replace(cfg, on_iteration=collected.append)
    model, seconds = unlearn(name, start, split, data, cfg)
    if path is not None:
        save_entry(path, {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
                   {"method": name, "cfg": cfg, "seconds": seconds, "channels_last": channels_last_names(model),
                    **({"trace": collected} if wants else {})})
    return MethodRun(model, seconds, collected)


def run_methods(start: nn.Module, data: DeviceData, split: Split, methods: Sequence[tuple[str, Any]], *, seed: int = 0,
                cache: bool = True, trace: bool = False) -> Iterator[tuple[str, MethodRun]]:
    """Every method of `methods` ((registry name, config) pairs, each config given the seed) from `start`, one after
    another through the cache (`run_method`); yields (name, MethodRun) as each finishes, so a caller can evaluate
    a model and drop it before the next one runs."""
    for name, cfg in methods:
        yield name, run_method(name, start, split, data, with_seed(cfg, seed), cache=cache, trace=trace)


def cached_unlearn(name: str, model: nn.Module, split: Split, data: DeviceData, cfg: Any = None, *,
                   cache: bool = True, **overrides) -> tuple[nn.Module, float]:
    """(model, seconds) of `run_method`: one method through the cache (retrain included)."""
    run = run_method(name, model, split, data, cfg, cache=cache, **overrides)
    return run.model, run.seconds


def validation_view(data: DeviceData, split: Split, seed: int = 0) -> tuple[Split, DeviceData, Split]:
    """Score hyper-parameters on validation data, never on test: (method split, scoring data, scoring split).

    The validation set is halved at random (seeded): the methods see the first half as their validation set
    (DAU's non-members), and the second half plays the test set in the scoring view (its TA and the SVC
    attack's non-members), a copy of `data` whose test part is those training samples. Class-wise, the
    held-out half's samples of the forgotten classes become its test_forget. Training sets are unchanged,
    so the original and retrain come from the same cache entries as the notebooks'."""
    val = np.random.default_rng(seed).permutation(split.val)
    game, held = np.sort(val[: len(val) // 2]), np.sort(val[len(val) // 2:])
    if len(game) == 0 or len(held) == 0:
        raise ValueError(f"scoring on validation needs at least 2 validation samples, the split has {len(split.val)}")
    method_split = replace(split, val=game)
    view = replace(data, x_test=data.x_train[torch.as_tensor(held, device=data.device)],
                   y_test=data.y_train[torch.as_tensor(held, device=data.device)], fingerprint=data.fingerprint + "-valview")
    forgotten = np.isin(data.y_train[torch.as_tensor(held, device=data.device)].cpu().numpy(), split.forget_classes)
    positions = np.arange(len(held))
    score_split = replace(method_split, test=positions[~forgotten], test_forget=positions[forgotten])
    return method_split, view, score_split


@dataclass
class SettingRun:
    """One setting's outcome: its split, original, starting model (pruned or not), table rows (dicts, or
    PendingRows while their SVC attacks still run, on a GPU only), each method's run time and, when kept, its model."""

    split: Split
    original: nn.Module
    start: nn.Module
    rows: list
    seconds: dict[str, float]
    models: dict[str, nn.Module]


def run_setting(original: nn.Module, data: DeviceData, split: Split, sparsity: float,
                methods: Sequence[tuple[str, Any]], *, tune_cfg: TrainConfig | None = None, seed: int = 0,
                mia_max_per_side: int | None = None, mia_kinds: Sequence[str] = (), executor=None,
                tag: dict | None = None, trajectories: list | None = None, cache: bool = True,
                keep_models: bool = False, score: tuple[DeviceData, Split] | None = None,
                log: Callable[[str], None] | None = print, diverged: str = "raise") -> SettingRun:
    """original -> (sparsity > 0: prune and tune) -> every method of `methods` ((registry name, config)
    pairs, each config given the seed; `run_method`, each cached) -> evaluate. The first row is the starting
    model ("original").

    trajectories: a list that receives what methods report per iteration (an `on_iteration` config field, as
    DAU's; stored with the cached entry), each entry tagged with `tag`.
    keep_models: return the unlearned models too (by method name; otherwise they are dropped as soon as
    they are evaluated). score: (data, split) to evaluate on instead of (data, split), e.g. `validation_view`'s.
    diverged: what a method whose weights become non-finite does (`methods.unlearn`'s FloatingPointError): "raise"
    stops the run (the papers' tables: a diverging method there is a defect to fix); "row" makes it a row of its own,
    {"method", "diverged": the message}, no metrics and no cache entry, and the next method runs (a sweep's grid
    point; the beyond-the-paper table, whose baselines run at their references' steps)."""
    if diverged not in ("raise", "row"):
        raise ValueError(f"diverged must be 'raise' or 'row', got {diverged!r}")
    tag = dict(tag or {})
    if sparsity > 0:
        if tune_cfg is None:
            raise ValueError("a sparse setting needs tune_cfg, the schedule that tunes the pruned original")
        start, _ = prune_and_tune(original, data, split, sparsity, tune_cfg)
    else:
        start = original
    kw = dict(mia_max_per_side=mia_max_per_side, seed=seed, mia_kinds=tuple(mia_kinds), executor=executor)
    score_data, score_split = score or (data, split)
    # on a CPU the SVC attacks share the cores with the method that runs next: wait for each row's before the next
    # method starts, so every run time is measured alone on the cores, as retrain's (its training) is; on a GPU the
    # attacks run on the host beside the next method
    alone = data.device.type == "cpu"

    def scored(row):
        return row.result() if alone and isinstance(row, PendingRow) else row

    rows = [scored(evaluate(start, score_data, score_split, method="original", **kw))]
    seconds, models = {}, {}
    where = " ".join(f"{k} {v}" for k, v in tag.items())
    for name, cfg in methods:
        try:
            run = run_method(name, start, split, data, with_seed(cfg, seed), cache=cache, trace=trajectories is not None)
        except FloatingPointError as exc:
            if diverged == "raise":
                raise
            rows.append({"method": name, "diverged": str(exc)})
            seconds[name] = float("nan")
            if log is not None:
                log((f"{where}: " if where else "") + f"{name} diverged: {exc}")
            continue
        if trajectories is not None:
            trajectories.extend({**t, **tag} for t in run.trace)
        rows.append(scored(evaluate(run.model, score_data, score_split, method=name, runtime_s=run.seconds, **kw)))
        seconds[name] = run.seconds
        if keep_models:
            models[name] = run.model
        if log is not None:
            log((f"{where}: " if where else "") + f"{name} {run.seconds:.1f} s" + (" (cached)" if run.cached else ""))
    return SettingRun(split, original, start, rows, seconds, models)


def fit_columns(table: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Add the setting's starting model's ("original" row) accuracy on its whole training set (forget +
    retain), on the whole test set and their difference: orig_train_pct, orig_test_pct, orig_gap_pts. The
    gap is the membership signal every attack feeds on."""
    o = table[table.method == "original"]
    if o.empty:
        return table
    o = o.iloc[0]
    sizes = split.sizes()
    train = (sizes["forget"] * o.forget_acc_pct + sizes["retain"] * o.ra_pct) / (sizes["forget"] + sizes["retain"])
    n_t, n_tf = sizes["test"], sizes["test_forget"]
    test = o.ta_pct if not n_tf else (n_t * o.ta_pct + n_tf * o.test_forget_acc_pct) / (n_t + n_tf)
    return table.assign(orig_train_pct=train, orig_test_pct=test, orig_gap_pts=train - test)


def run_table(dataset: Dataset, data: DeviceData, setting: Setting, *, schemes: Sequence[str],
              sparsities: Sequence[float], seeds: Sequence[int], methods: Sequence[tuple[str, Any]],
              forget_fraction: float = 0.1, forget_class: int = 0, tune_cfg: TrainConfig | None = None,
              mia_kinds: Sequence[str] = (), executor=None, trajectories: list | None = None,
              out: Path | None = None, table_name: str = "table1_seeds", meta: dict | None = None,
              log: Callable[[str], None] | None = print, diverged: str = "raise") -> pd.DataFrame:
    """Every (seed, scheme, sparsity) of one dataset: the original (cached) per seed and scheme, then
    `run_setting`; rows carry seed, scheme and sparsity, Avg. Disparity against that setting's retrain, and
    how well that setting's starting model fits its training data (`fit_columns`).

    out: a results folder that receives each split (split_<scheme>_seed<seed>.json) and, after every
    setting, the table so far (`table_name`, with `meta`), so an interrupted run keeps what it finished.
    diverged: `run_setting`'s ("row": a diverging method's row holds `diverged` and no metrics)."""
    tune_cfg = tune_cfg or tune_config(setting.train)
    done = []
    table = pd.DataFrame()
    for seed in seeds:
        for scheme in schemes:
            split = setting_split(dataset, setting, scheme, forget_request(scheme, forget_fraction, forget_class), seed)
            if out is not None:
                split.save(Path(out) / f"split_{scheme}_seed{seed}.json")
            original, _ = train_original(setting.model, data, split, replace(setting.train, seed=seed))
            for sparsity in sparsities:
                tag = dict(seed=seed, scheme=scheme, sparsity=sparsity)
                run = run_setting(original, data, split, sparsity, methods, tune_cfg=tune_cfg, seed=seed,
                                  mia_max_per_side=setting.mia_max_per_side, mia_kinds=mia_kinds, executor=executor,
                                  tag=tag, trajectories=trajectories, log=log, diverged=diverged)
                done.append((tag, run.rows, split))
                table = pd.concat([fit_columns(results_table(collect(rows)), sp).assign(**t) for t, rows, sp in done],
                                  ignore_index=True)
                if out is not None:
                    save_table(table, Path(out) / table_name, meta)
    return table
