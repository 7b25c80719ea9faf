"""Unlearning methods, registered by name. Every method has the signature

    method(model, split, data, cfg) -> new model

returns a new model, never mutates its input, takes its device from the model, and reads
no globals. `unlearn(name, ...)` runs one and measures its run time.

A method's file holds its frozen config (defaults cited to their sources) and, where a profile needs other values,
`PRESETS = {profile: {field: value}}` beside it. `preset_config(name, profile, train=..., overrides=...)` is the
config every notebook, the sweep and the shadow jobs run a method with: defaults, then the start model's training
setting, then the profile's preset, then the caller's overrides.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from ..config import ConfigError, apply_overrides, checked_values, field_types
from ..data import DeviceData, Split
from ..train import model_device


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[..., nn.Module]
    config: type
    summary: str


_METHODS: dict[str, MethodSpec] = {}


def register(name: str, config: type):
    """Decorator: register `fn` under `name` with its frozen config dataclass."""
    def deco(fn):
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        _METHODS[name] = MethodSpec(name, fn, config, doc[0] if doc else "")
        return fn
    return deco


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def list_methods() -> list[str]:
    _load_all()
    return sorted(_METHODS)


def get_method(name: str) -> MethodSpec:
    _load_all()
    if name not in _METHODS:
        raise ValueError(f"unknown unlearning method {name!r}; choose one of {sorted(_METHODS)}")
    return _METHODS[name]


def make_config(name: str, cfg: Any = None, **overrides):
    """The method's config: `cfg` (or its defaults) with keyword overrides applied, each checked against its field's
    type (a TypeError naming `name.field`; values are kept as given, e.g. an int for a float field, numpy scalars
    become Python numbers); a nested config (retrain's `train`) takes a config or a dict of its fields, merged into
    the current one."""
    spec = get_method(name)
    cfg = cfg if cfg is not None else spec.config()
    if not isinstance(cfg, spec.config):
        raise TypeError(f"method {name!r} takes a {spec.config.__name__}, got {type(cfg).__name__}")
    types_ = field_types(spec.config)
    unknown = sorted(set(overrides) - set(types_))
    if unknown:
        raise TypeError(f"{spec.config.__name__} has no field(s) {unknown}; fields: {sorted(types_)}")
    try:
        values = checked_values(cfg, overrides, prefix=f"{name}.")
    except ConfigError as exc:
        raise TypeError(str(exc)) from None
    # as given (an int for a float field keeps the cache key it had), but a nested config's dict merged in and a
    # numpy scalar as the Python number it stands for, as checked
    return replace(cfg, **{k: values[k] if isinstance(v, (dict, np.generic)) else v for k, v in overrides.items()})


def presets(name: str) -> dict[str, dict[str, Any]]:
    """The method's PRESETS (profile -> field values), declared in its module beside its config; {} if none."""
    spec = get_method(name)
    return dict(getattr(importlib.import_module(spec.fn.__module__), "PRESETS", {}))


def custom_cache_entry(name: str):
    """The method's own `cache_entry(start, split, data, cfg) -> Path`, declared in its module where what determines
    its result differs from the default (its start model's weights, config, split and data; retrain: the retain set
    and the architecture), else None."""
    return getattr(importlib.import_module(get_method(name).fn.__module__), "cache_entry", None)


def preset_config(name: str, profile: str | None = None, *, train: Any = None,
                  overrides: dict[str, Any] | None = None):
    """The method's config at `profile`: its defaults; then the start model's training setting `train` (a
    TrainConfig: a config with a `train` field, retrain's, gets it whole, one with `cpu_bf16` follows it); then
    PRESETS[profile]; then `overrides` (field -> value, type-checked: a ConfigError names `name.field`)."""
    spec = get_method(name)
    cfg = spec.config()
    names = {f.name for f in fields(cfg)}
    if train is not None:
        cfg = replace(cfg, **({"train": train} if "train" in names else {}),
                      **({"cpu_bf16": train.cpu_bf16} if "cpu_bf16" in names else {}))
    table = presets(name)
    if profile is not None and profile in table:
        cfg = apply_overrides(cfg, table[profile], prefix=f"{name}.")
    return apply_overrides(cfg, dict(overrides or {}), prefix=f"{name}.")


WEIGHTS = ("alpha", "beta", "gamma", "lam")  # loss weights and step sizes: 0 switches a term off


def check_config(name: str, cfg: Any, prefix: str = "") -> None:
    """Reject hyper-parameters that would run but give a wrong or empty result: batch sizes, epochs and
    iterations below 1 (a config may lower the epochs floor with a class attribute MIN_EPOCHS, as amnesiac's
    repair epochs, where 0 means none), learning rates that are not finite and positive, loss weights that
    are not finite and non-negative. Nested configs (retrain's TrainConfig) are checked too."""
    problems = []
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            try:
                check_config(name, v, prefix=f"{key}.")
            except ValueError as exc:
                problems.append(str(exc).split(": ", 1)[1])
            continue
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        floor = getattr(cfg, "MIN_EPOCHS", 1) if f.name == "epochs" else 1
        if (f.name.endswith("batch_size") or f.name in ("epochs", "iterations", "woodfisher_n")) and v < floor:
            problems.append(f"{key} must be an integer >= {floor}, got {v}")
        elif (f.name == "lr" or f.name.endswith("_lr")) and not (math.isfinite(v) and v > 0):
            problems.append(f"{key} must be a finite positive learning rate, got {v}")
        elif f.name in WEIGHTS and not (math.isfinite(v) and v >= 0):
            problems.append(f"{key} must be finite and >= 0 (0 switches it off), got {v}")
    if problems:
        raise ValueError(f"method {name!r}: " + "; ".join(problems))


def with_seed(cfg: Any, seed: int):
    """cfg with its `seed` field (or its TrainConfig's, for retrain) set; unchanged if it has none."""
    names = {f.name for f in fields(cfg)}
    if "seed" in names:
        return replace(cfg, seed=seed)
    if "train" in names:
        return replace(cfg, train=replace(cfg.train, seed=seed))
    return cfg


def unlearn(name: str, model: nn.Module, split: Split, data: DeviceData, cfg: Any = None,
            **overrides) -> tuple[nn.Module, float]:
    """Run method `name`; return (unlearned model, run time in seconds)."""
    spec = get_method(name)
    cfg = make_config(name, cfg, **overrides)
    check_config(name, cfg)
    if len(split.forget) == 0:
        raise ValueError("the forget set is empty: nothing to unlearn")
    device = model_device(model)
    if device != data.device:
        raise ValueError(f"model on {device} but data on {data.device}; move one of them")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = spec.fn(model, split, data, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if out is model:
        raise RuntimeError(f"method {name!r} returned its input model; methods must return a new one")
    finite = torch.stack([torch.isfinite(p).all() for p in out.parameters()])  # one host sync, not one per tensor
    if not bool(finite.all()):
        bad = [n for (n, _), ok in zip(out.named_parameters(), finite.tolist()) if not ok]
        knobs = [f.name for f in fields(cfg) if f.name == "lr" or f.name.startswith("lr_") or f.name.endswith("_lr")
                 or f.name in WEIGHTS]
        raise FloatingPointError(f"method {name!r} produced non-finite weights ({len(bad)} tensors, e.g. {bad[0]}); "
                                 f"lower its step: {', '.join(f'{k}={getattr(cfg, k)}' for k in knobs) or 'its config'}")
    out.eval()
    return out, seconds


__all__ = ["register", "list_methods", "get_method", "make_config", "check_config", "unlearn", "with_seed",
           "presets", "preset_config", "custom_cache_entry", "MethodSpec"]
