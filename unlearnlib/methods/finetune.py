"""FT: fine-tune the original model on the retain set (Warnecke et al. 2021; Golatkar et al. 2020)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from ..data import DeviceData, Split
from ..train import clone, fit, train_config_from
from . import register


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 10  # Unlearn-Sparse: unlearn_epochs 10 for FT
    lr: float = 0.01  # Unlearn-Sparse FT: unlearn_lr 0.01 (constant, SGD momentum 0.9, wd 5e-4)
    optimizer: str = "sgd"
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    seed: int = 0
    progress: bool = False
    on_epoch_end: Callable | None = field(default=None, compare=False)  # fit's per-epoch hook


def continue_on_retain(model: nn.Module, split: Split, data: DeviceData, cfg, desc: str) -> nn.Module:
    """A copy of `model` trained further on the retain set at cfg's constant learning rate."""
    out = clone(model)
    x, y = data.train_part(split.retain)
    fit(out, x, y, train_config_from(cfg, schedule="constant"), data=data, progress=cfg.progress, desc=desc,
        on_epoch_end=cfg.on_epoch_end)
    return out


@register("finetune", FinetuneConfig)
def finetune(model: nn.Module, split: Split, data: DeviceData, cfg: FinetuneConfig) -> nn.Module:
    """Continue training on the retain set at a small constant learning rate (catastrophic forgetting of the rest)."""
    return continue_on_retain(model, split, data, cfg, "finetune")
