"""Per-example attacks on unlearning, from many models' outputs (no training here: `unlearnlib.unlearned_shadows`).

Each function takes arrays of per-model, per-example statistics; models are rows, examples columns.

    stat = scaled_logit(logits, labels)                      # LiRA's statistic, one per model and example
    llr = ulira(target_stat, in_stats, in_mask, out_stats, out_mask)
    score = rmia(target_p, ref_p, target_pz, ref_pz, a=0.3)   # probabilities of the true class
    eps, f = forgetting_quality(unlearned_stats, retrained_stats)

U-LiRA (Hayes, Shumailov, Triantafillou, Khalifa & Papernot 2024): for each example, one Gaussian fitted
to the statistic of shadow models that trained on it and then unlearned it ("in"), one to shadow models
that never trained on it ("out"); the target model's statistic is scored by the log likelihood ratio.
With few shadows per example, `global_variance` pools each side's variance over examples (Carlini et al.
2022, fixed-variance LiRA).

RMIA (Zarifzadeh, Liu, Lee & Shokri, ICML 2024): the likelihood ratio of x against population samples z,
Pr(x|theta)/Pr(x) over Pr(z|theta)/Pr(z), where Pr(.) averages reference models; offline (reference
models that never trained on x) Pr(x) = ((1 + a) Pr_out(x) + (1 - a)) / 2. The score is the share of
z whose ratio x beats by a factor gamma.

Forgetting quality (the NeurIPS 2023 unlearning competition, Triantafillou et al. 2024, after its Kaggle
scorer as MLRC-Bench copies it): per forgotten example, an empirical (epsilon, delta = 0.01) estimate of how
well its attacks (thresholds, a held-out logistic regression) on each model's -log top-softmax tell N
unlearned models from N retrained ones;
epsilons binned by 0.5, an example in bin n scores 2 / 2^n, F averages them over the forget set (the
competition multiplied F by the retain and test accuracy ratios to retrain for its final score).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..metrics import roc_auc, tpr_at_fpr


def scaled_logit(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log(p_y / (1 - p_y)) of the softmax of `logits` (..., C) at `labels` (broadcast against the leading axes),
    computed stably from the logits: z_y - logsumexp_{j != y} z_j (Carlini et al. 2022). Shape: logits' without
    the last axis."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.broadcast_to(np.asarray(labels), z.shape[:-1])  # labels (examples,) serve every model
    zy = np.take_along_axis(z, y[..., None], -1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, y[..., None], -np.inf, -1)
    return zy - logsumexp(others, axis=-1)


def true_class_prob(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax probability of the true class (RMIA's Pr(x | theta)), optionally at a temperature."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - logsumexp(z, axis=-1, keepdims=True)
    y = np.broadcast_to(np.asarray(labels), z.shape[:-1])
    return np.exp(np.take_along_axis(z, y[..., None], -1)[..., 0])


def _masked_moments(stats: np.ndarray, mask: np.ndarray, global_variance: bool, min_std: float):
    """Per-example mean and std over the shadows of `mask`; NaN where an example has no shadow on this side, or
    (per-example variance) fewer than two."""
    mask = np.asarray(mask, bool)
    n = mask.sum(0)
    if (n < 1).all():
        raise ValueError("no example has a shadow model on this side; train more shadows")
    mean = np.where(mask, stats, 0).sum(0) / np.maximum(n, 1)
    mean[n < 1] = np.nan
    dev = np.where(mask & (n >= 1), stats - np.nan_to_num(mean), 0)
    if global_variance:  # pooled over examples: sum of squares over sum of (n_j - 1) of the examples seen
        dof = (n[n >= 1] - 1).sum()
        std = np.full_like(mean, np.sqrt((dev ** 2).sum() / dof) if dof > 0 else np.nan)
    else:
        std = np.sqrt((dev ** 2).sum(0) / np.maximum(n - 1, 1))
        std[n < 2] = np.nan
    return mean, np.maximum(std, min_std)


def _log_normal(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def ulira(target: np.ndarray, in_stats: np.ndarray, in_mask: np.ndarray, out_stats: np.ndarray, out_mask: np.ndarray,
          global_variance: bool = False, min_std: float = 1e-3) -> np.ndarray:
    """Log likelihood ratio per example: the target's statistic under the "in" Gaussian (shadows that trained on
    the example and unlearned it) minus under the "out" one (shadows that never trained on it).

    target: (n_examples,) or (n_targets, n_examples); in_stats / out_stats: (n_shadows, n_examples) with masks of
    the same shape saying which shadow counts on which side for which example. Higher = more likely unlearned
    (still carrying the example). Per-example variances unless global_variance (one pooled variance per side, the
    fixed-variance LiRA Carlini et al. advise below about 64 shadows). An example without a shadow on one side,
    or with fewer than two there for a per-example variance, scores NaN (`attack_metrics` leaves it out)."""
    mi, si = _masked_moments(np.asarray(in_stats, np.float64), in_mask, global_variance, min_std)
    mo, so = _masked_moments(np.asarray(out_stats, np.float64), out_mask, global_variance, min_std)
    t = np.asarray(target, np.float64)
    return _log_normal(t, mi, si) - _log_normal(t, mo, so)


def rmia(target_px: np.ndarray, ref_px: np.ndarray, target_pz: np.ndarray, ref_pz: np.ndarray, a: float = 0.3,
         gamma: float = 1.0) -> np.ndarray:
    """RMIA scores (offline) of examples x against population samples z.

    target_px (n_x,): Pr(x | target); ref_px (n_ref, n_x): the same under reference models that never trained on
    x; target_pz (n_z,), ref_pz (n_ref, n_z): the same for the population. Pr(x) = ((1 + a) mean_ref + 1 - a) / 2
    (the offline approximation of averaging in and out models), and Pr(z) alike. Score: share of z with
    (Pr(x|t) / Pr(x)) / (Pr(z|t) / Pr(z)) > gamma; higher = member. Defaults a = 0.3, gamma = 1: ml_privacy_meter's
    library (its paper configs use a = 0.33, gamma = 2 and augmented queries)."""
    if not 0 <= a <= 1:
        raise ValueError(f"RMIA's offline a lies in [0, 1], got {a}")
    px = 0.5 * ((1 + a) * np.asarray(ref_px, np.float64).mean(0) + (1 - a))
    pz = 0.5 * ((1 + a) * np.asarray(ref_pz, np.float64).mean(0) + (1 - a))  # the same offline rule for z
    ratio_x = np.asarray(target_px, np.float64) / px
    ratio_z = np.asarray(target_pz, np.float64) / np.maximum(pz, 1e-30)
    ratio_z = np.sort(ratio_z)
    # share of z with ratio_x / ratio_z > gamma  <=>  ratio_z < ratio_x / gamma (strict, as ml_privacy_meter)
    return np.searchsorted(ratio_z, ratio_x / gamma, side="left") / len(ratio_z)


def attack_metrics(scores: np.ndarray, is_in: np.ndarray) -> dict:
    """AUC and TPR at 1 % and 0.1 % FPR of membership scores (higher = member / unlearned); NaN scores left out."""
    scores, is_in = np.asarray(scores, np.float64).ravel(), np.asarray(is_in, bool).ravel()
    keep = ~np.isnan(scores)
    scores, is_in = scores[keep], is_in[keep]
    return {"auc": roc_auc(scores, is_in), "tpr_at_1pct_fpr": tpr_at_fpr(scores, is_in, 0.01),
            "tpr_at_0.1pct_fpr": tpr_at_fpr(scores, is_in, 0.001)}


def competition_statistic(logits: np.ndarray) -> np.ndarray:
    """The competition's per-model, per-example scalar: cross-entropy of the logits against their own argmax
    (-log of the top softmax probability; no true label needed)."""
    z = np.asarray(logits, dtype=np.float64)
    return logsumexp(z, axis=-1) - z.max(-1)


def _epsilon_of(fpr: float, fnr: float, delta: float) -> float | None:
    """The competition's rule for one attack: inf when FPR = FNR = 0, None (skipped) when one of them is 0,
    else the larger defined bound of log((1 - delta - FPR) / FNR) and log((1 - delta - FNR) / FPR) (inf if neither)."""
    if fpr == 0 and fnr == 0:
        return float("inf")
    if fpr == 0 or fnr == 0:
        return None
    bounds = [np.log(num / den) for num, den in ((1 - delta - fpr, fnr), (1 - delta - fnr, fpr)) if num > 0]
    return float(max(bounds)) if bounds else float("inf")


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = 0.01, rule: str = "scorer",
                    seed: int = 0) -> float:
    """Empirical epsilon of one example from N unlearned and M retrained models' statistics.

    Every attack calls some models 'unlearned'; with its false-positive rate FPR (retrained called unlearned) and
    false-negative rate FNR, (epsilon, delta)-unlearning needs epsilon above both bounds of `_epsilon_of`; the
    estimate is the largest over the attacks, at least 0. rule "scorer" runs the competition scorer's attacks:
    every pooled value as a threshold calling the values above it unlearned, and a logistic regression on the
    1-D value scored on two stratified 10 % hold-outs (FPR and FNR averaged). rule "thresholds": every
    threshold in both directions, scored on the models it is chosen on (stronger, in-sample: an upper bound)."""
    u, r = np.sort(np.asarray(unlearned, np.float64)), np.sort(np.asarray(retrained, np.float64))
    eps = [0.0]
    directions = ("above",) if rule == "scorer" else ("above", "below")
    if rule not in ("scorer", "thresholds"):
        raise ValueError(f"rule takes 'scorer' or 'thresholds', got {rule!r}")
    for t in np.unique(np.concatenate([u, r])):
        above_u = 1 - np.searchsorted(u, t, side="right") / len(u)  # unlearned values > t
        above_r = 1 - np.searchsorted(r, t, side="right") / len(r)
        for d in directions:
            fnr, fpr = (1 - above_u, above_r) if d == "above" else (above_u, 1 - above_r)
            e = _epsilon_of(fpr, fnr, delta)
            if e is not None:
                eps.append(e)
    if rule == "scorer":
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedShuffleSplit

        x = np.concatenate([u, r])[:, None]
        y = np.r_[np.ones(len(u)), np.zeros(len(r))]
        fprs, fnrs = [], []
        hold = max(2, round(0.1 * len(y)))  # the scorer's 10 %, at least one model of each kind
        for train, test in StratifiedShuffleSplit(n_splits=2, test_size=hold, random_state=seed).split(x, y):
            pred = LogisticRegression().fit(x[train], y[train]).predict(x[test])
            yt = y[test]
            fprs.append(np.mean(pred[yt == 0] == 1))
            fnrs.append(np.mean(pred[yt == 1] == 0))
        e = _epsilon_of(float(np.mean(fprs)), float(np.mean(fnrs)), delta)
        if e is not None:
            eps.append(e)
    return float(max(eps))


def forgetting_quality(unlearned: np.ndarray, retrained: np.ndarray, delta: float = 0.01, bin_width: float = 0.5,
                       n_bins: int = 13, rule: str = "scorer") -> tuple[np.ndarray, float]:
    """(per-example epsilon, forgetting quality F) from (N, n_examples) statistics of unlearned and retrained models.

    As the competition scored it: bin edges 0, 0.5, ..., 6 (`bin_width` x range(n_bins)); an example in bin n
    (1 for epsilon < 0.5, 13 from 6 up, infinity included) scores H = 2 / 2^n, so an indistinguishable example
    scores 1 and each further half-unit of epsilon halves it; F is the mean of H over the examples (1: no example
    told apart). The competition used N = 512 models of each kind; with fewer, epsilon is coarser (at most
    about log(N) where finite)."""
    u, r = np.asarray(unlearned), np.asarray(retrained)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1]:
        raise ValueError(f"expected (models, examples) arrays with the same examples, got {u.shape} and {r.shape}")
    if len(u) < 2 or len(r) < 2:
        raise ValueError("the forgetting score needs at least 2 unlearned and 2 retrained models")
    eps = np.array([example_epsilon(u[:, j], r[:, j], delta, rule) for j in range(u.shape[1])])
    return eps, float(np.mean(epsilon_score(eps, bin_width, n_bins)))


def epsilon_score(eps: np.ndarray, bin_width: float = 0.5, n_bins: int = 13) -> np.ndarray:
    """The competition's per-example score H = 2 / 2^n of epsilons in bin n (edges bin_width x range(n_bins))."""
    n = np.digitize(np.asarray(eps, np.float64), np.arange(n_bins) * bin_width)
    return 2.0 / 2.0 ** n
