"""FT: fine-tune the original model on the retain set (Warnecke et al. 2021; Golatkar et al. 2020)."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..data import DeviceData, Split
from ..train import TrainConfig, clone, fit
from . import register


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 10  # Unlearn-Sparse: unlearn_epochs 10 for FT
    lr: float = 0.01  # Unlearn-Sparse FT: unlearn_lr 0.01 (constant, SGD momentum 0.9, wd 5e-4)
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    seed: int = 0
    progress: bool = False


@register("finetune", FinetuneConfig)
def finetune(model: nn.Module, split: Split, data: DeviceData, cfg: FinetuneConfig) -> nn.Module:
    """Continue training on the retain set at a small constant learning rate (catastrophic forgetting of the rest)."""
    out = clone(model)
    x, y = data.train_part(split.retain)
    tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer="sgd", lr=cfg.lr,
                     momentum=cfg.momentum, weight_decay=cfg.weight_decay, schedule="constant",
                     augment=cfg.augment, seed=cfg.seed)
    fit(out, x, y, tc, data=data, progress=cfg.progress, desc="finetune")
    return out
