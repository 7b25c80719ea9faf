"""Shadow models (unlearnlib.shadows), the shadow-model membership inference and model inversion (attacks)."""
import ast
import inspect

import numpy as np
import pytest
import torch

import unlearnlib.attacks.shadow as attack_module
from unlearnlib.attacks import AttackConfig, InversionConfig, ShadowAttack, ShadowData, invert
from unlearnlib.attacks.inversion import median2x2
from unlearnlib.data import to_device
from unlearnlib.models import create_model
from unlearnlib.train import TrainConfig, fit, predict
from unlearnlib.metrics import softmax
from unlearnlib.shadows import shadow_halves, train_shadow_models


def test_shadow_attack_separates_members_of_an_overfit_model(digits, digits_data):
    """Overfit MLPs on 200 samples: the attack, trained on shadows, tells the target's members apart."""
    cfg = TrainConfig(epochs=100, batch_size=32, optimizer="adam", lr=3e-3, weight_decay=0.0, schedule="constant",
                      augment=False)
    # noisy inputs widen the generalisation gap, as small overfit models have
    data = to_device(digits, "cpu")
    torch.manual_seed(0)
    data.x_train = data.x_train + 1.5 * torch.randn_like(data.x_train)
    data.x_test = data.x_test + 1.5 * torch.randn_like(data.x_test)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(digits.y_train))
    target_in, target_out, shadow_pool = perm[:200], perm[200:400], perm[400:1200]
    shadow = train_shadow_models("mlp", data, shadow_pool, 3, cfg, seed=1, from_test=False)
    assert shadow.probs.shape == (3 * 800, 10) and shadow.is_in.sum() == 3 * 400
    attack = ShadowAttack.fit(shadow, 10, seed=0)
    torch.manual_seed(5)
    target = create_model("mlp", 10, 1, 8)
    x, y = data.train_part(target_in)
    fit(target, x, y, cfg, progress=False)
    p_in = softmax(predict(target, x).numpy())
    xo, yo = data.train_part(target_out)
    p_out = softmax(predict(target, xo).numpy())
    scores = attack.evaluate(p_in, y.numpy(), p_out, yo.numpy())
    assert scores["accuracy_pct"] > 65 and scores["auc"] > 0.7
    assert attack.recall(p_in, y.numpy()) > attack.recall(p_out, yo.numpy()) + 0.2


def test_shadow_attack_handles_one_sided_classes():
    probs = np.eye(3)[[0, 0, 1, 1]]
    sd = ShadowData(probs, np.array([0, 0, 1, 1]), np.array([True, True, False, False]))
    attack = ShadowAttack.fit(sd, 3)
    assert attack.predict_member(np.eye(3)[[0, 1, 2]], np.array([0, 1, 2])).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="n_shadow"):
        train_shadow_models("mlp", None, np.arange(10), 0, TrainConfig())



def test_shadow_outputs_are_cached(digits_data, monkeypatch):
    """A rerun with the same arguments loads the shadow outputs instead of training; other arguments train."""
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False)
    pool = np.arange(100)
    first = train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=3, from_test=False)
    import unlearnlib.shadows as S

    def no_training(*a, **k):
        raise AssertionError("shadow models trained again although cached")
    monkeypatch.setattr(S, "fit", no_training)
    again = train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=3, from_test=False)
    assert np.array_equal(first.probs, again.probs) and np.array_equal(first.is_in, again.is_in)
    with pytest.raises(AssertionError, match="trained again"):
        train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=4, from_test=False)
    with pytest.raises(AssertionError, match="trained again"):
        train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=3, from_test=False, cache=False)


