import math

import numpy as np
import pytest

from unlearnlib import metrics


P = np.array([[0.7, 0.2, 0.1],
              [0.1, 0.6, 0.3]])
Y = np.array([0, 2])


def test_confidence_correctness_entropy_by_hand():
    assert metrics.confidence(P, Y) == pytest.approx([0.7, 0.3])
    assert metrics.correctness(P, Y).tolist() == [1.0, 0.0]
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    h1 = -(0.1 * math.log(0.1) + 0.6 * math.log(0.6) + 0.3 * math.log(0.3))
    assert metrics.entropy(P) == pytest.approx([h0, h1])


def test_modified_entropy_by_hand():
    # Song & Mittal 2021: -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)
    m0 = -(1 - 0.7) * math.log(0.7) - 0.2 * math.log(0.8) - 0.1 * math.log(0.9)
    m1 = -(1 - 0.3) * math.log(0.3) - 0.1 * math.log(0.9) - 0.6 * math.log(0.4)
    got = metrics.modified_entropy(P, Y)
    assert got == pytest.approx([m0, m1], rel=1e-12)
    # Unlearn-Sparse's variant (log p instead of log(1 - p) for the other classes) gives a different number
    wrong0 = -(1 - 0.7) * math.log(0.7) - 0.2 * math.log(0.2) - 0.1 * math.log(0.1)
    assert abs(got[0] - wrong0) > 0.1


def test_modified_entropy_orders_confident_right_below_confident_wrong():
    right = np.array([[0.98, 0.01, 0.01]])
    wrong = np.array([[0.01, 0.98, 0.01]])
    assert metrics.modified_entropy(right, [0])[0] < 0.1 < metrics.modified_entropy(wrong, [0])[0]


def test_features_shapes_and_unknown():
    assert metrics.mia_features(P, Y, "probability").shape == (2, 3)
    for kind in ("correctness", "confidence", "entropy", "modified_entropy"):
        assert metrics.mia_features(P, Y, kind).shape == (2, 1)
    with pytest.raises(ValueError, match="unknown MIA feature"):
        metrics.mia_features(P, Y, "loss")


def test_ua_and_accuracy():
    assert metrics.accuracy_pct([1, 2, 3, 4], [1, 2, 0, 0]) == 50.0
    assert metrics.unlearning_accuracy([1, 2, 3, 4], [1, 0, 0, 0]) == 75.0
    assert math.isnan(metrics.accuracy_pct([], []))


def test_softmax_rows_sum_to_one_and_are_stable():
    s = metrics.softmax(np.array([[1000.0, 1000.0], [0.0, math.log(3.0)]]))
    assert s == pytest.approx(np.array([[0.5, 0.5], [0.25, 0.75]]))


def test_avg_disparity_by_hand():
    retrain = {"ua_pct": 5.0, "mia_efficacy_pct": 10.0, "ra_pct": 100.0, "ta_pct": 94.0}
    row = {"ua_pct": 2.0, "mia_efficacy_pct": 14.0, "ra_pct": 99.0, "ta_pct": 93.0}
    assert metrics.avg_disparity(row, retrain) == pytest.approx((3 + 4 + 1 + 1) / 4)
    with pytest.raises(KeyError):
        metrics.avg_disparity({"ua_pct": 1.0}, retrain)


def test_attack_scores_by_hand():
    pred = np.array([1, 1, 0, 0, 1])
    truth = np.array([1, 0, 0, 1, 1])
    s = metrics.attack_scores(pred, truth, scores=np.array([0.9, 0.8, 0.1, 0.2, 0.7]))
    assert s["accuracy_pct"] == pytest.approx(60.0)
    assert s["precision_pct"] == pytest.approx(200 / 3)
    assert s["recall_pct"] == pytest.approx(200 / 3)
    # members 0.9, 0.2, 0.7 vs non-members 0.8, 0.1: 4 of 6 pairs ordered right
    assert s["auc"] == pytest.approx(4 / 6)


def test_tpr_at_low_fpr():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    truth = np.array([1, 1, 0, 1, 0, 0])
    assert metrics.tpr_at_fpr(scores, truth, 0.0) == pytest.approx(2 / 3)
    assert metrics.tpr_at_fpr(scores, truth, 0.34) == pytest.approx(1.0)
    assert math.isnan(metrics.roc_auc(scores, np.ones(6)))
