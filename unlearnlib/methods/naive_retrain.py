"""Naive retraining as Graves et al. (AAAI 2021) mean it: keep training the trained model on the
retain set only, with the original optimiser, and let the forget data fade."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..data import DeviceData, Split
from . import register
from .finetune import continue_on_retain
from .schedules import GravesSchedule


@dataclass(frozen=True)
class NaiveRetrainConfig(GravesSchedule):
    epochs: int = 5  # Graves et al. Table 1 follows epochs 1-5


@register("naive_retrain", NaiveRetrainConfig)
def naive_retrain(model: nn.Module, split: Split, data: DeviceData, cfg: NaiveRetrainConfig) -> nn.Module:
    """Continue training the original model on the retain set (the forget data are simply dropped)."""
    return continue_on_retain(model, split, data, cfg, "naive_retrain")
