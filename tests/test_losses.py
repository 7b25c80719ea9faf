import pytest
import torch

from unlearnlib.losses import barlow_twins, negative_cross_entropy


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
