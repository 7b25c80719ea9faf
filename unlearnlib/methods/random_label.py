"""Random-label unlearning (Graves et al., AAAI 2021, the "relabeling" baseline).

Every forget sample gets a label drawn uniformly from the *other* classes (never its true one;
the Amnesiac ML notebook's draw could keep it, a bug not copied here), and the model trains on
the relabelled forget set together with the retain set for k epochs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..data import DeviceData, Split
from ..models import clone
from ..train import fit, train_config_from
from . import register
from .schedules import GravesSchedule


def random_wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each label, a uniform draw from the num_classes - 1 other classes."""
    if num_classes < 2:
        raise ValueError("random relabelling needs at least two classes")
    shift = torch.randint(1, num_classes, y.shape, generator=generator, device="cpu").to(y.device)
    return (y + shift) % num_classes


@dataclass(frozen=True)
class RandomLabelConfig(GravesSchedule):
    # the paper reports forgetting after the first epoch and follows the model to epoch 5 (Table 1)
    epochs: int = 1


@register("random_label", RandomLabelConfig)
def random_label(model: nn.Module, split: Split, data: DeviceData, cfg: RandomLabelConfig) -> nn.Module:
    """Relabel forget samples with uniformly drawn wrong labels and train on them plus the retain set."""
    out = clone(model)
    xf, yf = data.train_part(split.forget)
    xr, yr = data.train_part(split.retain)
    wrong = random_wrong_labels(yf, data.num_classes, torch.Generator().manual_seed(cfg.seed))
    x, y = torch.cat([xf, xr]), torch.cat([wrong, yr])
    fit(out, x, y, train_config_from(cfg, schedule="constant"), data=data, progress=cfg.progress, desc="random_label", on_epoch_end=cfg.on_epoch_end)
    return out
