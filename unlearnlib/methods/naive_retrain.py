"""Naive retraining as Graves et al. (AAAI 2021) mean it: keep training the trained model on the
retain set only, with the original optimiser, and let the forget data fade."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from ..data import DeviceData, Split
from . import register
from .finetune import continue_on_retain


@dataclass(frozen=True)
class NaiveRetrainConfig:
    # Amnesiac ML notebooks: Adam, lr 1e-3, batch 64, no augmentation; Table 1 follows epochs 1-5.
    epochs: int = 5
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    augment: bool = False
    seed: int = 0
    progress: bool = False
    on_epoch_end: Callable | None = field(default=None, compare=False)


@register("naive_retrain", NaiveRetrainConfig)
def naive_retrain(model: nn.Module, split: Split, data: DeviceData, cfg: NaiveRetrainConfig) -> nn.Module:
    """Continue training the original model on the retain set (the forget data are simply dropped)."""
    return continue_on_retain(model, split, data, cfg, "naive_retrain")
