"""Careful evaluation of unlearning (notebook 04): every method scored by the papers' population attacks and by
per-example attacks, from the outputs of shadows trained and unlearned by the pipeline (`unlearned_shadows`).

    summary, examples = score_methods(outputs, n_ref=4, seed=0)

Leave-one-out over shadows: each shadow in turn is the model under attack. Its targets it forgot are the
positives ("unlearned"), its targets it never trained on the negatives ("never seen"), so a perfect unlearning
method leaves every attack at chance (AUC 0.5), as retraining does by construction. Per method:

- population attacks, one rule for every example: a threshold on the true-class scaled logit (its AUC), and
  the papers' SVC on confidences fitted on the attacked model's retain sample (members) vs population samples
  (non-members): its AUC on the targets and its MIA-Efficacy (share of forgotten targets called non-member).
  The SVC is scored per shadow and averaged (each fit has its own scale); the other attacks' scores are pooled
  over the leave-one-out targets;
- U-LiRA: per-example Gaussians of the other shadows' unlearned models (forgot the example) vs their models
  that never saw it; RMIA (offline) against `n_ref` other shadows' retrained models and the population;
- the competition's forgetting quality F: per target, epsilon from the unlearned models that forgot it against
  the retrained models of the shadows that never held it, binned and averaged (`attacks.per_example`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .attacks.mia import SVCAttack
from .attacks.per_example import (attack_metrics, competition_statistic, epsilon_score, example_epsilon, rmia,
                                  scaled_logit, true_class_prob, ulira)
from .metrics import softmax
from .unlearned_shadows import ShadowOutputs


def _pooled(scores: list, labels: list) -> dict:
    return attack_metrics(np.concatenate(scores), np.concatenate(labels))


def score_methods(outs: ShadowOutputs, n_ref: int = 4, rmia_a: float = 0.3, global_variance: bool = True,
                  delta: float = 0.01, seed: int = 0, reference: str = "retrain",
                  rule: str = "scorer") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per model kind: attacks' AUC / TPR, MIA-Efficacy, forgetting quality, accuracies, run time;
    one row per model kind and target example: epsilon, mean U-LiRA score when forgotten and when never seen)."""
    if reference not in outs.names:
        raise ValueError(f"the shadows hold no {reference!r} models, the reference of RMIA and the forgetting score; "
                         f"add it to the methods (held: {outs.names})")
    n_shadows = outs.forget.shape[0]
    if n_shadows < 3 or n_ref > n_shadows - 1:
        raise ValueError(f"need at least 3 shadows and n_ref <= shadows - 1; got {n_shadows} shadows, n_ref {n_ref}")
    stat = scaled_logit(outs.logits_t, outs.labels_t)  # (models, shadows, targets)
    p_t = true_class_prob(outs.logits_t, outs.labels_t)
    p_z = true_class_prob(outs.logits_z, outs.labels_z)
    comp = competition_statistic(outs.logits_t)
    ref = outs.model(reference)
    rng = np.random.default_rng(seed)
    refs = [rng.choice(np.delete(np.arange(n_shadows), t), n_ref, replace=False) for t in range(n_shadows)]
    rows, per_example = [], []
    for m, name in enumerate(outs.names):
        s, forget = stat[m], outs.forget
        sc = {k: [] for k in ("ulira", "rmia", "threshold", "svc")}
        labels, efficacy, llr_all = [], [], np.full(forget.shape, np.nan)
        for t in range(n_shadows):
            others = np.delete(np.arange(n_shadows), t)
            llr = ulira(s[t], s[others], forget[others], s[others], ~forget[others], global_variance=global_variance)
            llr_all[t] = llr
            sc["ulira"].append(llr)
            sc["rmia"].append(rmia(p_t[m, t], p_t[ref, refs[t]], p_z[m, t], p_z[ref, refs[t]], a=rmia_a))
            sc["threshold"].append(s[t])
            probs_r, probs_z, probs_t = (softmax(outs.logits_r[m, t]), softmax(outs.logits_z[m, t]),
                                         softmax(outs.logits_t[m, t]))
            svc = SVCAttack.fit(probs_r, outs.labels_r, probs_z, outs.labels_z, "confidence", seed=seed)
            sc["svc"].append(svc.score(probs_t, outs.labels_t))
            forgotten = forget[t]
            efficacy.append(100 * np.mean(svc.predict_member(probs_t[forgotten], outs.labels_t[forgotten]) == 0))
            labels.append(forgotten)
        eps = np.array([example_epsilon(comp[m][forget[:, j], j], comp[ref][~forget[:, j], j], delta, rule, seed)
                        if forget[:, j].sum() >= 2 and (~forget[:, j]).sum() >= 2 else np.nan
                        for j in range(forget.shape[1])])
        row = {"model": name, "n_shadows": n_shadows}
        for k, v in sc.items():
            if k == "svc":  # each shadow's SVC has its own decision scale: score per shadow, then average
                per = [attack_metrics(a, b) for a, b in zip(v, labels)]
                met = {q: float(np.nanmean([p[q] for p in per])) for q in per[0]}
            else:  # statistics on one scale across shadows: pooled, as LiRA evaluations pool their targets
                met = _pooled(v, labels)
            row.update({f"{k}_auc": met["auc"], f"{k}_tpr_1pct": met["tpr_at_1pct_fpr"],
                        f"{k}_tpr_0.1pct": met["tpr_at_0.1pct_fpr"]})
        row["mia_efficacy_pct"] = float(np.mean(efficacy))
        row["forgetting_quality"] = float(np.nanmean(epsilon_score(eps[~np.isnan(eps)])))
        row["median_epsilon"] = float(np.nanmedian(eps))
        acc = lambda logits, y: 100 * float((logits.argmax(-1) == y).mean())  # noqa: E731
        row["forget_acc_pct"] = float(np.mean([acc(outs.logits_t[m, t][forget[t]], outs.labels_t[forget[t]])
                                               for t in range(n_shadows)]))
        row["retain_acc_pct"] = acc(outs.logits_r[m], outs.labels_r)
        row["test_acc_pct"] = acc(outs.logits_z[m], outs.labels_z)
        row["runtime_s"] = float(outs.seconds[m].mean())
        rows.append(row)
        gap = (np.nanmean(np.where(forget, llr_all, np.nan), 0) - np.nanmean(np.where(~forget, llr_all, np.nan), 0))
        per_example.append(pd.DataFrame({"model": name, "target": np.arange(forget.shape[1]), "label": outs.labels_t,
                                         "epsilon": eps, "ulira_gap": gap}))
    return pd.DataFrame(rows), pd.concat(per_example, ignore_index=True)
