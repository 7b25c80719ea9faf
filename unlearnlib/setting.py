"""The shared setting of each profile: dataset, model, the original's schedule and the split sizes.

    smoke   CI and nbval: every code path in seconds on 2 CPU cores; numbers are not meaningful
    quick   `python run_all.py`: the embedded digits, meaningful numbers in minutes on a CPU
    cpu     the papers' real data and split sizes with a network sized for 2 CPU cores (bf16 + channels_last)
    paper   the papers' datasets, models and schedules, for a GPU

Every notebook's config (`unlearnlib.papers`) starts from its profile's `Setting`; the sweep and the benchmark
read it with `setting(profile)`. Why each value was chosen, with the measurements: results/<profile>/NOTES.md.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from .config import ConfigError, apply_overrides
from .data import DATASETS
from .train import TrainConfig

PROFILE_NAMES = ("smoke", "quick", "cpu", "paper")


@dataclass(frozen=True)
class Setting:
    """Data, model and the original model's schedule: what every notebook's config starts from."""

    dataset: str = "digits"  # digits, mnist, fashion_mnist, cifar10, cifar100, svhn
    model: str = "mlp"  # a `models.create_model` name
    train: TrainConfig = field(default_factory=TrainConfig)  # the original model's schedule (and retrain's)
    train_size: int | None = None  # training samples used (None = all)
    test_size: int | None = None  # test samples used (None = all)
    val_size: int | float = 0.1  # held-out validation samples: a count, or a fraction of the training part
    mia_max_per_side: int | None = None  # SVC attack sample cap per side (None = as many as test)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of {sorted(DATASETS)} (spelt as listed)")

    def check_class(self, name: str, value) -> None:
        """Raise ConfigError, before anything runs, when the class id of field `name` is not one of the dataset's."""
        n = DATASETS[self.dataset].num_classes
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < n:
            raise ConfigError(f"{name}={value} is not a class of {self.dataset!r}, whose classes are 0..{n - 1}: "
                              f"pass one of them with -p {name.upper()}")


SETTINGS: dict[str, Setting] = {
    "smoke": Setting(dataset="digits", model="mlp", train_size=600, test_size=200, val_size=60, mia_max_per_side=200,
                     train=TrainConfig(epochs=3, batch_size=64, optimizer="sgd", lr=0.05, schedule="onecycle",
                                       weight_decay=5e-4, augment=False)),
    "quick": Setting(dataset="digits", model="small_cnn", val_size=0.1,
                     train=TrainConfig(epochs=15, batch_size=64, optimizer="sgd", lr=0.05, schedule="onecycle",
                                       weight_decay=5e-4, nesterov=True, label_smoothing=0.0, augment=True)),
    # CIFAR-10 on Unlearn-Sparse's 45k / 5k and the whole test part; small_cnn in bf16 + channels_last, flips only
    # (results/cpu/NOTES.md: why no crops)
    "cpu": Setting(dataset="cifar10", model="small_cnn", val_size=5000, mia_max_per_side=2000,
                   train=TrainConfig(epochs=12, batch_size=256, optimizer="sgd", lr=0.15, momentum=0.9, nesterov=True,
                                     weight_decay=5e-4, schedule="onecycle", warmup=0.2, label_smoothing=0.0,
                                     augment="flip", cpu_bf16=True)),
    # CIFAR ResNet-18 on 45k / 5k with a one-cycle recipe (results/paper/README.md: the benchmark behind it)
    "paper": Setting(dataset="cifar10", model="resnet18", val_size=5000,
                     train=TrainConfig(epochs=40, batch_size=512, optimizer="sgd", lr=0.4, momentum=0.9, nesterov=True,
                                       weight_decay=5e-4, schedule="onecycle", warmup=0.2, label_smoothing=0.0,
                                       augment=True)),
}


def check_profile(profile: str) -> None:
    if profile not in SETTINGS:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {list(SETTINGS)}")


def setting(profile: str, **overrides) -> Setting:
    """The shared setting of `profile`, with overrides checked (`train` takes a dict of TrainConfig fields)."""
    check_profile(profile)
    return apply_overrides(SETTINGS[profile], overrides)


def choices(name: str, values, allowed) -> None:
    """Raise ConfigError unless every value (at least one) is in `allowed`."""
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ConfigError(f"{name} takes {'values' if len(values) != 1 else 'a value'} from {list(allowed)}, "
                          f"got {list(values) if len(values) != 1 else values[0]!r}")


PROFILE_ENV = "UNLEARNLIB_PROFILE"
DEFAULT_PROFILE = "quick"


def profile_from(value: str = "") -> str:
    """The profile a notebook runs at: `value` (its parameters cell's PROFILE, which run_all sets), else
    $UNLEARNLIB_PROFILE (how a hand run in JupyterLab chooses one without editing the committed notebook:
    `UNLEARNLIB_PROFILE=smoke jupyter lab`), else quick. Checked against the profiles."""
    import os

    profile = value or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    check_profile(profile)
    return profile