def test_a_cut_shadow_run_resumes_at_the_next_shadow(digits_data, monkeypatch):
    """Each finished shadow is kept: a run cut during shadow 3 of 3 trains only that one when run again, and the
    outputs equal an uncut run's; the parts are removed once the whole entry is written."""
    import unlearnlib.shadows as S
    from unlearnlib import paths

    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False)
    pool = np.arange(120)
    whole = train_shadow_models("mlp", digits_data, pool, 3, cfg, seed=5, cache=False)
    real_fit, calls = S.fit, []

    def cut_at_third(*a, **k):
        calls.append(k["desc"])
        if len(calls) == 3:
            raise KeyboardInterrupt("cut")
        return real_fit(*a, **k)
    monkeypatch.setattr(S, "fit", cut_at_third)
    with pytest.raises(KeyboardInterrupt):
        train_shadow_models("mlp", digits_data, pool, 3, cfg, seed=5)
    parts = sorted(p.name for p in (paths.cache_root() / "shadow").glob("*.part*.npz"))
    assert len(parts) == 2 and parts[0].endswith(".part0.npz") and parts[1].endswith(".part1.npz")
    calls.clear()
    monkeypatch.setattr(S, "fit", lambda *a, **k: (calls.append(k["desc"]), real_fit(*a, **k))[1])
    resumed = train_shadow_models("mlp", digits_data, pool, 3, cfg, seed=5)
    assert calls == ["shadow 3/3"]
    for name in ("probs", "labels", "is_in", "index", "shadow"):
        assert np.array_equal(getattr(whole, name), getattr(resumed, name)), name
    assert not list((paths.cache_root() / "shadow").glob("*.part*.npz"))


def test_the_shadow_attack_takes_outputs_and_trains_no_model():
    """attacks/ take model outputs: attacks.shadow imports nothing that trains or builds models (the shadow
    models come from unlearnlib.shadows); its per-class attack networks are its own fit."""
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(attack_module))):
        if isinstance(node, ast.ImportFrom):
            imported |= {node.module or ""} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    layers = {m.removeprefix("unlearnlib.").split(".")[0] for m in imported}
    assert not layers & {"train", "models", "data", "shadows", "paths"}, sorted(imported)
    assert not hasattr(attack_module, "train_shadow_models") and not hasattr(attack_module, "fit")


def test_shadow_pools_are_random_halves_of_the_training_part(digits, digits_data):
    """Graves et al.'s protocol: each shadow trains on a random half of the (training) pool and is
    evaluated on the other half; the halves differ between shadows."""
    pool = np.arange(10, 211)  # 201 training indices: halves of 100, the odd one left out
    halves = shadow_halves(pool, 3, seed=0)
    for ins, outs in halves:
        assert len(ins) == len(outs) == 100 and len(np.intersect1d(ins, outs)) == 0
        assert set(ins) | set(outs) <= set(pool)
    assert not np.array_equal(np.sort(halves[0][0]), np.sort(halves[1][0]))
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.05, augment=False)
    sd = train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=0, cache=False)
    assert sd.probs.shape == (2 * 200, 10) and sd.is_in.sum() == 2 * 100
    assert set(sd.index) <= set(pool)
    assert np.array_equal(sd.labels, digits.y_train[sd.index]), "drawn from the training part by default"
    for i, (ins, outs) in enumerate(shadow_halves(pool, 2, seed=0)):
        assert np.array_equal(sd.index[(sd.shadow == i) & sd.is_in], ins)
        assert np.array_equal(sd.index[(sd.shadow == i) & ~sd.is_in], outs)
    old = train_shadow_models("mlp", digits_data, np.arange(100), 1, cfg, seed=0, from_test=True, cache=False)
    assert np.array_equal(old.labels, digits.y_test[old.index]), "from_test keeps the earlier test-part scheme"


