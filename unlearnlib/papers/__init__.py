"""Each paper a room: one module per notebook holding its config class, its named profile instances and its claims.

    quickstart    00_quickstart                              no claims
    amnesiac_ml   01_amnesiac_unlearning                     Graves et al. (AAAI 2021)
    dau           02_discriminative_adversarial_unlearning   Sharma et al. (2024)
    contrastive   03_contrastive_unlearning                  Wang & Chen (2024)
    careful       04_careful_evaluation                      beyond the papers (Hayes et al. 2024)

A notebook's parameters cell names PROFILE and a dict OVERRIDES; `notebook_config(notebook, profile, overrides)`
returns the room's instance with the overrides checked (unknown names, unparsable values and wrong types are errors
that name the field). A dotted name overrides a method's field (`{"dau.alpha": 0.5}`) in a notebook that runs
registered methods; run_all's `-p NAME VALUE` fills OVERRIDES after the same check. The notebook's checks cell and the
report call the same claim rules (`room.claims()`), so a threshold is written once.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

from ..config import ConfigError, apply_overrides
from ..setting import PROFILE_NAMES
from . import amnesiac_ml, careful, contrastive, dau, quickstart

ROOMS: dict[str, ModuleType] = {m.NOTEBOOK: m for m in (quickstart, amnesiac_ml, dau, contrastive, careful)}


def room(notebook: str) -> ModuleType:
    """The paper's module of a notebook (by stem)."""
    if notebook not in ROOMS:
        raise ConfigError(f"no config for notebook {notebook!r}; known: {sorted(ROOMS)}")
    return ROOMS[notebook]


def config_class(notebook: str):
    """The config dataclass of a notebook (by stem), or None for a notebook without one."""
    return type(ROOMS[notebook].PROFILES["quick"]) if notebook in ROOMS else None


def runs_methods(notebook: str) -> bool:
    """Whether the notebook's config lists registered methods (and so takes `method.field` overrides)."""
    cls = config_class(notebook)
    return cls is not None and "method_overrides" in cls.__dataclass_fields__


def notebook_config(notebook: str, profile: str, overrides: dict[str, Any] | None = None):
    """The notebook's config at `profile`, with `overrides` (field -> value; `method.field` -> value) checked and
    applied. Method overrides merge into the profile's `method_overrides`."""
    profiles = room(notebook).PROFILES
    if profile not in profiles:
        raise ConfigError(f"unknown profile {profile!r} for {notebook}; choose one of {list(profiles)}")
    base = profiles[profile]
    overrides = dict(overrides or {})
    if "profile" in overrides:
        raise ConfigError("the profile is chosen by PROFILE (run_all --profile), not by an override")
    dotted = {k: overrides.pop(k) for k in list(overrides) if "." in k}
    if dotted or "method_overrides" in overrides:
        if not runs_methods(notebook):
            raise ConfigError(f"{notebook} runs no registered methods, so it takes no method override "
                              f"{sorted(dotted) or ['method_overrides']}")
        merged = {m: dict(v) for m, v in base.method_overrides.items()}
        given = overrides.pop("method_overrides", None) or {}
        if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
            raise ConfigError(f"method_overrides takes a dict of method -> {{field: value}}, got {given!r}")
        for m, v in given.items():
            merged.setdefault(m, {}).update(v)
        for key, v in dotted.items():
            m, name = key.split(".", 1)
            merged.setdefault(m, {})[name] = v
        overrides["method_overrides"] = merged
    return apply_overrides(base, overrides)


__all__ = ["PROFILE_NAMES", "ROOMS", "room", "config_class", "runs_methods", "notebook_config"]
