"""Curvature estimates behind Fisher forgetting."""
import pytest
import torch
import torch.nn.functional as F

from unlearnlib.gradients import expected_fisher_diag


@pytest.mark.parametrize("batched", [False, True])
def test_expected_fisher_diag_by_hand(batched):
    """Linear model, logits W x: d CE(Wx, c) / dW = (softmax(Wx) - e_c) x^T, averaged over the batch;
    H = mean over batches of sum_c mean_batch(p_c) * that gradient squared."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4, bias=False)
    x = torch.randn(10, 3)
    h = expected_fisher_diag(model, x, batch_size=5, batched=batched)[0]
    w = model.weight.detach()
    expect = torch.zeros_like(w)
    for xb in (x[:5], x[5:]):
        p = F.softmax(xb @ w.T, dim=1)
        for c in range(4):
            g = ((p - F.one_hot(torch.tensor(c), 4).float()).unsqueeze(2) * xb.unsqueeze(1)).mean(0)
            expect += p[:, c].mean() * g.pow(2)
    assert torch.allclose(h, expect / 2, rtol=1e-5, atol=1e-8)


def test_batched_and_looped_estimates_agree_on_a_cnn():
    from unlearnlib.models import create_model

    torch.manual_seed(1)
    model = create_model("small_cnn", 5, 3, 8)
    x = torch.randn(12, 3, 8, 8)
    a = expected_fisher_diag(model, x, 6, batched=False)
    b = expected_fisher_diag(model, x, 6, batched=True)
    assert all(torch.allclose(u, v, rtol=1e-4, atol=1e-10) for u, v in zip(a, b))
    assert model.training  # mode restored


def test_fisher_forgetting_forms(digits, digits_data):
    """golatkar: class-wise zeroes the forgotten class's head row (forgets it at any alpha, keeps the rest
    at a small one) and noise grows with alpha; an unknown form is named in the error."""
    from unlearnlib.data import make_split
    from unlearnlib.methods import make_config, unlearn
    from unlearnlib.originals import train_original
    from unlearnlib.train import TrainConfig, accuracy

    split = make_split(digits, "class", 3, val_size=100, seed=0)
    model, _ = train_original("mlp", digits_data, split, TrainConfig(epochs=8, batch_size=64, lr=0.05, augment=False),
                              progress=False)
    xf, yf = digits_data.train_part(split.forget)
    xt, yt = digits_data.test_part(split.test)
    base = accuracy(model, xt, yt)
    small, _ = unlearn("fisher", model, split, digits_data, make_config("fisher", alpha=1e-9))
    assert accuracy(model, xf, yf) > 90 and accuracy(small, xf, yf) < 5
    assert accuracy(small, xt, yt) > base - 2
    assert float(small.head.weight[3].detach().abs().max()) < 0.2 < float(model.head.weight[3].detach().abs().max())
    large, _ = unlearn("fisher", model, split, digits_data, make_config("fisher", alpha=1e-3))
    assert accuracy(large, xt, yt) < base - 20
    clamped, _ = unlearn("fisher", model, split, digits_data, make_config("fisher", form="clamped", alpha=1e-9))
    assert accuracy(clamped, xf, yf) > 90  # no head surgery in Unlearn-Sparse's `fisher` form
    with pytest.raises(ValueError, match="unknown Fisher forgetting form"):
        unlearn("fisher", model, split, digits_data, make_config("fisher", form="exact"))


def _linear_ce_grad(w, b, x, y):
    """By hand: d CE(W x + b, y) / d(W, b) = ((softmax - e_y) x^T, softmax - e_y), flattened as (W, b)."""
    p = F.softmax(x @ w.T + b, dim=0)
    d = p - F.one_hot(y, len(b)).float()
    return torch.cat([torch.outer(d, x).flatten(), d])


def test_influence_vector_both_forms_by_hand():
    """Unlearn-Sparse's Wfisher.py, both versions, on a linear softmax model small enough to follow:
    current: v = sum_f g / (n_f + n_r) - n_f / ((n_f + n_r) n_r) sum_r g, WoodFisher over per-sample
    retain gradients with N fixed; legacy: v = mean_f g, WoodFisher over retain batches, N = #batches."""
    import numpy as np

    from unlearnlib.data import Dataset, make_split, to_device
    from unlearnlib.methods import make_config
    from unlearnlib.methods.influence import influence_vector

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 2, 2, 1), dtype=np.uint8)
    y = np.array([0, 1, 2] * 4)
    ds = Dataset("toy", x, y, x[:3], y[:3], ("a", "b", "c"), "memory")
    split = make_split(ds, "random", 3, val_size=0, seed=0)
    data = to_device(ds, "cpu")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    w, b = model[1].weight.detach(), model[1].bias.detach()
    xf, yf = data.train_part(split.forget)
    xr, yr = data.train_part(split.retain)
    gf = [_linear_ce_grad(w, b, xi.flatten(), yi) for xi, yi in zip(xf, yf)]
    gr = [_linear_ce_grad(w, b, xi.flatten(), yi) for xi, yi in zip(xr, yr)]
    n_f, n_r = len(gf), len(gr)

    def wf(grads, v, n):
        k, o = v.clone(), grads[0].clone()
        for g in grads[1:]:
            t = o @ g
            k = k - (k @ g) / (n + t) * o
            o = o - t / (n + t) * o
        return k

    # current form, N = 5: the recursion takes the first N + 2 = 7 of a seeded permutation of the 9 retain samples
    cfg = make_config("influence", alpha=0.5, form="current", woodfisher_n=5, seed=3)
    order = np.random.default_rng(3).permutation(n_r)[:7]
    v = sum(gf) / (n_f + n_r) - sum(gr) * n_f / ((n_f + n_r) * n_r)
    expect = 0.5 * wf([gr[i] for i in order], v, 5)
    assert torch.allclose(influence_vector(model, data, split, cfg), expect, rtol=1e-4, atol=1e-7)
    # legacy form: mean forget gradient, retain batches of 4 (9 samples: batches of 4, 4, 1), N = 3
    cfg = make_config("influence", alpha=0.5, form="legacy", retain_batch_size=4, forget_batch_size=2)
    batches = [sum(gr[i:i + 4]) / len(gr[i:i + 4]) for i in range(0, n_r, 4)]
    expect = 0.5 * wf(batches, sum(gf) / n_f, 3)
    assert torch.allclose(influence_vector(model, data, split, cfg), expect, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="unknown influence form"):
        influence_vector(model, data, split, make_config("influence", form="old"))


