"""One call evaluates a model on a Split and returns a table row (a dict)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch.nn as nn

from .attacks.mia import mia_efficacy
from .data import DeviceData, Split
from .metrics import accuracy_pct, avg_disparity, softmax, unlearning_accuracy
from .train import predict


@dataclass
class Outputs:
    """Softmax outputs (N, K) and labels of each part of a split, as numpy arrays."""

    probs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def outputs(model: nn.Module, data: DeviceData, split: Split,
            parts=("forget", "retain", "val", "test", "test_forget")) -> Outputs:
    probs, labels = {}, {}
    for part in parts:
        idx = getattr(split, part)
        x, y = data.test_part(idx) if part.startswith("test") else data.train_part(idx)
        logits = predict(model, x).numpy() if len(idx) else np.zeros((0, data.num_classes))
        probs[part] = softmax(logits) if len(idx) else logits
        labels[part] = y.cpu().numpy()
    return Outputs(probs, labels)


def evaluate(model: nn.Module, data: DeviceData, split: Split, *, method: str = "",
             runtime_s: float | None = None, mia_max_per_side: int | None = None, seed: int = 0) -> dict:
    """UA, MIA-Efficacy, RA, TA (percent) and run time of `model` on `split`.

    MIA-Efficacy: SVC on confidence, retain (members) vs test (non-members), balanced and
    capped at mia_max_per_side per side; percent of forget predicted non-member.
    For class-wise splits, TA is on the retained classes and test_forget_acc_pct on the
    forgotten ones.
    """
    out = outputs(model, data, split)
    p, y = out.probs, out.labels
    acc = {k: accuracy_pct(p[k].argmax(1), y[k]) if len(y[k]) else float("nan") for k in p}
    row = {
        "method": method,
        "ua_pct": unlearning_accuracy(p["forget"].argmax(1), y["forget"]),
        "mia_efficacy_pct": mia_efficacy(p["retain"], y["retain"], p["test"], y["test"], p["forget"], y["forget"],
                                         max_per_side=mia_max_per_side, seed=seed),
        "ra_pct": acc["retain"],
        "ta_pct": acc["test"],
        "forget_acc_pct": acc["forget"],
        "val_acc_pct": acc["val"],
        "test_forget_acc_pct": acc["test_forget"],
    }
    if runtime_s is not None:
        row["runtime_s"] = float(runtime_s)
    return row


def results_table(rows: list[dict], reference: str | None = "retrain") -> pd.DataFrame:
    """Rows -> DataFrame; adds avg_disparity (vs. the `reference` method's row) when present."""
    df = pd.DataFrame(rows)
    if reference is not None and "method" in df and (df["method"] == reference).any():
        ref = df[df["method"] == reference].iloc[0].to_dict()
        df["avg_disparity"] = [avg_disparity(r, ref) for r in df.to_dict("records")]
    return df
