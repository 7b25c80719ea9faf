"""GA: gradient ascent on the forget set (Thudi et al. 2022; Jia et al. 2023's baseline)."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..data import DeviceData, Split
from ..losses import negative_cross_entropy
from ..models import clone
from ..train import fit, train_config_from
from . import register
from .schedules import SparseSchedule


@dataclass(frozen=True)
class GradAscentConfig(SparseSchedule):
    epochs: int = 5  # Unlearn-Sparse runs GA for a few epochs over the forget set
    lr: float = 1e-4  # small: ascent diverges fast; Unlearn-Sparse tunes it per setting


@register("grad_ascent", GradAscentConfig)
def grad_ascent(model: nn.Module, split: Split, data: DeviceData, cfg: GradAscentConfig) -> nn.Module:
    """Maximise the cross-entropy on the forget set (SGD on -CE), nothing else."""
    out = clone(model)
    x, y = data.train_part(split.forget)
    fit(out, x, y, train_config_from(cfg, schedule="constant"), data=data, progress=cfg.progress, desc="grad_ascent",
        loss_fn=lambda m, xb, yb, pos: negative_cross_entropy(m(xb), yb), on_epoch_end=cfg.on_epoch_end)
    return out
