import pytest
import torch

from unlearnlib.losses import barlow_twins, gradient_penalty, interpolate, negative_cross_entropy, nt_xent


def test_barlow_twins_by_hand():
    z1 = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])
    # identical batches: C = [[1, 1], [1, 1]] -> on-diagonal 0, off-diagonal 2 * 5e-3
    assert float(barlow_twins(z1, z1)) == pytest.approx(0.01, rel=1e-3)
    # second feature anti-correlated: C = [[1, -1], [1, -1]] -> (1 - 1)^2 + (-1 - 1)^2 = 4, off 2 * 5e-3
    z2 = torch.tensor([[1.0, -2.0], [-1.0, 2.0]])
    assert float(barlow_twins(z1, z2)) == pytest.approx(4.01, rel=1e-3)
    assert float(barlow_twins(z1, z2, off_diagonal_weight=1.0)) == pytest.approx(6.0, rel=1e-3)
    with pytest.raises(ValueError, match="one shape"):
        barlow_twins(z1, z1[:1])


def test_barlow_twins_is_scale_invariant_and_differentiable():
    torch.manual_seed(0)
    a, b = torch.randn(32, 8, requires_grad=True), torch.randn(32, 8)
    loss = barlow_twins(a, b)
    assert float(loss.detach()) == pytest.approx(float(barlow_twins(3 * a + 1, b).detach()), rel=1e-4)
    loss.backward()
    assert torch.isfinite(a.grad).all()


def test_negative_cross_entropy():
    logits = torch.tensor([[0.0, 0.0]])
    assert float(negative_cross_entropy(logits, torch.tensor([0]))) == pytest.approx(-0.6931, abs=1e-4)


def test_nt_xent_by_hand():
    import math

    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    t = 0.5
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).tolist()
    cos = [[sum(a * b for a, b in zip(u, v)) for v in z] for u in z]
    pos = {0: 2, 1: 3, 2: 0, 3: 1}
    expected = 0.0
    for i in range(4):
        denom = sum(math.exp(cos[i][k] / t) for k in range(4) if k != i)
        expected += -math.log(math.exp(cos[i][pos[i]] / t) / denom)
    assert float(nt_xent(z1, z2, t)) == pytest.approx(expected / 4, rel=1e-5)
    # perfectly aligned, mutually orthogonal pairs score lower than mismatched ones
    e = torch.eye(4)
    assert float(nt_xent(e, e)) < float(nt_xent(e, e.roll(1, 0)))


def test_gradient_penalty_forms_by_hand():
    w = torch.tensor([[1.0, 2.0], [2.0, 0.0], [0.0, 2.0]])  # f(z) = z @ w: d(sum f)/dz = w.sum(1) = (3, 2, 2)
    z = torch.randn(5, 3)
    norm = (9 + 4 + 4) ** 0.5
    assert float(gradient_penalty(lambda v: v @ w, z, "wgan")) == pytest.approx((norm - 1) ** 2, rel=1e-5)
    assert float(gradient_penalty(lambda v: v @ w, z, "squared_norm")) == pytest.approx(17.0, rel=1e-5)
    assert float(gradient_penalty(lambda v: v @ w, z, "norm_minus_one")) == pytest.approx(norm - 1, rel=1e-5)
    with pytest.raises(ValueError, match="unknown gradient-penalty form"):
        gradient_penalty(lambda v: v, z, "l1")


def test_gradient_penalty_trains_the_model():
    lin = torch.nn.Linear(3, 2)
    gp = gradient_penalty(lin, torch.randn(4, 3))
    gp.backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()


def test_interpolate_lies_between():
    m, n = torch.zeros(100, 3), torch.ones(100, 3)
    z = interpolate(m, n, torch.Generator().manual_seed(0))
    assert (z >= 0).all() and (z <= 1).all() and torch.allclose(z[:, 0], z[:, 1])
    assert 0.3 < float(z.mean()) < 0.7
