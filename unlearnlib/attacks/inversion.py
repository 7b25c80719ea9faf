"""Model inversion (Fredrikson, Jha & Ristenpart, CCS 2015, MI-Face), with the periodic
denoising step Graves et al. (AAAI 2021) add: gradient descent on the input image to minimise
the cost c(x) = 1 - p_target(x); every `denoise_every` steps the image is smoothed (a 3x3
Gaussian blur) and clipped to valid pixels; stop after `steps` or when the cost stops falling.

Two practical choices beyond the paper's description: the image starts at the data's mean
pixel (not black), and each step is scaled by the gradient's largest entry, so that a model
whose softmax saturates (tiny gradients of 1 - p) still moves the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..train import model_device


@dataclass(frozen=True)
class InversionConfig:
    steps: int = 500  # gradient steps (Fredrikson et al.: alpha = 5000 with early stopping)
    lr: float = 0.05  # largest per-pixel change per step, on [0, 1] pixels
    denoise_every: int = 50  # Graves et al.'s periodic denoising
    patience: int = 100  # stop when the best cost has not improved for this many steps
    min_cost: float = 0.0  # stop once the cost falls to this (Fredrikson's gamma)


def _blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    k = (k[:, None] * k[None, :]) / 16.0
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)


def invert(model: nn.Module, target_class: int, shape: tuple[int, int, int], mean: torch.Tensor, std: torch.Tensor,
           cfg: InversionConfig = InversionConfig()) -> tuple[torch.Tensor, float]:
    """Reconstruct a representative input of `target_class`.

    shape: (C, H, W); mean, std: the model's input normalisation (C,). Returns the image in
    [0, 1] pixels, (C, H, W) on the CPU, and the model's probability of the class for it.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    m = mean.to(device).view(1, -1, 1, 1)
    s = std.to(device).view(1, -1, 1, 1)
    x = m.expand(1, *shape).clone().requires_grad_(True)
    best, best_cost, since = x.detach().clone(), float("inf"), 0
    try:
        for step in range(1, cfg.steps + 1):
            prob = F.softmax(model((x - m) / s).float(), dim=1)[0, target_class]
            cost = 1.0 - prob
            grad, = torch.autograd.grad(cost, x)
            with torch.no_grad():
                x -= cfg.lr * grad / grad.abs().max().clamp_min(1e-12)
                if cfg.denoise_every and step % cfg.denoise_every == 0:
                    x.copy_(_blur(x))
                x.clamp_(0.0, 1.0)
            c = float(cost.detach())
            if c < best_cost - 1e-6:
                best, best_cost, since = x.detach().clone(), c, 0
            else:
                since += 1
            if best_cost <= cfg.min_cost or since >= cfg.patience:
                break
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)
    with torch.no_grad():
        final = float(F.softmax(model((best - m) / s).float(), dim=1)[0, target_class])
    return best[0].cpu(), final
