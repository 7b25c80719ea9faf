"""Run profiles: smoke (CI, seconds), quick (laptop CPU, minutes), paper (the papers' scale, a GPU).

A notebook's parameters cell names PROFILE; its setup cell takes sizes and schedules from
here unless a parameter overrides them (parameters left at None mean "the profile's value").
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .train import TrainConfig


@dataclass(frozen=True)
class Profile:
    name: str
    dataset: str  # default dataset
    model: str  # default architecture
    train_size: int | None  # training samples used (None = all)
    test_size: int | None  # test samples used (None = all)
    val_size: int | float  # held-out validation samples (count or fraction)
    train: TrainConfig = field(default_factory=TrainConfig)  # the original model's schedule
    mia_max_per_side: int | None = None  # SVC attack sample cap per side (None = as many as test)
    seeds: tuple[int, ...] = (0,)


PROFILES: dict[str, Profile] = {
    # CI / nbval: every code path, seconds on 2 CPU cores; numbers are not meaningful.
    "smoke": Profile("smoke", "digits", "mlp", 600, 200, 60,
                     TrainConfig(epochs=3, batch_size=64, optimizer="sgd", lr=0.05, schedule="onecycle",
                                 weight_decay=5e-4, augment=False), mia_max_per_side=200),
    # python run_all.py: the embedded digits, a 0.4M-parameter CNN, meaningful numbers in minutes.
    "quick": Profile("quick", "digits", "small_cnn", None, None, 0.1,
                     TrainConfig(epochs=15, batch_size=64, optimizer="sgd", lr=0.05, schedule="onecycle",
                                 weight_decay=5e-4, nesterov=True, label_smoothing=0.0, augment=True)),
    # GPU: CIFAR ResNet-18 on 45k/5k (Unlearn-Sparse's split). Schedule: a one-cycle recipe
    # (batch 512, bf16) instead of Unlearn-Sparse's 182-epoch multistep run, about 40 s on one
    # H100 (`python -m unlearnlib.bench --profiles paper`). Plain cross-entropy, no label
    # smoothing: smoothing caps confidences and would blunt the membership attacks.
    "paper": Profile("paper", "cifar10", "resnet18", None, None, 5000,
                     TrainConfig(epochs=40, batch_size=512, optimizer="sgd", lr=0.4, momentum=0.9, nesterov=True,
                                 weight_decay=5e-4, schedule="onecycle", warmup=0.2, label_smoothing=0.0,
                                 augment=True)),
}


def get_profile(name: str, **overrides) -> Profile:
    """The named profile with non-None keyword overrides applied (train= a dict of TrainConfig fields)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    p = PROFILES[name]
    train_over = overrides.pop("train", None) or {}
    p = replace(p, **{k: v for k, v in overrides.items() if v is not None})
    train_over = {k: v for k, v in train_over.items() if v is not None}
    return replace(p, train=replace(p.train, **train_over)) if train_over else p
