"""Shadow-model membership inference and model inversion."""
import numpy as np
import pytest
import torch

from unlearnlib.attacks import InversionConfig, ShadowAttack, ShadowData, invert, train_shadow_models
from unlearnlib.data import to_device
from unlearnlib.models import create_model
from unlearnlib.train import TrainConfig, fit, predict
from unlearnlib.metrics import softmax


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
    import unlearnlib.attacks.shadow as S

    def no_training(*a, **k):
        raise AssertionError("shadow models trained again although cached")
    monkeypatch.setattr(S, "fit", no_training)
    again = train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=3, from_test=False)
    assert np.array_equal(first.probs, again.probs) and np.array_equal(first.is_in, again.is_in)
    with pytest.raises(AssertionError, match="trained again"):
        train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=4, from_test=False)
    with pytest.raises(AssertionError, match="trained again"):
        train_shadow_models("mlp", digits_data, pool, 2, cfg, seed=3, from_test=False, cache=False)

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
    img, conf = invert(model, 3, (1, 8, 8), digits_data.mean, digits_data.std, InversionConfig(steps=200, lr=0.1))
    with torch.no_grad():
        blank = float(torch.softmax(model((torch.zeros(1, 1, 8, 8) - digits_data.mean.view(1, -1, 1, 1))
                                          / digits_data.std.view(1, -1, 1, 1)), 1)[0, 3])
    assert conf > max(0.9, blank)