def test_reuse_direction_scales_one_influence_direction_by_alpha(digits, digits_data, monkeypatch):
    """Inside reuse_direction, F^{-1} v is computed once per model and config other than alpha; the vectors equal
    the ones computed afresh. Another model (other weights) or another config computes anew."""
    from dataclasses import replace

    from unlearnlib import make_split
    from unlearnlib.methods import influence as iu
    from unlearnlib.methods import make_config
    from unlearnlib.models import create_model

    split = make_split(digits, "random", 0.1, val_size=50, seed=0)
    torch.manual_seed(0)
    model = create_model("mlp", 10, 1, 8)
    calls = []
    real = iu._direction
    monkeypatch.setattr(iu, "_direction", lambda *a: calls.append(1) or real(*a))
    cfg = make_config("influence", alpha=1.0, woodfisher_n=20)
    fresh = {a: iu.influence_vector(model, digits_data, split, replace(cfg, alpha=a)) for a in (0.1, 3.0)}
    assert len(calls) == 2
    with iu.reuse_direction():
        reused = {a: iu.influence_vector(model, digits_data, split, replace(cfg, alpha=a)) for a in (0.1, 3.0)}
        assert len(calls) == 3
        iu.influence_vector(model, digits_data, split, replace(cfg, woodfisher_n=10))  # another config
        other = create_model("mlp", 10, 1, 8)
        iu.influence_vector(other, digits_data, split, cfg)  # another model
        assert len(calls) == 5
    for a in fresh:
        assert torch.allclose(fresh[a], reused[a], rtol=1e-5, atol=1e-8)
    assert torch.allclose(reused[3.0], 30 * reused[0.1], rtol=1e-5, atol=1e-8)
    iu.influence_vector(model, digits_data, split, cfg)  # outside the block: computed again
    assert len(calls) == 6



def test_the_bf16_gradient_passes_agree_with_float32_on_a_cpu_cnn():
    """cpu_bf16 runs the passes under bf16 autocast, channels_last (the path fit trains the cpu originals on): each
    estimate comes back float32, in the logical layout, close to the float32 one in direction and size, and not
    bit-identical to it (the bf16 path did run)."""
    from unlearnlib.gradients import mean_loss_grad, mean_squared_batch_grads
    from unlearnlib.models import create_model

    torch.manual_seed(2)
    model = create_model("small_cnn", 5, 3, 16).eval()
    x, y = torch.randn(24, 3, 16, 16), torch.randint(0, 5, (24,))
    pairs = [(mean_loss_grad(model, x, y, 8), mean_loss_grad(model, x, y, 8, cpu_bf16=True))]
    pairs += list(zip(expected_fisher_diag(model, x, 8), expected_fisher_diag(model, x, 8, cpu_bf16=True)))
    pairs += list(zip(mean_squared_batch_grads(model, x, y, 8), mean_squared_batch_grads(model, x, y, 8, cpu_bf16=True)))
    for exact, fast in pairs:
        assert fast.dtype == torch.float32 and fast.shape == exact.shape
        e, f = exact.flatten(), fast.flatten()
        assert F.cosine_similarity(e, f, dim=0) > 0.99, "the bf16 estimate points elsewhere"
        assert abs(f.norm() / e.norm() - 1) < 0.05, "the bf16 estimate has another size"
    assert any(not torch.equal(e, f) for e, f in pairs), "cpu_bf16 changed nothing: the bf16 path did not run"
    assert not model.training  # mode restored


def test_curvature_methods_follow_the_cpu_profiles_bf16():
    """IU, FF, SSD and SalUn take cpu_bf16 from the start model's training setting, as FT does: on at cpu (whose
    originals train in bf16), off at quick."""
    from unlearnlib.methods import preset_config
    from unlearnlib.setting import setting

    for name in ("influence", "fisher", "ssd", "salun", "finetune"):
        assert preset_config(name, "cpu", train=setting("cpu").train).cpu_bf16, name
        assert not preset_config(name, "quick", train=setting("quick").train).cpu_bf16, name
