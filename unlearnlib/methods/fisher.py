"""FF: Fisher forgetting (Golatkar, Achille & Soatto, CVPR 2020), in the form Unlearn-Sparse runs.

The diagonal empirical Fisher of the retain set, F = E_retain[(d log p_y / d theta)^2], tells which
weights the retain set needs; noise is added where it does not:
    theta <- theta + min(sqrt(alpha / F), max_std) * N(0, I),
with the head's noise scaled up (Unlearn-Sparse multiplies the last layer's by 10).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..data import DeviceData, Split
from ..gradients import squared_sample_grads, trainable
from ..train import clone
from . import register


@dataclass(frozen=True)
class FisherConfig:
    alpha: float = 1e-7  # noise scale; Unlearn-Sparse tunes it per setting (its examples use 1e-6 to 1e-9)
    max_std: float = 1e-3  # Unlearn-Sparse clamps the noise std at 1e-3
    head_scale: float = 10.0  # Unlearn-Sparse: last layer's noise x10
    max_samples: int | None = None  # retain samples for the Fisher estimate (None = all)
    batch_size: int = 64
    eps: float = 1e-8
    seed: int = 0


@register("fisher", FisherConfig)
def fisher(model: nn.Module, split: Split, data: DeviceData, cfg: FisherConfig) -> nn.Module:
    """Add Gaussian noise with std sqrt(alpha / F_retain), clamped, to every weight."""
    out = clone(model)
    idx = np.asarray(split.retain)
    if cfg.max_samples is not None and cfg.max_samples < len(idx):
        idx = np.sort(np.random.default_rng(cfg.seed).choice(idx, cfg.max_samples, replace=False))
    x, y = data.train_part(idx)
    sq = squared_sample_grads(out, x, y, cfg.batch_size)
    head = {id(p) for p in out.head.parameters()} if hasattr(out, "head") else set()
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
    with torch.no_grad():
        for (name, p), s in zip(trainable(out), sq):
            fisher_diag = s / len(idx) + cfg.eps
            std = torch.sqrt(cfg.alpha / fisher_diag).clamp(max=cfg.max_std)
            if id(p) in head:
                std = std * cfg.head_scale
            p.add_(std * torch.randn(p.shape, device=p.device, generator=gen))
    return out
