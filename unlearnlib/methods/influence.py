"""IU: influence unlearning with the WoodFisher inverse-Fisher approximation, as Unlearn-Sparse
(Jia et al. 2023, `Wfisher`) runs it (Izzo et al. 2021; Koh & Liang 2017; Singh & Alistarh 2020).

One Newton step removes the forget set's influence: theta <- theta + alpha * F^{-1} g_forget,
with g_forget the mean loss gradient over the forget set and F^{-1} v estimated by a
Sherman-Morrison recursion over the retain set's batch gradients g_1..g_N:
    o <- g_1;  for n >= 2:  t = o . g_n;  k <- k - (k . g_n) / (N + t) * o;  o <- o - t / (N + t) * o
starting from k = g_forget (Unlearn-Sparse's single-direction form of WoodFisher).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..data import DeviceData, Split
from ..gradients import add_flat_, batch_loss_grads, mean_loss_grad
from ..train import clone
from . import register


@dataclass(frozen=True)
class InfluenceConfig:
    alpha: float = 10.0  # step size of the Newton step; Unlearn-Sparse tunes it per setting
    retain_batch_size: int = 32  # Unlearn-Sparse: retain batches of 32
    forget_batch_size: int = 128  # Unlearn-Sparse: forget batches of 128


def woodfisher_ihvp(model: nn.Module, x, y, v, batch_size: int = 32):
    """Unlearn-Sparse's WoodFisher estimate of F^{-1} v from the batch gradients of (x, y)."""
    n = (len(x) + batch_size - 1) // batch_size
    k = v.clone()
    o = None
    for g in batch_loss_grads(model, x, y, batch_size):
        if o is None:
            o = g.clone()
            continue
        t = o.dot(g)
        k -= (k.dot(g) / (n + t)) * o
        o -= (t / (n + t)) * o
    return k


@register("influence", InfluenceConfig)
def influence(model: nn.Module, split: Split, data: DeviceData, cfg: InfluenceConfig) -> nn.Module:
    """theta + alpha * WoodFisher(F_retain)^{-1} grad L_forget."""
    out = clone(model)
    xf, yf = data.train_part(split.forget)
    xr, yr = data.train_part(split.retain)
    g_forget = mean_loss_grad(out, xf, yf, cfg.forget_batch_size)
    add_flat_(out, cfg.alpha * woodfisher_ihvp(out, xr, yr, g_forget, cfg.retain_batch_size))
    return out
