"""l1-sparse unlearning (Jia et al., NeurIPS 2023, "Model Sparsity Can Simplify Machine Unlearning"): fine-tuning on
the retain set with an l1 penalty on the parameters whose weight decays linearly over the epochs, as the authors' code
runs it (OPTML-Group/Unlearn-Sparse, `FT_prune` -> `FT_l1` -> `FT_iter(with_l1=True)`, unlearn/FT.py):

    for epoch e = 0 .. E-1:                                   (E = epochs; FT.py:92-100)
        a = alpha * (1 - e / (E - no_l1_epochs))  if e < E - no_l1_epochs
            alpha                                 if E == no_l1_epochs
            0                                     otherwise
        minimise CE(retain batch) + a * sum over every parameter of |theta|   (FT.py:14-18, 103-105)

The penalty is an unnormalised sum over all parameters (BatchNorm's and biases included); SGD's weight decay stays
on top of it (impl.py:72-77); the learning rate is constant over the 10 epochs (its MultiStepLR milestones 91, 136
are never reached). The reference sets no value for alpha (README: `--alpha ${alpha}`; the parser's 0.2 default is
shared with FF and IU): the default here is a placeholder for a validation-scored sweep. The README's command
(README.MD:86, `--num_indexes_to_replace 4500 --unlearn_lr 0.01 --unlearn_epochs 10`) leaves `--class_to_replace` at
the parser's default 0 (arg_parser.py:128-129), which forgets 4,500 images of class 0 (about all of it in their
45,000-image training split): its rate and epochs come from a class-wise command and are kept here for random
forgetting too, untuned (the sweep varies alpha only).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..data import DeviceData, Split
from ..models import clone
from ..train import default_loss, fit, train_config_from
from . import register
from .schedules import SparseSchedule


@dataclass(frozen=True)
class L1SparseConfig(SparseSchedule):
    epochs: int = 10  # Unlearn-Sparse README.MD:86 (--unlearn_epochs 10)
    lr: float = 0.01  # README.MD:86 (--unlearn_lr 0.01)
    alpha: float = 5e-4  # the l1 weight at the first epoch; the reference gives none (module docstring)
    no_l1_epochs: int = 0  # last epochs without the penalty (arg_parser.py:83, default 0)


def l1_weight(cfg: L1SparseConfig, epoch: int) -> float:
    """The l1 weight of 0-based `epoch` (FT.py:92-100)."""
    decay = cfg.epochs - cfg.no_l1_epochs
    if epoch < decay:
        return cfg.alpha * (1 - epoch / decay)
    return cfg.alpha if decay == 0 else 0.0


def l1_norm(model: nn.Module) -> torch.Tensor:
    """sum of |theta| over every parameter (FT.py:14-18)."""
    return sum(p.abs().sum() for p in model.parameters())


# cpu: FT's budget (the method is FT with an l1 penalty), 2 epochs against the original's 12; alpha 1e-5, the lowest
# mean validation Avg. Disparity of the grid 1e-5 / 1e-4 / 5e-4 over three seeds of both schemes (3.50, 3.56, 3.63;
# the reference gives no value), by the rule results/cpu/02_sweeps/README.md sets out (2026-12-06).
PRESETS = {"cpu": {"epochs": 2, "alpha": 1e-5}}


@register("l1_sparse", L1SparseConfig)
def l1_sparse(model: nn.Module, split: Split, data: DeviceData, cfg: L1SparseConfig) -> nn.Module:
    """Fine-tune on the retain set with a linearly decaying l1 penalty on every parameter."""
    if not 0 <= cfg.no_l1_epochs <= cfg.epochs:
        raise ValueError(f"l1_sparse.no_l1_epochs must lie in [0, epochs={cfg.epochs}], got {cfg.no_l1_epochs}")
    out = clone(model)
    x, y = data.train_part(split.retain)
    weight = [l1_weight(cfg, 0)]  # the current epoch's; fit's epochs are 1-based, the reference's 0-based

    def loss_fn(m, xb, yb, pos):
        return default_loss(m, xb, yb) + weight[0] * l1_norm(m)

    def next_epoch(epoch, m):
        weight[0] = l1_weight(cfg, epoch)  # fit's epoch `epoch` (1-based) just ended: the next is 0-based `epoch`
        return cfg.on_epoch_end(epoch, m) if cfg.on_epoch_end is not None else None

    fit(out, x, y, train_config_from(cfg, schedule="constant"), data=data, progress=cfg.progress, desc="l1_sparse",
        loss_fn=loss_fn, on_epoch_end=next_epoch)
    return out
