"""Numpy in, numbers out: unlearning metrics, per-sample MIA features and attack scores.

Conventions follow Unlearn-Sparse (Jia et al., NeurIPS 2023), which DAU adopts:
UA = 100 - accuracy on the forget set; RA, TA = accuracy on retain and test; all in percent.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

_EPS = 1e-30


def accuracy_pct(pred: np.ndarray, y: np.ndarray) -> float:
    """Percent of pred == y (nan for an empty set)."""
    pred, y = np.asarray(pred), np.asarray(y)
    return float(100.0 * np.mean(pred == y)) if len(y) else float("nan")


def unlearning_accuracy(forget_pred: np.ndarray, forget_y: np.ndarray) -> float:
    """UA = 100 - forget accuracy (percent)."""
    return 100.0 - accuracy_pct(forget_pred, forget_y)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- per-sample features


def correctness(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where argmax equals the label, else 0.0."""
    return (np.argmax(probs, axis=1) == np.asarray(y)).astype(np.float64)


def confidence(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """p_y: the probability of the true label."""
    return np.asarray(probs, dtype=np.float64)[np.arange(len(y)), np.asarray(y)]


def entropy(probs: np.ndarray) -> np.ndarray:
    """-sum_i p_i log p_i (nats)."""
    p = np.asarray(probs, dtype=np.float64)
    return -np.sum(p * np.log(np.maximum(p, _EPS)), axis=1)


def modified_entropy(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Song & Mittal (USENIX Security 2021), eq. for Mentr:

        Mentr(p, y) = -(1 - p_y) log(p_y) - sum_{i != y} p_i log(1 - p_i)

    Low for confident correct predictions, high for confident wrong ones. (Unlearn-Sparse's
    SVC_MIA writes log(1 - p) as log(p) and indexes whole columns; this is the paper's formula.)
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    rows = np.arange(len(y))
    p_y = p[rows, y]
    log_p = np.log(np.maximum(p, _EPS))
    log_1mp = np.log(np.maximum(1.0 - p, _EPS))
    term_true = -(1.0 - p_y) * log_p[rows, y]
    others = -p * log_1mp
    others[rows, y] = 0.0
    return term_true + others.sum(axis=1)


FEATURES = ("correctness", "confidence", "entropy", "modified_entropy", "probability")


def mia_features(probs: np.ndarray, y: np.ndarray, kind: str) -> np.ndarray:
    """(N, d) feature matrix for an attack on `kind` (one of FEATURES).

    probability is the whole softmax vector (N, K); the others are one column.
    """
    if kind == "correctness":
        f = correctness(probs, y)
    elif kind == "confidence":
        f = confidence(probs, y)
    elif kind == "entropy":
        f = entropy(probs)
    elif kind == "modified_entropy":
        f = modified_entropy(probs, y)
    elif kind == "probability":
        return np.asarray(probs, dtype=np.float64)
    else:
        raise ValueError(f"unknown MIA feature {kind!r}; choose one of {FEATURES}")
    return f.reshape(-1, 1)


# --------------------------------------------------------------------------- attack scores


def roc_auc(scores: np.ndarray, is_member: np.ndarray) -> float:
    """Area under the ROC curve of `scores` (higher = member); ties count half."""
    from sklearn.metrics import roc_auc_score

    is_member = np.asarray(is_member).astype(bool)
    if is_member.all() or not is_member.any():
        return float("nan")
    return float(roc_auc_score(is_member, scores))


def tpr_at_fpr(scores: np.ndarray, is_member: np.ndarray, fpr: float = 0.01) -> float:
    """Highest true-positive rate with false-positive rate <= fpr (Carlini et al. 2022)."""
    from sklearn.metrics import roc_curve

    is_member = np.asarray(is_member).astype(bool)
    if is_member.all() or not is_member.any():
        return float("nan")
    f, t, _ = roc_curve(is_member, scores)
    ok = f <= fpr
    return float(t[ok].max()) if ok.any() else 0.0


def attack_scores(pred_member: np.ndarray, is_member: np.ndarray, scores: np.ndarray | None = None) -> dict:
    """Accuracy, precision, recall (percent), ROC AUC and TPR at 1 % FPR of a membership attack.

    pred_member: hard decisions (1 = member); scores: soft scores for AUC / TPR (default the decisions).
    """
    pred = np.asarray(pred_member).astype(bool)
    truth = np.asarray(is_member).astype(bool)
    tp = np.sum(pred & truth)
    out = {
        "accuracy_pct": float(100.0 * np.mean(pred == truth)) if len(truth) else float("nan"),
        "precision_pct": float(100.0 * tp / pred.sum()) if pred.sum() else float("nan"),
        "recall_pct": float(100.0 * tp / truth.sum()) if truth.sum() else float("nan"),
    }
    s = pred.astype(np.float64) if scores is None else np.asarray(scores, dtype=np.float64)
    out["auc"] = roc_auc(s, truth)
    out["tpr_at_1pct_fpr"] = tpr_at_fpr(s, truth, 0.01)
    return out


# --------------------------------------------------------------------------- comparison with retrain

DISPARITY_COLUMNS = ("ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct")


def avg_disparity(row: Mapping[str, float], reference: Mapping[str, float],
                  columns: tuple[str, ...] = DISPARITY_COLUMNS) -> float:
    """Mean absolute gap to the reference (Retrain) row over UA, MIA-Efficacy, RA and TA."""
    missing = [c for c in columns if c not in row or c not in reference]
    if missing:
        raise KeyError(f"avg_disparity needs columns {missing} in both rows")
    return float(np.mean([abs(float(row[c]) - float(reference[c])) for c in columns]))
