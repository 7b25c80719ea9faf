"""Amnesiac unlearning (Graves, Nagisetty & Ganesh, AAAI 2021, Sec. "Amnesiac Unlearning").

While the original model trains, the parameter update of every batch that holds samples of a
forget request is added to that request's running sum:

    theta_M = theta_initial + sum_{e,b} delta_{e,b};    theta_M' = theta_M - sum_{sb} delta_{sb}

where sb runs over the "sensitive" batches. To unlearn, the sum is subtracted; optionally a few
repair epochs on the retain set follow (the paper keeps training after the removal; its Table 1
reports epochs 0' and 1-5). Only trainable parameters are recorded (BN running statistics are
buffers, not updates), and no model copy per batch is kept: one snapshot of the parameters plus
one running sum per request. The recording itself lives in `unlearnlib.recording`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn

from ..data import DeviceData, Split
from ..models import clone
from ..recording import AmnesiacRecord
from . import register
from .finetune import continue_on_retain
from .schedules import GravesSchedule


def subtract_updates(model: nn.Module, record: AmnesiacRecord, request: str) -> nn.Module:
    """theta_M - sum of the request's recorded batch updates, as a new model."""
    if request not in record.sums:
        raise KeyError(f"no recorded updates for request {request!r}; recorded: {sorted(record.sums)}")
    out = clone(model)
    # a pruned copy names its masked weights "<layer>.parametrizations.weight.original"
    params = {_dense_name(n): p for n, p in out.named_parameters() if p.requires_grad}
    recorded = tuple(_dense_name(n) for n in record.names)
    if set(params) != set(recorded):
        raise ValueError("the record was made on a model with other parameters; record while training this model")
    with torch.no_grad():
        for name, delta in zip(recorded, record.sums[request]):
            p = params[name]
            p.copy_((p.to(delta.dtype) - delta.to(p.device)).to(p.dtype))
    return out


def _dense_name(name: str) -> str:
    return name.replace("parametrizations.", "").replace(".original", "")


@dataclass(frozen=True)
class AmnesiacConfig(GravesSchedule):
    """Repair epochs use GravesSchedule's optimiser (the Amnesiac ML notebooks')."""

    MIN_EPOCHS: ClassVar[int] = 0  # 0 repair epochs: the subtraction alone (the paper's epoch 0')

    record: AmnesiacRecord | None = None  # from AmnesiacRecorder, made while training the original
    request: str = "forget"  # which recorded forget request to remove
    epochs: int = 0  # repair epochs on the retain set after the removal (the paper keeps training)


@register("amnesiac", AmnesiacConfig)
def amnesiac(model: nn.Module, split: Split, data: DeviceData, cfg: AmnesiacConfig) -> nn.Module:
    """Subtract the recorded updates of batches that held forget samples; optional repair epochs on retain."""
    if cfg.record is None:
        raise ValueError("amnesiac unlearning needs the updates recorded while the original trained: "
                         "train it with train_original(..., record_requests={name: indices}) and pass "
                         "AmnesiacConfig(record=info['amnesiac'], request=name)")
    out = subtract_updates(model, cfg.record, cfg.request)
    if cfg.epochs > 0:
        out = continue_on_retain(out, split, data, cfg, "amnesiac repair")
    return out
