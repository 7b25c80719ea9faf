"""The transformer MIA attacker (Yuan & Zhang 2022) that DAU plays against."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unlearnlib.attacks.transformer import TransformerAttacker, attack_tokens, attacker_optimizer
from unlearnlib.data import to_device
from unlearnlib.models import create_model
from unlearnlib.train import TrainConfig, fit


def test_tokens_shape_and_sensitivity_by_hand():
    lin = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        lin.weight.zero_()  # constant output: softmax uniform, sensitivity 0
    t = attack_tokens(lin, torch.randn(4, 2), torch.tensor([0, 1, 2, 0]), 3)
    assert t.shape == (4, 3, 3)
    assert torch.allclose(t[..., 0], torch.full((4, 3), 1 / 3))
    assert torch.allclose(t[..., 1], torch.zeros(4, 3))
    assert t[0, 0, 2] == 1 and t[0, 1, 2] == 0


def test_attacker_architecture_is_yuan_and_zhangs():
    """mia_prune's transformer.py: BatchNorm1d(3C) on the inputs, Linear(3, 64) + GELU per token, 3 post-norm
    GELU encoder layers (4 heads, feed-forward 128, dropout 0.2), Linear(64 C, 64) + ReLU, Linear(64, 2)."""
    torch.manual_seed(0)
    a = TransformerAttacker(10)
    assert a(torch.rand(5, 10, 3)).shape == (5, 2)
    assert isinstance(a.norm, torch.nn.BatchNorm1d) and a.norm.num_features == 30
    assert a.embed.in_features == 3 and a.embed.out_features == 64
    layer = a.encoder.layers[0]
    assert len(a.encoder.layers) == 3 and layer.self_attn.num_heads == 4 and not layer.norm_first
    assert layer.activation is F.gelu and layer.dropout.p == 0.2
    assert layer.linear1.out_features == 128 and a.fc1.in_features == 640 and a.fc2.out_features == 2
    assert all(float(m.bias.detach().abs().max()) == 0 for m in (a.embed, a.fc1, a.fc2, layer.linear1))
    # the BatchNorm sees the features in their order: predictions of every class, then sensitivities, then labels
    t = torch.rand(6, 10, 3)
    a.train()
    a.norm.reset_running_stats()
    a(t)
    assert torch.allclose(a.norm.running_mean[:10], 0.1 * t[..., 0].mean(0), atol=1e-6)
    assert torch.allclose(a.norm.running_mean[20:], 0.1 * t[..., 2].mean(0), atol=1e-6)
    opt = attacker_optimizer(a.parameters())
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["lr"] == 1e-3
    assert opt.defaults["momentum"] == 0.9 and opt.defaults["weight_decay"] == 5e-4


def test_attacker_separates_members_of_an_overfit_model(digits):
    data = to_device(digits, "cpu")
    torch.manual_seed(0)
    data.x_train = data.x_train + 1.5 * torch.randn_like(data.x_train)  # noise widens the generalisation gap
    perm = np.random.default_rng(0).permutation(len(digits.y_train))
    members, non_members = perm[:300], perm[300:600]
    target = create_model("mlp", 10, 1, 8)
    xm, ym = data.train_part(members)
    fit(target, xm, ym, TrainConfig(epochs=100, batch_size=32, optimizer="adam", lr=3e-3, weight_decay=0.0,
                                    schedule="constant", augment=False), progress=False)
    xn, yn = data.train_part(non_members)
    with torch.no_grad():
        tm, tn = attack_tokens(target, xm, ym, 10), attack_tokens(target, xn, yn, 10)
    # train on the first 200 of each, test on the last 100
    x_tr = torch.cat([tm[:200], tn[:200]])
    y_tr = torch.cat([torch.ones(200), torch.zeros(200)]).long()
    attacker = TransformerAttacker(10)
    opt = torch.optim.Adam(attacker.parameters(), lr=1e-3)
    for step in range(300):
        i = torch.randint(0, 400, (64,))
        loss = F.cross_entropy(attacker(x_tr[i]), y_tr[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    attacker.eval()
    with torch.no_grad():
        pred_m = attacker(tm[200:]).argmax(1).float().mean()
        pred_n = attacker(tn[200:]).argmax(1).float().mean()
    accuracy = 0.5 * (float(pred_m) + 1 - float(pred_n))
    assert accuracy > 0.65, accuracy


def _relu_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 4)).double()


def test_derivative_sensitivity_is_the_softmax_jacobian_times_the_draws():
    """sensitivity "derivative": mean over draws of |J u|, J the softmax's Jacobian at x, the same draws u as the
    difference takes (one generator). By hand on a linear model: J u = (diag(p) - p p^T) W u."""
    lin = torch.nn.Linear(5, 3, bias=False).double()
    x, y = torch.randn(4, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    t = attack_tokens(lin, x, y, 3, 2, 1e-3, torch.Generator().manual_seed(1), sensitivity="derivative")
    u = torch.randn((2, 4, 5), generator=torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        p = F.softmax(lin(x), 1)
        ju = torch.stack([torch.einsum("nij,nj->ni", torch.diag_embed(p) - p[:, :, None] * p[:, None, :],
                                       lin(u[d])) for d in range(2)])
    assert torch.allclose(t[..., 0].detach(), p.float())
    assert torch.allclose(t[..., 1].detach(), ju.abs().mean(0).float(), atol=1e-6)
    with torch.no_grad():  # the attacker's own steps build tokens without gradient: forward-mode AD still runs
        again = attack_tokens(lin, x, y, 3, 2, 1e-3, torch.Generator().manual_seed(1), sensitivity="derivative")
    assert torch.equal(again, t.detach())
    with pytest.raises(ValueError, match="sensitivity takes one of"):
        attack_tokens(lin, x, y, 3, sensitivity="jacobian")


def test_derivative_gradient_is_the_limit_s_and_the_difference_s_is_not():
    """Why the option exists. The derivative's weight gradient is the gradient of the sensitivity's limit: it
    matches autograd through the explicit softmax Jacobian (a ReLU network, float64). The difference's value is
    close to the derivative's at sigma 1e-3, but on small_cnn (float32, as DAU runs it) its weight gradient is ~70x
    larger and nearly orthogonal to the limit's: units that flip sign between x and x + sigma u add terms of
    order 1 / sigma."""
    net, x, y = _relu_net(), torch.randn(16, 6, dtype=torch.float64), torch.zeros(16, dtype=torch.long)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    deriv = attack_tokens(net, x, y, 4, 3, 1e-3, gen(), sensitivity="derivative")
    u = torch.randn((3, 16, 6), generator=gen()).double()
    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: F.softmax(net(v[None]), 1)[0], x[i],
                                                          create_graph=True) for i in range(16)])
    by_hand = torch.einsum("nij,dnj->dni", jac, u).abs().mean(0)
    assert torch.allclose(deriv[..., 1], by_hand.float(), atol=1e-6)
    w = net[2].weight
    assert torch.allclose(torch.autograd.grad(deriv[..., 1].sum(), w)[0],
                          torch.autograd.grad(by_hand.sum(), w)[0], atol=1e-6)

    torch.manual_seed(0)
    cnn = create_model("small_cnn", 10).eval()
    x, y = torch.randn(16, 3, 32, 32), torch.zeros(16, dtype=torch.long)
    w = cnn.body[0].weight
    d = attack_tokens(cnn, x, y, 10, 2, 1e-3, gen(), sensitivity="derivative")
    t = attack_tokens(cnn, x, y, 10, 2, 1e-3, gen())
    assert float(((t[..., 1] - d[..., 1]).abs() / d[..., 1].abs().clamp_min(1e-12)).median().detach()) < 0.1
    g_d, g_t = (torch.autograd.grad(v[..., 1].sum(), w)[0].flatten() for v in (d, t))
    assert g_t.norm() > 10 * g_d.norm()
    assert float(g_t @ g_d) / float(g_t.norm() * g_d.norm()) < 0.3
