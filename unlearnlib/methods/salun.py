"""SalUn: saliency unlearning (Fan et al., ICLR 2024), as its authors' code runs it (OPTML-Group/Unlearn-Saliency,
Classification/):

1. The weight saliency mask (generate_mask.py:14-82): the gradient of the forget set's cross-entropy, summed over
   its batches (batch 256, shuffled, the training augmentation, the model in eval mode), in absolute value; the mask
   keeps the top `threshold` share of all parameter entries, ranked globally across every parameter (BatchNorm and
   head included), not per layer. Their README runs the 0.5 mask (README.md:34).
2. Random-label unlearning restricted to the mask (unlearn/RL.py:109-176, their CIFAR-10 and SVHN path): each epoch
   a pass over the forget set with labels drawn uniformly at random per batch (a draw may repeat the true label),
   then a pass over the retain set with its labels, one SGD step per batch, the gradient multiplied by the mask
   before each step. `combine="concat"` is their CIFAR-100 path instead (RL.py:51-107): the forget set relabelled
   once per epoch and merged with the retain set into one shuffled set.

What the mask freezes (`freeze`): "weights", their current code (RL.py:17-49, after commit a6e89fd "Fix weight
decay", 2026): after each step, the weights outside the mask return to their values at the epoch's start and the
momentum buffer is masked, so only salient weights ever move, as the paper's equation theta_u = m * (dtheta +
theta_o) + (1 - m) * theta_o states; "gradients", their code before that fix (e.g. ac880a2, May 2024; the code of
October 2023, 9576623, also masked only the gradient, but built the mask in train mode with optimiser steps between
batches, fixed in December 2023, and ran CIFAR-10 on the concat path): only the gradient is masked, so SGD's weight
decay and momentum still move the other weights.

Optimiser: SGD, momentum 0.9, weight decay 5e-4 (unlearn/impl.py:68-73), 10 epochs at a constant 0.013 (their README
command; the parser's default is 0.01), batch 256. They give no class-wise learning rate (their README's only
command is 10 % random forgetting); for the group's related Unlearn-WorstCase, a maintainer says unlearning rates were
grid-searched over [1e-4, 1e-1] (OPTML-Group/Unlearn-WorstCase issue #1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import DeviceData, Split
from ..gradients import batch_grads, trainable
from ..models import clone
from . import register
from .loops import Stepper, epoch_end
from .schedules import SparseSchedule

FREEZES = ("weights", "gradients")
COMBINES = ("sequential", "concat")


@dataclass(frozen=True)
class SalUnConfig(SparseSchedule):
    epochs: int = 10  # README.md:34 (--unlearn_epochs 10)
    lr: float = 0.013  # README.md:34 (--unlearn_lr 0.013)
    threshold: float = 0.5  # share of parameter entries in the mask (README.md:34: mask/with_0.5.pt)
    mask_batch_size: int = 256  # arg_parser.py:69 (--batch_size 256), the loader generate_mask.py:108-118 builds
    freeze: str = "weights"  # "weights" (their current code) | "gradients" (the paper-era code); module docstring
    combine: str = "sequential"  # "sequential" (their CIFAR-10 path) | "concat" (their CIFAR-100 path)

    def __post_init__(self):
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"salun.threshold is the share of weights SalUn may change, in (0, 1]; got {self.threshold}")
        for name, allowed in (("freeze", FREEZES), ("combine", COMBINES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"salun.{name} takes one of {list(allowed)}, got {getattr(self, name)!r}")


def saliency_mask(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threshold: float, batch_size: int = 256,
                  stepper: Stepper | None = None, cpu_bf16: bool = False) -> list[torch.Tensor]:
    """Per trainable parameter, a 0/1 mask of the top `threshold` share of |sum over forget batches of the gradient
    of the batch's mean cross-entropy|, ranked across all parameters together (eval mode; the stepper's shuffled,
    augmented batches when given; the passes in bf16 on a CPU with cpu_bf16, as the stepper's training)."""
    source = stepper.batches(x, y, batch_size) if stepper is not None else None
    acc = [torch.zeros_like(p, dtype=torch.float32) for _, p in trainable(model)]
    for grads in batch_grads(model, x, y, batch_size, source=source, cpu_bf16=cpu_bf16):
        for a, g in zip(acc, grads):
            a += g
    flat = torch.cat([a.abs().flatten() for a in acc])
    keep = int(len(flat) * threshold)
    chosen = torch.zeros(len(flat), dtype=torch.bool, device=flat.device)
    if keep:
        chosen[torch.topk(flat, keep, sorted=False).indices] = True
    masks, i = [], 0
    for a in acc:
        masks.append(chosen[i:i + a.numel()].view_as(a).to(a.dtype))
        i += a.numel()
    return masks


# cpu: FT's budget, 2 epochs (each a forget then a retain pass) against the original's 12; threshold and lr stay the
# reference's until the validation-scored sweep set out in results/cpu/02_sweeps/README.md chooses them.
PRESETS = {"cpu": {"epochs": 2}}


@register("salun", SalUnConfig)
def salun(model: nn.Module, split: Split, data: DeviceData, cfg: SalUnConfig) -> nn.Module:
    """Random-label unlearning of the forget set, moving only the weights most salient to it."""
    out = clone(model)
    stepper = Stepper(out, cfg, data)
    xf, yf = data.train_part(split.forget)
    xr, yr = data.train_part(split.retain)
    mask = saliency_mask(out, xf, yf, cfg.threshold, cfg.mask_batch_size, stepper, cfg.cpu_bf16)
    params = [p for _, p in trainable(out)]
    k = data.num_classes
    gen = torch.Generator(device=data.device).manual_seed(cfg.seed)  # on the data's device: no host sync per batch

    def mask_grads():
        for p, m in zip(params, mask):
            if p.grad is not None:
                p.grad.mul_(m.to(p.grad.dtype))

    keep = [m.bool() for m in mask]

    def restore(start):
        def after():
            with torch.no_grad():
                for p, m, p0 in zip(params, keep, start):
                    torch.where(m, p, p0, out=p)
                    buf = stepper.opt.state.get(p, {}).get("momentum_buffer")
                    if buf is not None:
                        buf.mul_(m.to(buf.dtype))
        return after

    def ce(xb, yb):
        return lambda: F.cross_entropy(out(xb), yb)

    for epoch in range(1, cfg.epochs + 1):
        out.train()
        start = [p.detach().clone() for p in params]
        after = restore(start) if cfg.freeze == "weights" else None
        if cfg.combine == "sequential":
            for xb, _ in stepper.batches(xf, yf, cfg.batch_size):
                rand = torch.randint(0, k, (len(xb),), generator=gen, device=xb.device)
                stepper.step(ce(xb, rand), mask_grads, after)
            for xb, yb in stepper.batches(xr, yr, cfg.batch_size):
                stepper.step(ce(xb, yb), mask_grads, after)
        else:
            rand = torch.randint(0, k, (len(xf),), generator=gen, device=xf.device)
            for xb, yb in stepper.batches(torch.cat([xf, xr]), torch.cat([rand, yr]), cfg.batch_size):
                stepper.step(ce(xb, yb), mask_grads, after)
        epoch_end(cfg, epoch, out)
    out.eval()
    return out