def test_correct_in_filter_drops_misclassified_in_samples():
    """Only in-samples the shadow classifies correctly count as members: an in-sample the shadow got
    wrong looks like a non-member, and the attack learns to call it one (without the filter, not)."""
    right, wrong = [0.95, 0.05], [0.3, 0.7]  # softmax vectors for true class 0
    probs = np.array([right] * 40 + [wrong] * 40 + [wrong] * 20 + [[0.05, 0.95]] * 10 + [[0.5, 0.5]] * 10)
    labels = np.array([0] * 100 + [1] * 20)
    is_in = np.array([True] * 80 + [False] * 20 + [True] * 10 + [False] * 10)
    sd = ShadowData(probs, labels, is_in)
    filtered = ShadowAttack.fit(sd, 2, AttackConfig(epochs=30), seed=0)
    assert filtered.n_train[0] == (40, 20) and filtered.n_train[1] == (10, 10)
    unfiltered = ShadowAttack.fit(sd, 2, AttackConfig(epochs=30, correct_in_only=False), seed=0)
    assert unfiltered.n_train[0] == (80, 20)
    p = np.array([right, wrong])
    assert filtered.predict_member(p, np.array([0, 0])).tolist() == [1, 0]
    assert unfiltered.predict_member(p, np.array([0, 0])).tolist() == [1, 1]  # 40 in vs 20 out at `wrong`
    capped = ShadowAttack.fit(sd, 2, AttackConfig(epochs=1, max_per_class=30), seed=0)
    assert sum(capped.n_train[0]) == 30 and sum(capped.n_train[1]) == 20


def test_median_matches_scipy():
    """Graves et al.'s denoising, ndimage.median_filter(size=2), on a single-channel image."""
    ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(1, 1, 7, 9, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(median2x2(x), torch.from_numpy(ndimage.median_filter(x.numpy(), size=2)))


def test_paper_inversion_runs_fixed_iterations_and_project_variant_stops_early(digits_data):
    """Default: Graves et al.'s notebook (1000 fixed iterations from small noise, median every 500);
    the project variant stops on patience."""
    cfg = InversionConfig()
    assert (cfg.steps, cfg.denoise_every, cfg.init, cfg.patience, cfg.cost) == (1000, 500, "noise", None, "nll")
    model = create_model("mlp", 10, 1, 8).eval()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    img, _ = invert(model, 3, (1, 8, 8), digits_data.mean, digits_data.std, InversionConfig(steps=40, denoise_every=20))
    assert len(calls) == 40 + 1  # every step and the final probability
    calls.clear()
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    torch.nn.init.zeros_(flat[1].weight)  # a constant model: the cost never falls
    flat.register_forward_hook(lambda *a: calls.append(1))
    invert(flat, 3, (1, 8, 8), digits_data.mean, digits_data.std, InversionConfig.project(steps=500))
    assert len(calls) == 100 + 1 + 1  # the first step sets the best, then `patience` steps without improvement


@pytest.mark.parametrize("name,channels,size", [("mlp", 1, 8), ("small_cnn", 3, 16)])
def test_inversion_yields_finite_images_of_the_right_shape(name, channels, size):
    torch.manual_seed(0)
    model = create_model(name, 5, channels, size).eval()
    mean, std = torch.full((channels,), 0.5), torch.full((channels,), 0.25)
    img, conf = invert(model, 2, (channels, size, size), mean, std, InversionConfig(steps=30, lr=0.5, denoise_every=10))
    assert img.shape == (channels, size, size) and torch.isfinite(img).all()
    assert 0 <= float(img.min()) and float(img.max()) <= 1 and 0 <= conf <= 1
    assert all(p.requires_grad for p in model.parameters())


def test_inversion_raises_the_class_probability(digits_data):
    torch.manual_seed(0)
    model = create_model("mlp", 10, 1, 8)
    fit(model, digits_data.x_train, digits_data.y_train, TrainConfig(epochs=10, batch_size=64, lr=0.05, augment=False),
        progress=False)
    with torch.no_grad():
        blank = float(torch.softmax(model((torch.zeros(1, 1, 8, 8) - digits_data.mean.view(1, -1, 1, 1))
                                          / digits_data.std.view(1, -1, 1, 1)), 1)[0, 3])
    for cfg in (InversionConfig(steps=200), InversionConfig.project(steps=200)):
        img, conf = invert(model, 3, (1, 8, 8), digits_data.mean, digits_data.std, cfg)
        assert conf > max(0.9, blank), cfg
