"""Optimiser settings shared by method configs (no method is registered here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class GravesSchedule:
    """The Amnesiac ML notebooks' optimiser (lmgraves/AmnesiacML): Adam, lr 1e-3, batch 64,
    no augmentation, constant learning rate. Subclasses add `epochs` and their own fields."""

    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    augment: bool = False
    seed: int = 0
    cpu_bf16: bool = False  # TrainConfig.cpu_bf16: bf16 autocast + channels_last on a CPU (the cpu profile's originals)
    progress: bool = False
    on_epoch_end: Callable | None = field(default=None, compare=False)  # fit's per-epoch hook


@dataclass(frozen=True)
class SparseSchedule:
    """Unlearn-Sparse's unlearning optimiser (Jia et al. 2023): SGD, momentum 0.9, weight decay
    5e-4, constant learning rate, the dataset's augmentation. Subclasses add `epochs` and `lr`."""

    optimizer: str = "sgd"
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    seed: int = 0
    cpu_bf16: bool = False  # TrainConfig.cpu_bf16: bf16 autocast + channels_last on a CPU (the cpu profile's originals)
    progress: bool = False
    on_epoch_end: Callable | None = field(default=None, compare=False)  # fit's per-epoch hook
