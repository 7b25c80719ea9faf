"""Metric-based membership inference: an SVC on per-sample features, and thresholds.

MIA-Efficacy (Jia et al. 2023, Unlearn-Sparse `SVC_MIA`, adopted by DAU): an
`SVC(C=3, kernel="rbf", gamma="auto")` is fitted on a feature of retain samples (members,
label 1) against test samples (non-members, label 0); MIA-Efficacy is the percentage of the
forget set it predicts as non-member. Higher means more forgetting.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import FEATURES, attack_scores, mia_features


@dataclass
class SVCAttack:
    """An SVC fitted on one feature kind of members vs non-members."""

    kind: str
    clf: object

    @classmethod
    def fit(cls, member_probs, member_y, nonmember_probs, nonmember_y, kind: str = "confidence",
            max_per_side: int | None = None, seed: int = 0) -> "SVCAttack":
        """Fit on balanced classes: the larger side is sub-sampled to the smaller (seeded),
        as Unlearn-Sparse does by taking as many retain samples as test samples."""
        from sklearn.svm import SVC

        rng = np.random.default_rng(seed)
        n = min(len(member_y), len(nonmember_y))
        if max_per_side is not None:
            n = min(n, int(max_per_side))
        if n == 0:
            raise ValueError("the SVC attack needs at least one member and one non-member sample")
        mi = np.sort(rng.choice(len(member_y), n, replace=False))
        ni = np.sort(rng.choice(len(nonmember_y), n, replace=False))
        x = np.concatenate([mia_features(np.asarray(member_probs)[mi], np.asarray(member_y)[mi], kind),
                            mia_features(np.asarray(nonmember_probs)[ni], np.asarray(nonmember_y)[ni], kind)])
        t = np.concatenate([np.ones(n), np.zeros(n)])
        clf = SVC(C=3, gamma="auto", kernel="rbf")
        clf.fit(x, t)
        return cls(kind, clf)

    def predict_member(self, probs, y) -> np.ndarray:
        """1 = member, 0 = non-member."""
        if len(y) == 0:
            return np.zeros(0)
        return self.clf.predict(mia_features(probs, y, self.kind))

    def score(self, probs, y) -> np.ndarray:
        """Signed distance to the boundary (higher = member), for AUC."""
        if len(y) == 0:
            return np.zeros(0)
        return self.clf.decision_function(mia_features(probs, y, self.kind))


def svc_mia(retain_probs, retain_y, test_probs, test_y, forget_probs, forget_y,
            kinds=("confidence",), max_per_side: int | None = None, seed: int = 0) -> dict[str, float]:
    """MIA-Efficacy (percent of forget predicted non-member) for each feature kind."""
    out = {}
    for kind in kinds:
        if kind not in FEATURES:
            raise ValueError(f"unknown MIA feature {kind!r}; choose from {FEATURES}")
        attack = SVCAttack.fit(retain_probs, retain_y, test_probs, test_y, kind, max_per_side, seed)
        out[kind] = float(100.0 * np.mean(attack.predict_member(forget_probs, forget_y) == 0)) \
            if len(forget_y) else float("nan")
    return out


def mia_efficacy(retain_probs, retain_y, test_probs, test_y, forget_probs, forget_y,
                 max_per_side: int | None = None, seed: int = 0) -> float:
    """MIA-Efficacy on the confidence feature (the column DAU and Unlearn-Sparse report)."""
    return svc_mia(retain_probs, retain_y, test_probs, test_y, forget_probs, forget_y,
                   ("confidence",), max_per_side, seed)["confidence"]


def threshold_attack(member_scores, nonmember_scores) -> dict:
    """Best single threshold on a score (higher = member), e.g. confidence or -loss.

    Returns the threshold and attack_scores (accuracy at the best threshold, AUC, TPR at 1 % FPR).
    The threshold is chosen on the same samples it is scored on: an upper bound for a
    threshold attacker, as in Yeom et al. (2018) style evaluations.
    """
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    s = np.concatenate([m, n])
    truth = np.concatenate([np.ones(len(m)), np.zeros(len(n))]).astype(bool)
    cands = np.unique(s)
    order = np.argsort(s)
    s_sorted, t_sorted = s[order], truth[order]
    # accuracy when predicting member for s >= threshold, for every candidate threshold
    pos_below = np.concatenate([[0], np.cumsum(t_sorted)])
    neg_below = np.concatenate([[0], np.cumsum(~t_sorted)])
    idx = np.searchsorted(s_sorted, cands, side="left")
    acc = ((pos_below[-1] - pos_below[idx]) + neg_below[idx]) / len(s)
    k = int(np.argmax(acc))
    best_t = float(cands[k])
    out = attack_scores(s >= best_t, truth, s)
    out["threshold"] = best_t
    return out
