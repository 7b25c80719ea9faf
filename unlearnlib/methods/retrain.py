"""Retrain: train from scratch on the retain set only; the gold standard every method is compared with."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn

from ..cache import cache_key, entry_path, indices_key
from ..data import DeviceData, Split
from ..models import architecture_fingerprint, reinitialize
from ..train import TrainConfig, channels_last_on, fit
from . import register


@dataclass(frozen=True)
class RetrainConfig:
    # The original model's own schedule, so retrain is a fair reference (Jia et al. 2023, Sec. 5.1);
    # notebooks pass the TrainConfig they trained the original with.
    train: TrainConfig = field(default_factory=TrainConfig)
    progress: bool = False


@register("retrain", RetrainConfig)
def retrain(model: nn.Module, split: Split, data: DeviceData, cfg: RetrainConfig) -> nn.Module:
    """Re-initialise the architecture (pruning masks kept) and train it on the retain set only."""
    # the masked weights drawn in the layout fit trains in, whatever the start's (models.reinitialize)
    fresh = reinitialize(model, seed=cfg.train.seed, channels_last=channels_last_on(data.device, cfg.train.cpu_bf16))
    x, y = data.train_part(split.retain)
    fit(fresh, x, y, cfg.train, data=data, progress=cfg.progress, desc="retrain")
    return fresh


def cache_entry(start: nn.Module, split: Split, data: DeviceData, cfg: RetrainConfig):
    """Where a retrained model is cached: keyed by all that retraining sees (the dataset, the retain indices, the
    architecture and pruning masks of the start model, not its weights, and the schedule), so a sweep scored on
    validation data and the notebook that share a retain set share the entry."""
    key = cache_key(kind="retrain", dataset=data.name, data=data.fingerprint, retain=indices_key(split.retain),
                    model=architecture_fingerprint(start), cfg=cfg.train)
    return entry_path("retrained", key)
