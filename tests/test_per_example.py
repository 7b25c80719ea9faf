"""Per-example attacks (U-LiRA, RMIA), the competition's forgetting score, and shadows run in-process or on Ray."""

import numpy as np
import pytest

from unlearnlib.attacks.per_example import (attack_metrics, competition_statistic, example_epsilon, forgetting_quality,
                                            rmia, scaled_logit, true_class_prob, ulira)


def planted(n_shadows=40, n_examples=400, seed=0):
    """A memorising model family: each example has its own difficulty (base statistic), members score a fixed
    margin above their own base. The spread of difficulties hides membership from one global threshold."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 3, n_examples)
    member = rng.random((n_shadows, n_examples)) < 0.5
    stats = base + 1.5 * member + rng.normal(0, 0.5, (n_shadows, n_examples))
    return stats, member


def test_scaled_logit_and_probabilities_from_logits():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    py = p[np.arange(2), y]
    assert np.allclose(scaled_logit(logits, y), np.log(py / (1 - py)))
    assert np.allclose(true_class_prob(logits, y), py)
    assert np.allclose(competition_statistic(logits), -np.log(p.max(1)))


def test_ulira_beats_a_population_threshold_where_membership_is_planted():
    stats, member = planted()
    target, others = 0, slice(1, None)
    llr = ulira(stats[target], stats[others], member[others], stats[others], ~member[others])
    per_example = attack_metrics(llr, member[target])
    population = attack_metrics(stats[target], member[target])  # one threshold on the statistic for every example
    assert per_example["auc"] > 0.85 and population["auc"] < 0.75
    assert per_example["auc"] - population["auc"] > 0.15
    assert per_example["tpr_at_1pct_fpr"] > population["tpr_at_1pct_fpr"]


def test_ulira_is_at_chance_when_in_and_out_models_are_alike():
    stats, member = planted()
    same = stats - 1.5 * member  # every model now "never saw" every example: what retraining leaves
    aucs = [attack_metrics(ulira(same[t], np.delete(same, t, 0), np.delete(member, t, 0), np.delete(same, t, 0),
                                 ~np.delete(member, t, 0)), member[t])["auc"] for t in range(10)]
    assert abs(np.mean(aucs) - 0.5) < 0.05


def test_ulira_needs_shadows_on_both_sides():
    stats, member = planted(n_shadows=6, n_examples=50)
    member[:, 0] = True  # example 0 was never left out of a shadow: no "out" Gaussian
    llr = ulira(stats[0], stats, member, stats, ~member)
    both = (member.sum(0) >= 2) & ((~member).sum(0) >= 2)  # a per-example variance needs two shadows a side
    assert np.isnan(llr[0]) and np.isfinite(llr[both]).all() and np.isnan(llr[~both]).all()
    pooled = ulira(stats[0], stats, member, stats, ~member, global_variance=True)
    assert np.isnan(pooled[0]) and np.isfinite(pooled[1:][(member.any(0) & (~member).any(0))[1:]]).all()
    member[:] = True
    with pytest.raises(ValueError, match="no example has a shadow"):
        ulira(stats[0], stats, member, stats, ~member)


def test_rmia_separates_planted_members_and_not_reference_like_models():
    """Memorisation raises an example's scaled logit by a fixed amount over its own difficulty."""
    rng = np.random.default_rng(1)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    n_ref, n_x, n_z = 4, 400, 400
    difficulty, member = rng.normal(0, 2, n_x), rng.random(n_x) < 0.5
    ref_px = sigmoid(difficulty + rng.normal(0, 0.2, (n_ref, n_x)))  # reference models that never saw x
    target_px = sigmoid(difficulty + member + rng.normal(0, 0.2, n_x))
    z = rng.normal(0, 2, n_z)
    ref_pz, target_pz = sigmoid(z + rng.normal(0, 0.2, (n_ref, n_z))), sigmoid(z + rng.normal(0, 0.2, n_z))
    raw = attack_metrics(target_px, member)["auc"]  # one threshold on the probability: difficulty hides membership
    assert raw < 0.7
    assert attack_metrics(rmia(target_px, ref_px, target_pz, ref_pz), member)["auc"] > raw + 0.1  # a = 0.3
    assert attack_metrics(rmia(target_px, ref_px, target_pz, ref_pz, a=1.0), member)["auc"] > 0.9  # exact OUT references
    unseen = sigmoid(difficulty + rng.normal(0, 0.2, n_x))
    assert abs(attack_metrics(rmia(unseen, ref_px, target_pz, ref_pz), member)["auc"] - 0.5) < 0.08
    with pytest.raises(ValueError, match="offline a"):
        rmia(target_px, ref_px, target_pz, ref_pz, a=1.5)


