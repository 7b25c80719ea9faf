"""FF: Fisher forgetting (Golatkar, Achille & Soatto, CVPR 2020), in the two forms Unlearn-Sparse has.

form "golatkar" (default; Unlearn-Sparse's README runs FF as `fisher_new`, Golatkar et al.'s code):
a diagonal Hessian H of the retain set (`gradients.expected_fisher_diag`: squared batch gradients of
the loss towards every class, weighted by the model's mean probability of that class), then
    var = alpha * min(1 / (H + 1e-8), max_var)           (max_var 1e3; 1e2 for the head)
averaged over each weight tensor's input dimension, times head_scale (10) for the head and for 1-D
parameters (BatchNorm, biases); theta <- mu + sqrt(var) * N(0, I). mu is theta, except that in
class-wise forgetting the head's row of the forgotten class is set to 0 with var 1e-4 (Golatkar's
class-forgetting case). Unlearn-Sparse triggers that case by `num_indexes_to_replace == 4500`,
which also fires in its random forgetting of 4,500 samples and then zeroes class -1 (the last);
we take it for class-wise forgetting only.

form "clamped" (Unlearn-Sparse's `fisher`): the diagonal empirical Fisher F of the retain set
(per-sample squared log-likelihood gradients), theta <- theta + min(sqrt(alpha / F), max_std) * N(0, I),
the head's noise times head_scale. Its clamp (1e-3) keeps the change small at any alpha: on the
CIFAR-10 ResNet-18 it changed nothing measurable (results/paper/02_sweeps).

alpha sets the strength in both forms and is tuned per setting, as Unlearn-Sparse does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..data import DeviceData, Split
from ..gradients import expected_fisher_diag, squared_sample_grads, trainable
from ..models import clone
from . import register

FORMS = ("golatkar", "clamped")


@dataclass(frozen=True)
class FisherConfig:
    form: str = "golatkar"  # "golatkar" (Unlearn-Sparse's fisher_new, its README's FF) or "clamped" (its `fisher`)
    alpha: float = 1e-8  # noise scale; tuned per setting (notebook 02 sets it per profile)
    max_var: float = 1e3  # golatkar: cap of 1 / H
    head_max_var: float = 1e2  # golatkar: cap of 1 / H for the head
    max_std: float = 1e-3  # clamped: Unlearn-Sparse clamps the noise std at 1e-3
    head_scale: float = 10.0  # the head's noise (golatkar: variance; also 1-D parameters) x10
    max_samples: int | None = None  # retain samples for the estimate (None = all)
    batch_size: int = 64  # clamped: per-sample gradient chunk
    hessian_batch_size: int = 32  # golatkar: Unlearn-Sparse's batch of 32 (the estimate uses batch gradients)
    batched: bool | None = None  # golatkar: per-class backward passes vmapped (None: on CUDA only)
    eps: float = 1e-8
    seed: int = 0
    cpu_bf16: bool = False  # TrainConfig.cpu_bf16: golatkar's Hessian passes in bf16 on a CPU (gradients module)


def _head(model: nn.Module) -> set[int]:
    return {id(p) for p in model.head.parameters()} if hasattr(model, "head") else set()


# alpha 1e-7 at every profile (results/quick/02_sweeps, results/paper/02_sweeps); the Hessian estimate from a
# sample of the retain set where all of it is too slow (smoke 100; cpu 4,000: results/cpu/NOTES.md)
PRESETS = {"smoke": {"alpha": 1e-7, "max_samples": 100}, "quick": {"alpha": 1e-7},
           "cpu": {"alpha": 1e-7, "max_samples": 4000}, "paper": {"alpha": 1e-7}}


@register("fisher", FisherConfig)
def fisher(model: nn.Module, split: Split, data: DeviceData, cfg: FisherConfig) -> nn.Module:
    """Gaussian noise on the weights, scaled by the inverse curvature of the retain loss."""
    if cfg.form not in FORMS:
        raise ValueError(f"unknown Fisher forgetting form {cfg.form!r}; choose one of {FORMS}")
    out = clone(model)
    idx = np.asarray(split.retain)
    if cfg.max_samples is not None and cfg.max_samples < len(idx):
        idx = np.sort(np.random.default_rng(cfg.seed).choice(idx, cfg.max_samples, replace=False))
    x, y = data.train_part(idx)
    head = _head(out)
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed)
    if cfg.form == "clamped":
        sq = squared_sample_grads(out, x, y, cfg.batch_size)
        with torch.no_grad():
            for (_, p), s in zip(trainable(out), sq):
                std = torch.sqrt(cfg.alpha / (s / len(idx) + cfg.eps)).clamp(max=cfg.max_std)
                if id(p) in head:
                    std = std * cfg.head_scale
                p.add_(std * torch.randn(p.shape, device=p.device, generator=gen))
        return out
    forgotten = list(split.forget_classes) if split.scheme == "class" else None
    hess = expected_fisher_diag(out, x, cfg.hessian_batch_size, cfg.batched, cpu_bf16=cfg.cpu_bf16)
    with torch.no_grad():
        for (_, p), h in zip(trainable(out), hess):
            is_head = id(p) in head
            var = (1.0 / (h + cfg.eps)).clamp(max=cfg.head_max_var if is_head else cfg.max_var) * cfg.alpha
            if p.ndim > 1:
                var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
            if is_head and forgotten:
                p[forgotten] = 0.0  # the mean of the forgotten class's head row
                var[forgotten] = 1e-4
            if is_head or p.ndim == 1:
                var = var * cfg.head_scale
            p.add_(var.sqrt() * torch.randn(p.shape, device=p.device, generator=gen))
    return out
