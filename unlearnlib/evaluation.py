"""One call evaluates a model on a Split and returns a table row (a dict)."""
from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch.nn as nn

from .attacks.mia import svc_mia
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


class PendingRow:
    """A table row whose SVC attacks still run in an executor; `result()` waits and returns the dict."""

    def __init__(self, row: dict, futures: dict[str, Future]):
        self._row, self._futures = row, futures

    def result(self) -> dict:
        for col, fut in self._futures.items():
            self._row[col] = fut.result()
        self._futures = {}
        return self._row


def collect(rows) -> list[dict]:
    """Rows from `evaluate`, some of them pending, as plain dicts (waits for the pending ones)."""
    return [r.result() if isinstance(r, PendingRow) else r for r in rows]


def evaluate(model: nn.Module, data: DeviceData, split: Split, *, method: str = "",
             runtime_s: float | None = None, mia_max_per_side: int | None = None, seed: int = 0,
             mia_kinds=(), executor: Executor | None = None):
    """UA, MIA-Efficacy, RA, TA (percent) and run time of `model` on `split`.

    MIA-Efficacy: SVC on confidence, retain (members) vs test (non-members), balanced and
    capped at mia_max_per_side per side; percent of forget predicted non-member. Each further
    feature kind in `mia_kinds` (correctness, entropy, modified_entropy, ...) adds a column
    mia_<kind>_pct. For class-wise splits, TA is on the retained classes and
    test_forget_acc_pct on the forgotten ones.

    The SVC fits take seconds each on a CPU (10,000 samples a side at the paper profile); with an
    `executor` (a ThreadPoolExecutor: libsvm releases the GIL) they run in the background and a
    PendingRow is returned, so the next method can train meanwhile: pass the rows to `collect`.
    """
    out = outputs(model, data, split)
    p, y = out.probs, out.labels
    acc = {k: accuracy_pct(p[k].argmax(1), y[k]) if len(y[k]) else float("nan") for k in p}
    row = {
        "method": method,
        "ua_pct": unlearning_accuracy(p["forget"].argmax(1), y["forget"]),
        "mia_efficacy_pct": None,
        "ra_pct": acc["retain"],
        "ta_pct": acc["test"],
        "forget_acc_pct": acc["forget"],
        "val_acc_pct": acc["val"],
        "test_forget_acc_pct": acc["test_forget"],
    }
    if runtime_s is not None:
        row["runtime_s"] = float(runtime_s)
    columns = {"mia_efficacy_pct": "confidence"}
    columns.update({f"mia_{k}_pct": k for k in mia_kinds})

    def attack(kind):
        return svc_mia(p["retain"], y["retain"], p["test"], y["test"], p["forget"], y["forget"], (kind,),
                       max_per_side=mia_max_per_side, seed=seed)[kind]

    if executor is None:
        row.update({col: attack(kind) for col, kind in columns.items()})
        return row
    return PendingRow(row, {col: executor.submit(attack, kind) for col, kind in columns.items()})


def results_table(rows: list[dict], reference: str | None = "retrain") -> pd.DataFrame:
    """Rows -> DataFrame; adds avg_disparity (vs. the `reference` method's row) when present."""
    df = pd.DataFrame(rows)
    if reference is not None and "method" in df and (df["method"] == reference).any():
        ref = df[df["method"] == reference].iloc[0].to_dict()
        df["avg_disparity"] = [avg_disparity(r, ref) for r in df.to_dict("records")]
    return df
