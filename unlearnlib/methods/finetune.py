"""FT: fine-tune the original model on the retain set (Warnecke et al. 2021; Golatkar et al. 2020)."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..data import DeviceData, Split
from ..models import clone
from ..train import fit, train_config_from
from . import register
from .schedules import SparseSchedule


@dataclass(frozen=True)
class FinetuneConfig(SparseSchedule):
    epochs: int = 10  # Unlearn-Sparse: unlearn_epochs 10 for FT
    lr: float = 0.01  # Unlearn-Sparse FT: unlearn_lr 0.01


def continue_on_retain(model: nn.Module, split: Split, data: DeviceData, cfg, desc: str) -> nn.Module:
    """A copy of `model` trained further on the retain set at cfg's constant learning rate."""
    out = clone(model)
    x, y = data.train_part(split.retain)
    fit(out, x, y, train_config_from(cfg, schedule="constant"), data=data, progress=cfg.progress, desc=desc,
        on_epoch_end=cfg.on_epoch_end)
    return out


# cpu: 2 epochs against the original's 12 (Unlearn-Sparse's 10 against its 182-epoch original would be under one)
PRESETS = {"cpu": {"epochs": 2}}


@register("finetune", FinetuneConfig)
def finetune(model: nn.Module, split: Split, data: DeviceData, cfg: FinetuneConfig) -> nn.Module:
    """Continue training on the retain set at a small constant learning rate (catastrophic forgetting of the rest)."""
    return continue_on_retain(model, split, data, cfg, "finetune")
