"""What every paper's notebook config shares: built from its profile's Setting, and (for notebooks that run
registered methods) the method list with per-method overrides on top of each method's preset.

    cfg = notebook_config("02_discriminative_adversarial_unlearning", "cpu", {"dau.alpha": 0.5})
    cfg.method_config("dau")        # DAU's defaults -> the cpu preset (methods/dau.py) -> alpha 0.5
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..config import ConfigError, acts_on
from ..methods import get_method, list_methods, preset_config
from ..setting import SETTINGS, Setting, check_profile, choices


@dataclass(frozen=True)
class MethodsRun(Setting):
    """A notebook config that runs registered methods: which, and how each differs from its profile's preset."""

    profile: str | None = None  # the profile whose method presets apply (set by `from_setting`; None: defaults)
    methods: tuple[str, ...] = ("retrain",)  # registered method names, in the order they run
    # per-method field overrides on top of the preset, e.g. {"dau": {"alpha": 0.5}}; run_all's -p DAU.ALPHA 0.5 and
    # OVERRIDES {"dau.alpha": 0.5} land here, in every notebook that runs the method
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        super().__post_init__()
        choices("methods", self.methods, list_methods())
        check_method_overrides(self, list_methods(), "registered")

    def method_config(self, name: str):
        """Method `name`'s config in this notebook: defaults, this setting's training (retrain's schedule, the CPU bf16
        switch), the profile's preset, then `method_overrides[name]`."""
        return preset_config(name, self.profile, train=self.train, overrides=overrides_of(self, name))

    def runs(self) -> tuple[str, ...]:
        """Every method a run of this notebook may run (`methods`, and any further ones a room adds): the methods a
        `-p METHOD.FIELD` override reaches."""
        return tuple(self.methods)

    def method_configs(self) -> list[tuple[str, Any]]:
        """(name, config) of every method this notebook runs, in order."""
        return [(name, self.method_config(name)) for name in self.methods]

    def out_of_scope(self, name: str, setting: dict) -> set[str]:
        """The fields of method `name`'s config that do not act in `setting` (a row's scheme and sparsity; fields
        declared with `config.scoped`): the row store leaves them out of that row's key (`PER_METHOD` tables). An
        unregistered name (a row of a method since removed) has none."""
        try:
            spec = get_method(name)
        except ValueError:
            return set()
        return {f.name for f in fields(spec.config) if not acts_on(f, setting)}


def retrain_config(cfg, train):
    """Retrain's config in the notebook config `cfg` for a start model trained by `train` (a TrainConfig): that
    schedule, so retrain is the fair reference, then the user's `method_overrides["retrain"]` (e.g. -p
    RETRAIN.PROGRESS True), so an override of retrain reaches every notebook that retrains, those whose start
    models are not the setting's original (notebook 03's supervised model, notebook 01's per-run seed) included."""
    return preset_config("retrain", getattr(cfg, "profile", None), train=train, overrides=overrides_of(cfg, "retrain"))


def overrides_of(cfg, name: str) -> dict[str, Any]:
    """The user's overrides of method `name` in the notebook config `cfg` (its `method_overrides[name]`; none: {})."""
    ov = cfg.method_overrides.get(name) or {}
    if not isinstance(ov, dict):
        raise ConfigError(f"method_overrides[{name!r}] takes a dict of {name} config fields, got {ov!r}")
    return ov


def check_method_overrides(cfg, known, whose: str) -> None:
    """The checks a notebook config with `method_overrides` runs when it is built: a dict of method -> {field:
    value}, each method one of `known` (`whose` names that list in the error), and every override type-checked by
    building the method's config (`cfg.method_config`) now, not mid-run."""
    if not isinstance(cfg.method_overrides, dict):
        raise ConfigError(f"method_overrides takes a dict of method -> {{field: value}}, got {cfg.method_overrides!r}")
    unknown = sorted(set(cfg.method_overrides) - set(known))
    if unknown:
        raise ConfigError(f"method_overrides names unknown method(s) {unknown}; {whose}: {list(known)}")
    for name in cfg.method_overrides:
        cfg.method_config(name)


def from_setting(profile: str, cls, **values):
    """An instance of the notebook config `cls` at `profile`: its Setting's fields, then `values` (keywords only)."""
    check_profile(profile)
    base = SETTINGS[profile]
    names = {f.name for f in fields(cls)}
    start = {f.name: getattr(base, f.name) for f in fields(Setting)}
    if "profile" in names:
        start["profile"] = profile
    return cls(**{**start, **values})
