"""Per-epoch measurements while a method unlearns: accuracies, attack recall, inversions.

`EpochMonitor.callback(method)` gives the `on_epoch_end` hook a method config accepts; call
`measure(method, label, model)` for points outside training (epoch 0, the removal step 0').
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch.nn as nn

from .attacks.inversion import InversionConfig, invert
from .attacks.shadow import ShadowAttack
from .data import DeviceData, Split
from .evaluation import outputs
from .metrics import accuracy_pct


@dataclass
class EpochMonitor:
    """Accuracy on forget / test / test-forget, attack recall on forget, inversions, per epoch."""

    data: DeviceData
    split: Split
    attack: ShadowAttack | None = None
    invert_class: int | None = None
    inversion: InversionConfig = field(default_factory=InversionConfig)
    rows: list[dict] = field(default_factory=list)
    images: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # time spent measuring, per method

    def measure(self, method: str, label: str, model: nn.Module) -> dict:
        start = time.perf_counter()
        row = {"method": method, "epoch": label}
        parts = [p for p in ("forget", "test", "test_forget") if len(getattr(self.split, p))]
        o = outputs(model, self.data, self.split, parts=parts)
        for part in parts:
            row[f"{part}_acc_pct"] = accuracy_pct(o.probs[part].argmax(1), o.labels[part])
        if "forget" in parts and self.attack is not None:
            row["mia_recall_forget"] = self.attack.recall(o.probs["forget"], o.labels["forget"])
        if self.invert_class is not None:
            img, conf = invert(model, self.invert_class, (self.data.in_channels, self.data.image_size,
                                                          self.data.image_size), self.data.mean, self.data.std,
                               self.inversion)
            self.images[(method, label)] = img.permute(1, 2, 0).numpy()
            row["inversion_confidence"] = conf
        self.rows.append(row)
        self.seconds[method] = self.seconds.get(method, 0.0) + time.perf_counter() - start
        return row

    def callback(self, method: str):
        """on_epoch_end hook: measures after each training epoch, labelled "1", "2", ..."""
        def hook(epoch: int, model: nn.Module) -> dict:
            return self.measure(method, str(epoch), model)
        return hook

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)