def test_forgetting_score_is_zero_epsilon_for_identical_outputs_and_grows_with_separation():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(256, 30))
    eps, f = forgetting_quality(u, u.copy(), rule="thresholds")
    assert (eps == 0).all() and f == 1.0  # no threshold tells identical outputs apart
    eps, f = forgetting_quality(u, u.copy())  # the scorer's held-out logistic regression: sampling noise only
    assert (eps < 0.5).all() and f == 1.0
    scores = [forgetting_quality(u + shift, rng.normal(size=(256, 30)))[1] for shift in (0.0, 0.5, 1.5, 4.0)]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5 and scores[-1] < 0.05
    # the competition's edge rules: perfectly separated outputs are infinitely distinguishable (the lowest score)
    assert example_epsilon(np.zeros(5), np.ones(5)) == np.inf
    eps, f = forgetting_quality(np.zeros((5, 1)), np.ones((5, 1)))
    assert f == 2 / 2 ** 13
    with pytest.raises(ValueError, match="at least 2"):
        forgetting_quality(u[:1], u[:1])


def shadow_setup(n_shadows=8):
    from unlearnlib import load_dataset
    from unlearnlib.methods import make_config
    from unlearnlib.train import TrainConfig
    from unlearnlib.unlearned_shadows import ShadowDesign

    ds = load_dataset("digits")
    design = ShadowDesign.draw(ds, pool_size=500, n_targets=80, n_val=40, n_population=120, seed=0)
    train = TrainConfig(epochs=8, batch_size=64, optimizer="adam", lr=3e-3, weight_decay=0.0, schedule="constant",
                        augment=False)
    methods = [("retrain", make_config("retrain", train=train)), ("finetune", make_config("finetune", epochs=1, lr=0.01))]
    return ds, design, design.jobs("mlp", train, methods, n_shadows=n_shadows, threads=1)


def test_unlearned_shadows_design_and_retrained_shadows_at_chance(tmp_path, monkeypatch):
    from unlearnlib.unlearned_shadows import ShadowOutputs, run_shadow_job

    monkeypatch.setenv("UNLEARNLIB_CACHE", str(tmp_path))
    ds, design, jobs = shadow_setup()
    assert len(np.intersect1d(design.targets, design.rest)) == 0 and len(np.intersect1d(design.val, design.rest)) == 0
    member = design.membership(8)
    assert (member.sum(0) == 4).all() and not np.array_equal(design.forget_set(0, 8), design.forget_set(1, 8))
    outs = ShadowOutputs.stack([run_shadow_job(j) for j in jobs], design, ds)
    assert outs.names == ["original", "retrain", "finetune"] and outs.logits_t.shape == (3, 8, 80, 10)
    assert np.array_equal(outs.forget, member)
    stat = scaled_logit(outs.logits_t, outs.labels_t)  # (models, shadows, targets)
    aucs = {}
    for name in ("original", "retrain"):
        s, m = stat[outs.model(name)], outs.forget
        aucs[name] = np.mean([attack_metrics(ulira(s[t], np.delete(s, t, 0), np.delete(m, t, 0), np.delete(s, t, 0),
                                                   ~np.delete(m, t, 0), global_variance=True), m[t])["auc"]
                              for t in range(len(s))])
    assert abs(aucs["retrain"] - 0.5) < 0.1  # retrained models never saw any target: nothing to find
    assert aucs["original"] > aucs["retrain"] + 0.1  # the original did train on its half
    again = run_shadow_job(jobs[0])  # from the cache, identical
    assert np.array_equal(again["logits_t"], outs.logits_t[:, 0])


def test_ray_requested_without_ray_says_how_to_install(monkeypatch):
    import builtins

    from unlearnlib.tasks import run_tasks

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    with pytest.raises(RuntimeError, match=r"pip install -e \.\[ray\]"):
        run_tasks(abs, [1, -2])
    monkeypatch.delenv("RAY_ADDRESS")
    assert run_tasks(abs, [1, -2]) == [1, 2]
