import numpy as np
import pytest

from unlearnlib.attacks import SVCAttack, mia_efficacy, svc_mia, threshold_attack


def _probs(conf: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Softmax rows with p(label 0) = conf, the rest spread evenly."""
    p = np.tile(((1 - conf) / (k - 1))[:, None], (1, k))
    p[:, 0] = conf
    return p, np.zeros(len(conf), dtype=int)


def test_svc_efficacy_separates_member_like_from_nonmember_like():
    rng = np.random.default_rng(0)
    members = _probs(rng.uniform(0.95, 1.0, 300))
    nonmembers = _probs(rng.uniform(0.2, 0.8, 300))
    remembered = _probs(rng.uniform(0.95, 1.0, 100))
    forgotten = _probs(rng.uniform(0.2, 0.8, 100))
    low = mia_efficacy(*members, *nonmembers, *remembered)
    high = mia_efficacy(*members, *nonmembers, *forgotten)
    assert low < 10 and high > 90


def test_svc_attack_balances_and_scores():
    rng = np.random.default_rng(1)
    members = _probs(rng.uniform(0.9, 1.0, 500))
    nonmembers = _probs(rng.uniform(0.1, 0.6, 50))
    attack = SVCAttack.fit(*members, *nonmembers, kind="entropy")
    assert attack.predict_member(*members).mean() > 0.9
    assert attack.predict_member(*nonmembers).mean() < 0.1
    assert attack.score(*members).mean() > attack.score(*nonmembers).mean()
    res = svc_mia(*members, *nonmembers, *nonmembers, kinds=("correctness", "modified_entropy"))
    assert set(res) == {"correctness", "modified_entropy"}
    with pytest.raises(ValueError, match="unknown MIA feature"):
        svc_mia(*members, *nonmembers, *nonmembers, kinds=("nope",))


def test_threshold_attack_by_hand():
    res = threshold_attack([0.9, 0.8, 0.4], [0.5, 0.3, 0.1])
    # threshold 0.8 gets 5 of 6 right (0.4 member misclassified), as does 0.4 (0.5 non-member wrong)
    assert res["accuracy_pct"] == pytest.approx(500 / 6)
    assert res["threshold"] in (0.4, 0.8)
    assert res["auc"] == pytest.approx(8 / 9)
