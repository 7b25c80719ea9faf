"""The 2023-2024 baselines (issue 40) behave as their reference code does, pinned on small models: NegGrad+'s
combined objective, SCRUB's alternating max and min steps, SalUn's saliency mask and masked random-label objective,
l1-sparse's penalty schedule, SSD's dampening rule. The registry's contract test (test_methods.py) covers them too."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unlearnlib.data import make_split
from unlearnlib.losses import distill_kl
from unlearnlib.methods import make_config, preset_config, unlearn
from unlearnlib.methods.scrub import SMALL_SCALE
from unlearnlib.models import create_model
from unlearnlib.train import TrainConfig


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _bn_cnn(digits_data, digits, seed=0):
    """A small CNN with BatchNorm, briefly trained on digits (a class-wise split of class 0)."""
    from unlearnlib.originals import train_original
    split = make_split(digits, "class", 0, val_size=100, seed=seed)
    model, _ = train_original("small_cnn", digits_data, split, TrainConfig(epochs=2, batch_size=64, lr=0.05,
                                                                           augment=False), progress=False)
    return model, split


# ---------------------------------------------------------------- NegGrad+

def test_neggrad_plus_loss_is_alpha_retain_descent_minus_forget_ascent():
    from unlearnlib.methods.neggrad_plus import neggrad_plus_loss
    torch.manual_seed(0)
    m = create_model("mlp", 3, 1, 8)
    xr, yr, xf, yf = torch.randn(6, 1, 8, 8), torch.randint(0, 3, (6,)), torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,))
    for alpha in (0.0, 0.3, 0.95, 1.0):
        with torch.no_grad():
            want = alpha * F.cross_entropy(m(xr), yr) - (1 - alpha) * F.cross_entropy(m(xf), yf)
        assert float(neggrad_plus_loss(m, xr, yr, xf, yf, alpha).detach()) == pytest.approx(float(want), rel=1e-6)
    start = [p.detach().clone() + 1.0 for p in m.parameters()]  # every weight 1 away from the start
    n = sum(p.numel() for p in m.parameters())
    got = neggrad_plus_loss(m, xr, yr, xf, yf, 0.5, start, l2=0.1).detach()
    assert float(got) == pytest.approx(float(neggrad_plus_loss(m, xr, yr, xf, yf, 0.5).detach()) + 0.5 * 0.1 / 2 * n, rel=1e-5)
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        make_config("neggrad_plus", alpha=1.5)


def test_neggrad_plus_ascends_on_forget_only_through_one_minus_alpha(toy_overfit):
    """alpha 1 is fine-tuning on the retain set (the forget set is never touched directly: the memorised wrong labels
    stay); alpha below 1 adds the ascent, which removes them."""
    model, split, data, _ = toy_overfit
    xf, yf = data.train_part(split.forget)
    from unlearnlib.train import accuracy
    base = accuracy(model, xf, yf)
    kept, _ = unlearn("neggrad_plus", model, split, data, alpha=1.0, epochs=3, batch_size=64)
    gone, _ = unlearn("neggrad_plus", model, split, data, alpha=0.9, epochs=3, batch_size=64)
    assert accuracy(kept, xf, yf) > base - 10
    assert accuracy(gone, xf, yf) < base - 40


def test_neggrad_plus_keeps_batchnorm_frozen_as_the_reference(digits, digits_data):
    model, split = _bn_cnn(digits_data, digits)
    bn = lambda m: m.body[1].running_mean.clone()  # noqa: E731
    frozen, _ = unlearn("neggrad_plus", model, split, digits_data, epochs=1, batch_size=128)
    moving, _ = unlearn("neggrad_plus", model, split, digits_data, epochs=1, batch_size=128, bn_eval=False)
    assert torch.equal(bn(frozen), bn(model)) and not torch.equal(bn(moving), bn(model))
    assert not torch.equal(_flat(frozen), _flat(model))


def test_neggrad_plus_lr_class_sets_the_class_wise_step_only(digits, digits_data):
    """lr_class is the step of class-wise forgetting (the reference's 0.01 diverges there at cpu): a class-wise run with
    lr_class x is the run with lr x; a random-forgetting run ignores it; a bad rate is refused when the config is built."""
    from unlearnlib.config import ConfigError
    model, split = _bn_cnn(digits_data, digits)
    kw = dict(epochs=1, batch_size=128)
    slow, _ = unlearn("neggrad_plus", model, split, digits_data, lr=0.05, lr_class=0.001, **kw)
    same, _ = unlearn("neggrad_plus", model, split, digits_data, lr=0.001, **kw)
    fast, _ = unlearn("neggrad_plus", model, split, digits_data, lr=0.05, **kw)
    assert torch.equal(_flat(slow), _flat(same)) and not torch.equal(_flat(slow), _flat(fast))
    rand = make_split(digits, "random", 0.1, val_size=100, seed=0)
    a, _ = unlearn("neggrad_plus", model, rand, digits_data, lr=0.05, lr_class=0.001, **kw)
    b, _ = unlearn("neggrad_plus", model, rand, digits_data, lr=0.05, **kw)
    assert torch.equal(_flat(a), _flat(b))
    for bad in (0.0, -0.01, float("nan")):
        with pytest.raises(ConfigError, match="lr_class must be a finite positive"):
            make_config("neggrad_plus", lr_class=bad)
    with pytest.raises(FloatingPointError, match="lower its step: .*lr_class=1e\\+30"):  # the error names the rate
        unlearn("neggrad_plus", model, split, digits_data, lr_class=1e30, **kw)


# ---------------------------------------------------------------- SCRUB

def test_distill_kl_is_teacher_to_student_times_t_squared():
    torch.manual_seed(0)
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    for T in (1.0, 2.0, 4.0):
        p_t, p_s = F.softmax(t / T, 1), F.softmax(s / T, 1)
        want = (p_t * (p_t.log() - p_s.log())).sum(1).mean() * T * T  # KL(teacher || student)
        assert float(distill_kl(s, t, T)) == pytest.approx(float(want), rel=1e-5)
    reverse = (F.softmax(s, 1) * (F.log_softmax(s, 1) - F.log_softmax(t, 1))).sum(1).mean()
    assert float(distill_kl(s, t, 1.0)) != pytest.approx(float(reverse), rel=1e-3)  # the direction matters
    assert float(distill_kl(t, t, 3.0)) == pytest.approx(0.0, abs=1e-6)


def test_scrub_learning_rate_decays_after_each_decay_epoch():
    from unlearnlib.methods.scrub import scrub_lr
    cfg = make_config("scrub", lr=1.0, decay_epochs=(3, 5, 9), decay_rate=0.1)
    assert [round(scrub_lr(cfg, e), 6) for e in range(1, 8)] == [1, 1, 1, 0.1, 0.1, 0.01, 0.01]


def test_scrub_runs_the_authors_large_scale_loaders_at_cpu_and_paper_and_their_small_scale_ones_at_quick():
    """cpu and paper forget thousands of CIFAR-10 samples: the authors' large-scale notebook's loaders (forget batch
    512: a max pass over 4,500 samples is 9 ascent steps, not 281 at the small-scale batch 16, which collapsed the
    model at cpu). smoke and quick forget about 130 digits: the small-scale values, the config their committed rows
    were computed under (every field as it was before the large-scale defaults)."""
    import math
    for profile in ("cpu", "paper"):
        cfg = preset_config("scrub", profile)
        assert (cfg.batch_size, cfg.forget_batch_size, cfg.alpha, cfg.gamma) == (256, 512, 0.001, 0.99)
        assert math.ceil(4500 / cfg.forget_batch_size) == 9
    assert (preset_config("scrub", "cpu").epochs, preset_config("scrub", "cpu").max_steps) == (2, 2)  # the sweep's
    assert (preset_config("scrub", "paper").epochs, preset_config("scrub", "paper").max_steps) == (3, 2)
    before = dict(epochs=5, max_steps=3, alpha=0.5, gamma=1.0, temperature=4.0, lr=5e-4, decay_epochs=(3, 5, 9),
                  decay_rate=0.1, optimizer="sgd", momentum=0.9, weight_decay=5e-4, batch_size=32, forget_batch_size=16)
    for profile in ("smoke", "quick"):
        cfg = preset_config("scrub", profile)
        assert {k: getattr(cfg, k) for k in before} == before


def _forget_kl(model, teacher, data, split, T=4.0):
    x, _ = data.train_part(split.forget)
    with torch.no_grad():
        return float(distill_kl(model(x), teacher(x), T))


def test_scrub_max_steps_alone_move_away_from_the_teacher_on_forget(digits, digits_data):
    """With the min step weighed 0, only the max passes (epochs <= max_steps) change the weights: the student's KL to
    the teacher on the forget set grows. The student starts as the teacher, where KL's gradient is 0: it moves
    because its BatchNorm runs in train mode (batch statistics) while the teacher's is in eval mode, as in the
    reference. With no max pass either, no weight changes (no weight decay, no momentum: the max and min steps
    share one optimiser, so momentum would carry the max steps on)."""
    model, split = _bn_cnn(digits_data, digits)
    model.eval()
    quiet = dict(alpha=0.0, gamma=0.0, weight_decay=0.0, momentum=0.0, lr=0.01, epochs=3, forget_batch_size=16)
    away, _ = unlearn("scrub", model, split, digits_data, max_steps=2, **quiet)
    still, _ = unlearn("scrub", model, split, digits_data, max_steps=0, **quiet)
    assert _forget_kl(away, model, digits_data, split) > 10 * _forget_kl(model, model, digits_data, split) + 0.1
    assert torch.equal(_flat(still), _flat(model))
    later = []  # the max pass runs in the first max_steps epochs only: the weights stop moving after them
    unlearn("scrub", model, split, digits_data, max_steps=1, **quiet,
            on_epoch_end=lambda e, m: later.append(_flat(m).clone()))
    assert not torch.equal(later[0], _flat(model)) and torch.equal(later[0], later[1]) and torch.equal(later[1], later[2])


def test_scrub_min_step_keeps_the_student_with_the_teacher_on_retain(toy_overfit):
    model, split, data, _ = toy_overfit
    from unlearnlib.train import accuracy
    out, _ = unlearn("scrub", model, split, data, **{**SMALL_SCALE, "lr": 0.005})  # a toy request: small-scale
    xr, yr = data.train_part(split.retain)
    xf, yf = data.train_part(split.forget)
    assert accuracy(out, xr, yr) > 95 and accuracy(out, xf, yf) < 20
    with torch.no_grad():
        assert float(distill_kl(out(xr), model(xr), 4.0)) < _forget_kl(out, model, data, split)


# ---------------------------------------------------------------- SalUn

def test_salun_mask_is_the_global_top_share_of_the_summed_forget_gradient():
    from unlearnlib.methods.salun import saliency_mask
    torch.manual_seed(0)
    m = create_model("mlp", 3, 1, 4).eval()
    x, y = torch.randn(10, 1, 4, 4), torch.randint(0, 3, (10,))
    masks = saliency_mask(m, x, y, 0.3, batch_size=4)
    params = list(m.parameters())
    total = torch.zeros(0)
    for i in range(0, 10, 4):  # |sum over batches of the batch-mean CE gradient|
        g = torch.autograd.grad(F.cross_entropy(m(x[i:i + 4]), y[i:i + 4]), params)
        total = [a + b for a, b in zip(total, g)] if len(total) else list(g)
    flat = torch.cat([t.abs().flatten() for t in total])
    chosen = torch.cat([k.flatten() for k in masks]).bool()
    assert int(chosen.sum()) == int(len(flat) * 0.3)
    assert float(flat[chosen].min()) >= float(flat[~chosen].max())  # ranked across all parameters together
    per_layer = [float(k.mean()) for k in masks]
    assert max(per_layer) - min(per_layer) > 0.1  # not a per-layer quota
    with pytest.raises(ValueError, match="salun.threshold"):
        make_config("salun", threshold=0.0)


def test_salun_moves_only_salient_weights_and_forgets(toy_overfit):
    """freeze "weights" (their current code): every weight outside the mask ends where it started; the random labels
    remove the memorised forget set. freeze "gradients" (the paper-era code): weight decay still moves the others."""
    from unlearnlib.methods.salun import saliency_mask
    from unlearnlib.train import accuracy
    model, split, data, _ = toy_overfit
    xf, yf = data.train_part(split.forget)
    kw = dict(lr=0.05, batch_size=64, augment=False, epochs=4, threshold=0.3)
    mask = torch.cat([k.flatten() for k in saliency_mask(copy.deepcopy(model), xf, yf, 0.3, 256)]).bool()
    out, _ = unlearn("salun", model, split, data, **kw)
    moved = _flat(out) != _flat(model)
    assert not moved[~mask].any() and moved[mask].float().mean() > 0.5
    assert accuracy(out, xf, yf) < 20
    loose, _ = unlearn("salun", model, split, data, freeze="gradients", **kw)
    assert (_flat(loose) != _flat(model))[~mask].float().mean() > 0.5


# ---------------------------------------------------------------- l1-sparse

def test_l1_sparse_penalty_decays_linearly_per_epoch_from_alpha():
    from unlearnlib.methods.l1_sparse import l1_norm, l1_weight
    cfg = make_config("l1_sparse", alpha=1.0, epochs=10)
    assert [round(l1_weight(cfg, e), 6) for e in range(10)] == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    cfg = make_config("l1_sparse", alpha=1.0, epochs=4, no_l1_epochs=2)
    assert [l1_weight(cfg, e) for e in range(4)] == [1.0, 0.5, 0.0, 0.0]
    assert l1_weight(make_config("l1_sparse", alpha=1.0, epochs=3, no_l1_epochs=3), 1) == 1.0
    m = create_model("mlp", 3, 1, 4)
    with torch.no_grad():
        assert float(l1_norm(m)) == pytest.approx(sum(float(p.abs().sum()) for p in m.parameters()), rel=1e-6)


def test_l1_sparse_shrinks_the_weights_that_finetuning_keeps(toy_overfit):
    from unlearnlib.methods.l1_sparse import l1_norm
    model, split, data, _ = toy_overfit
    kw = dict(epochs=3, lr=0.05, batch_size=64, augment=False, weight_decay=0.0)
    plain, _ = unlearn("finetune", model, split, data, **kw)
    sparse, _ = unlearn("l1_sparse", model, split, data, alpha=1e-3, **kw)
    with torch.no_grad():
        assert float(l1_norm(sparse)) < 0.9 * float(l1_norm(plain))
    from unlearnlib.train import accuracy
    xr, yr = data.train_part(split.retain)
    assert accuracy(sparse, xr, yr) > 95  # still fits the retain set


# ---------------------------------------------------------------- SSD

def test_ssd_importance_is_the_mean_over_batches_of_squared_batch_gradients():
    from unlearnlib.methods.ssd import importance
    torch.manual_seed(0)
    m = create_model("mlp", 3, 1, 4)
    x, y = torch.randn(10, 1, 4, 4), torch.randint(0, 3, (10,))
    got = importance(m, x, y, 4)
    params = list(m.parameters())
    want = [torch.zeros_like(p) for p in params]
    for i in range(0, 10, 4):  # three batches: 4, 4, 2
        for w, g in zip(want, torch.autograd.grad(F.cross_entropy(m(x[i:i + 4]), y[i:i + 4]), params)):
            w += g.pow(2) / 3
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-12) for a, b in zip(got, want))


def test_ssd_dampens_where_forget_importance_exceeds_alpha_times_the_data_s():
    from unlearnlib.methods.ssd import dampen_
    m = torch.nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[2.0, 2.0, 2.0, 2.0]]))
    d = [torch.tensor([[1.0, 1.0, 1.0, 0.0]])]
    f = [torch.tensor([[5.0, 20.0, 10.0, 3.0]])]  # selected where f > 10 d (strict): entries 1 and 3
    n = dampen_(m, f, d, alpha=10.0, lam=1.0)
    assert n == 2
    # entry 1: 2 * min(1 * 1 / 20, 1) = 0.1; entry 3: I_D 0, factor 0; entries 0 and 2 untouched (10 is not > 10)
    assert torch.allclose(m.weight, torch.tensor([[2.0, 0.1, 2.0, 0.0]]))
    with torch.no_grad():
        m.weight.fill_(2.0)
    dampen_(m, [torch.tensor([[20.0, 20.0, 20.0, 20.0]])], [torch.tensor([[1.0, 1.0, 1.0, 1.0]])], 10.0, lam=40.0)
    assert torch.equal(m.weight, torch.full((1, 4), 2.0))  # the factor is capped at 1: never amplifies


def test_ssd_importances_use_the_whole_training_set_and_the_scheme_s_batch(toy_overfit, monkeypatch):
    import unlearnlib.methods.ssd as ssd_mod
    model, split, data, _ = toy_overfit
    seen = []
    real = ssd_mod.importance
    monkeypatch.setattr(ssd_mod, "importance", lambda m, x, y, b, fast: seen.append((len(x), b)) or real(m, x, y, b, fast))
    unlearn("ssd", model, split, data)
    assert seen == [(len(split.forget), 128), (len(split.forget) + len(split.retain), 128)]  # random: batch 128


def test_ssd_class_wise_full_importance_reads_the_retain_set_class_by_class(digits, digits_data, monkeypatch):
    """Class-wise, the reference's I_D loader (unshuffled) reads a retain set built class by class, then the forget
    set: batches of one class each. Random forgetting keeps file order (the reference's random_split mixes classes)."""
    import unlearnlib.methods.ssd as ssd_mod
    model, split = _bn_cnn(digits_data, digits)
    seen = []
    monkeypatch.setattr(ssd_mod, "importance", lambda m, x, y, b, fast: seen.append((x, y.cpu().numpy(), b)) or
                        [torch.ones_like(p) for _, p in ssd_mod.trainable(m)])
    unlearn("ssd", model, split, digits_data)
    (_, forget_y, bf), (full_x, full_y, bd) = seen
    assert bf == bd == 64 and (forget_y == 0).all()
    retain_y, tail = full_y[:len(split.retain)], full_y[len(split.retain):]
    assert (np.diff(retain_y) >= 0).all() and set(retain_y) == set(range(1, 10)) and (tail == 0).all()
    # each class in file order (its samples' indices ascending), then the forget set: the very images, in that order
    labels = digits_data.train_part(split.retain)[1].cpu().numpy()
    order = np.concatenate([np.sort(split.retain[labels == c]) for c in range(1, 10)] + [split.forget])
    assert torch.equal(full_x, digits_data.train_part(order)[0])
    seen.clear()  # the earlier reading, file order, named by its config value
    unlearn("ssd", model, split, digits_data, class_order="file")
    assert torch.equal(seen[1][0], digits_data.train_part(np.concatenate([split.retain, split.forget]))[0])
    with pytest.raises(ValueError, match="class_order"):
        make_config("ssd", class_order="sorted")


# ---------------------------------------------------------------- DAU's open readings (issue 37)

def test_detached_sensitivity_gives_the_same_tokens_without_their_gradient(digits, digits_data):
    from unlearnlib.attacks.transformer import attack_tokens
    model, split = _bn_cnn(digits_data, digits)
    model.eval()
    x, y = digits_data.train_part(split.forget[:8])
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    live = attack_tokens(model, x, y, 10, 3, 1e-3, gen())
    cut = attack_tokens(model, x, y, 10, 3, 1e-3, gen(), detach_sensitivity=True)
    assert torch.allclose(live[..., 0].detach(), cut[..., 0].detach(), atol=1e-6)
    # the sensitivity is a difference over sigma 1e-3: float32 round-off of separate forward passes, times 1e3
    assert torch.allclose(live[..., 1].detach(), cut[..., 1].detach(), rtol=0.02, atol=2e-3)
    w = model.body[0].weight
    g_live = torch.autograd.grad(live[..., 1].sum(), w, allow_unused=True)[0]
    assert g_live is not None and float(g_live.abs().sum()) > 0  # the finite difference carries gradient
    g_cut = torch.autograd.grad(cut[..., 1].sum(), w, allow_unused=True, retain_graph=True)[0]
    assert g_cut is None or float(g_cut.abs().sum()) == 0  # detached: no gradient through the sensitivity
    assert float(torch.autograd.grad(cut[..., 0].sum() + (cut[..., 0] ** 2).sum(), w)[0].abs().sum()) > 0


@pytest.mark.parametrize("sensitivity", ["difference", "derivative"])
def test_detached_tokens_backpropagate_through_the_clean_batch_only(digits, digits_data, sensitivity):
    """Issue 39: with the sensitivity detached, the noisy copies' passes carry no autograd graph. The tokens are the
    all-in-one computation's bit for bit, their weight gradient the same within round-off, and the passes that
    record a graph see N samples, not (1 + draws) N."""
    from unlearnlib.attacks.transformer import _tokens, attack_tokens
    model, split = _bn_cnn(digits_data, digits)
    model.eval()
    x, y = digits_data.train_part(split.forget[:8])
    noise = torch.randn((3, *x.shape), generator=torch.Generator().manual_seed(0)).to(x.dtype)
    whole = _tokens(model, x, y, 10, noise, 1e-3, sensitivity, detach_sensitivity=True)  # one graph over all passes
    seen = []
    hook = model.register_forward_pre_hook(lambda m, a: seen.append(len(a[0])) if torch.is_grad_enabled() else None)
    try:
        cheap = attack_tokens(model, x, y, 10, 3, 1e-3, torch.Generator().manual_seed(0), detach_sensitivity=True,
                              sensitivity=sensitivity)
    finally:
        hook.remove()
    assert seen == [len(x)]
    assert torch.equal(cheap.detach(), whole.detach())
    weights = [p for p in model.parameters() if p.requires_grad]

    def grads(t):  # an attacker-like use of every token: a nonlinear function of p and s
        return torch.autograd.grad((t[..., 0] ** 2 * (1 + t[..., 1])).sum(), weights, allow_unused=True,
                                   retain_graph=True)
    for a, b in zip(grads(cheap), grads(whole)):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    assert sum(float(g.abs().sum()) for g in grads(cheap) if g is not None) > 0
    with torch.no_grad():  # without autograd (the attacker's own steps) the tokens come from the one computation
        assert torch.equal(attack_tokens(model, x, y, 10, 3, 1e-3, torch.Generator().manual_seed(0),
                                         detach_sensitivity=True, sensitivity=sensitivity), whole.detach())


def test_dau_class_nonmembers_val_other_leaves_the_forgotten_class_out(digits, digits_data):
    from unlearnlib.methods.dau import Game
    model, split = _bn_cnn(digits_data, digits)
    stratified = Game(model, split, digits_data, make_config("dau"))
    other = Game(model, split, digits_data, make_config("dau", class_nonmembers="val_other"))
    assert (stratified.yv == 0).any() and not (other.yv == 0).any()
    assert len(other.yv) == int((stratified.yv != 0).sum())
    with pytest.raises(ValueError, match="class_nonmembers takes one of"):
        unlearn("dau", model, split, digits_data, class_nonmembers="test")


def test_dau_sensitivity_option_reaches_the_attacker_tokens(digits, digits_data, monkeypatch):
    import unlearnlib.methods.dau as dau_mod
    model, split = _bn_cnn(digits_data, digits)
    seen = []
    real = dau_mod.attack_tokens
    monkeypatch.setattr(dau_mod, "attack_tokens", lambda *a, **k: seen.append(k["sensitivity"]) or real(*a, **k))
    kw = dict(iterations=2, pretrain_iters=2, sensitivity_draws=2, augment=False)
    out, _ = unlearn("dau", model, split, digits_data, sensitivity="derivative", **kw)
    assert seen and set(seen) == {"derivative"}  # the attacker's steps and the defender's alike
    assert any(not torch.equal(a, b) for a, b in zip(out.parameters(), model.parameters()))
    assert make_config("dau").sensitivity == "difference"  # the committed tables' reading stays the default
    with pytest.raises(ValueError, match="dau.sensitivity takes one of"):
        unlearn("dau", model, split, digits_data, sensitivity="jacobian", **kw)


def test_dau_defender_rate_per_scheme_and_sparsity(digits, digits_data):
    from unlearnlib.methods.dau import Game
    from unlearnlib.models import prune_global
    model, class_split = _bn_cnn(digits_data, digits)
    random_split = make_split(digits, "random", 0.1, val_size=100, seed=0)
    cfg = make_config("dau", lr=0.01, lr_class=0.03, lr_sparse=0.02)
    sparse = prune_global(model, 0.5)
    rates = {(s.scheme, m is sparse): Game(m, s, digits_data, cfg).opt_d.param_groups[0]["lr"]
             for s in (class_split, random_split) for m in (model, sparse)}
    assert rates == {("class", False): 0.03, ("class", True): 0.03, ("random", False): 0.01, ("random", True): 0.02}
    plain = make_config("dau", lr=0.01)
    assert Game(sparse, class_split, digits_data, plain).opt_d.param_groups[0]["lr"] == 0.01  # None: lr


def test_dau_attacker_pretraining_stops_by_its_rule_and_logs_it(digits, digits_data):
    from unlearnlib.methods.dau import Game, pretrain_attacker
    model, split = _bn_cnn(digits_data, digits)
    kw = dict(pretrain_iters=30, pretrain_window=10, sensitivity_draws=2, augment=False)
    reached = pretrain_attacker(Game(model, split, digits_data, make_config("dau", pretrain_stop=0.01, **kw)),
                                make_config("dau", pretrain_stop=0.01, **kw))
    assert reached["steps"] == 10 and reached["acc"] >= 0.01  # the first window already reaches the target
    fixed = pretrain_attacker(Game(model, split, digits_data, make_config("dau", **kw)), make_config("dau", **kw))
    assert fixed["steps"] == 30
    log = []
    unlearn("dau", model, split, digits_data, iterations=2, log_every=1, pretrain_stop=1.0, pretrain_min_gain=-1.0,
            on_iteration=log.append, **kw)
    assert log and log[0]["pretrain_steps"] == 30 and 0 <= log[0]["pretrain_acc"] <= 1  # never stopped early
    with pytest.raises(ValueError, match="pretrain_stop is a target attacker accuracy"):
        unlearn("dau", model, split, digits_data, pretrain_stop=1.5, **kw)


def test_dau_attacker_steps_per_defender_step(digits, digits_data, monkeypatch):
    from unlearnlib.methods import dau as dau_mod
    model, split = _bn_cnn(digits_data, digits)
    calls = []
    real = dau_mod.Game.attacker_step
    monkeypatch.setattr(dau_mod.Game, "attacker_step", lambda self, update=True: calls.append(update) or real(self, update))
    unlearn("dau", model, split, digits_data, iterations=3, pretrain_iters=2, attacker_steps=4, class_off_after=None,
            sensitivity_draws=2, augment=False)
    assert calls.count(True) == 2 + 3 * 4


def test_dau_token_passes_and_their_backward_run_in_ieee_float32(digits, digits_data):
    """A GPU runs float32 convolutions in TF32 by default, whose rounding (about 5e-4 of a value) is coarser than the
    change sigma 1e-3 makes: the token passes, and the backward pass of the defender's step through them, run with
    the per-operator flags at IEEE float32, which are then put back as they were (here set to TF32 beforehand, as a
    user may); a CPU's arithmetic does not read them, so the flags are what this checks."""
    from unlearnlib.attacks.transformer import attack_tokens
    model, split = _bn_cnn(digits_data, digits)
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = conv.fp32_precision, matmul.fp32_precision
    conv.fp32_precision, matmul.fp32_precision = "tf32", "tf32"
    try:
        seen = {"forward": [], "backward": []}
        flags = lambda: (conv.fp32_precision, matmul.fp32_precision)
        hooks = [model.register_forward_pre_hook(lambda m, a: seen["forward"].append(flags())),
                 model.register_full_backward_pre_hook(lambda m, go: seen["backward"].append(flags()))]
        x, y = digits_data.train_part(split.forget[:8])
        model.eval()
        attack_tokens(model, x, y, 10, 2, 1e-3, torch.Generator().manual_seed(0))
        assert seen["forward"] == [("ieee", "ieee")] and flags() == ("tf32", "tf32")
        seen["forward"].clear()
        unlearn("dau", model, split, digits_data, iterations=2, pretrain_iters=1, sensitivity_draws=2, augment=False)
        assert seen["forward"] and set(seen["forward"]) == {("ieee", "ieee")}
        assert seen["backward"] and set(seen["backward"]) == {("ieee", "ieee")}  # the defender's steps
        assert flags() == ("tf32", "tf32")
        for h in hooks:
            h.remove()
        with pytest.raises(ValueError, match="validation samples"):  # stopped before the game: flags untouched
            unlearn("dau", model, make_split(digits, "class", 0, val_size=0, seed=0), digits_data, iterations=1)
        assert flags() == ("tf32", "tf32")
    finally:
        conv.fp32_precision, matmul.fp32_precision = before


def test_dau_shared_pair_makes_one_token_pass_per_game_iteration(digits, digits_data, monkeypatch):
    """shared_pair: the attacker updates on the defender's pair, its tokens detached, and the defender's adversarial
    term scores those same tokens; an iteration makes one token pass, not two. Class-wise, once alpha is 0, neither
    player builds tokens (nothing is logged here)."""
    import unlearnlib.methods.dau as dau_mod
    model, split = _bn_cnn(digits_data, digits)
    made, updated = [], []
    real_tokens, real_update = dau_mod.attack_tokens, dau_mod.Game._attacker_update
    monkeypatch.setattr(dau_mod, "attack_tokens", lambda *a, **k: made.append(real_tokens(*a, **k)) or made[-1])
    monkeypatch.setattr(dau_mod.Game, "_attacker_update",
                        lambda self, t, target, update=True: updated.append(t) or real_update(self, t, target, update))
    kw = dict(pretrain_iters=2, sensitivity_draws=2, augment=False, class_off_after=3)
    out, _ = unlearn("dau", model, split, digits_data, iterations=5, shared_pair=True, **kw)
    assert len(made) == 2 + 3 and len(updated) == 2 + 3  # pre-training, then one pass an iteration while alpha > 0
    for t, u in zip(made[2:], updated[2:]):
        assert t.requires_grad and not u.requires_grad and torch.equal(t.detach(), u)  # the defender's own tokens
    assert any(not torch.equal(a, b) for a, b in zip(out.parameters(), model.parameters()))
    made.clear(), updated.clear()
    unlearn("dau", model, split, digits_data, iterations=5, **kw)
    assert len(made) == 2 + 2 * 3 and len(updated) == 2 + 3  # the default: a pair for each player
    assert not any(t.requires_grad for t in updated)
    made.clear(), updated.clear()
    unlearn("dau", model, split, digits_data, iterations=5, shared_pair=True, attacker_steps=3, **kw)
    assert len(made) == 2 + 3 * 3 and len(updated) == 2 + 3 * 3  # further attacker steps draw pairs of their own
    assert make_config("dau").shared_pair is False  # the committed tables' reading stays the default


# ---------------------------------------------------------------- the beyond-the-papers claim (notebook 02)

def _rows(method, values, scheme="random", sparsity=0.0):
    import pandas as pd
    return pd.DataFrame({"method": method, "scheme": scheme, "sparsity": sparsity, "seed": range(len(values)),
                         "avg_disparity": values})


def test_dau_beyond_claim_needs_a_win_over_every_baseline_beyond_the_spread():
    import pandas as pd
    from unlearnlib.papers import dau as room
    from unlearnlib.papers.claims import Frames

    t1 = pd.concat([_rows("retrain", [0, 0, 0]), _rows("dau", [2.0, 2.2, 1.8])])
    far = pd.concat([_rows(m, [5.0, 5.5, 4.5]) for m in room.BEYOND])
    o = room.dau_beyond(Frames({"table1_seeds": t1, "table_beyond_seeds": far}))
    assert o.verdict == "reproduced" and "ssd 5.00" in o.value
    close = pd.concat([far[far.method != "ssd"], _rows("ssd", [2.1, 1.7, 2.6])])  # within the seeds' spread
    assert room.dau_beyond(Frames({"table1_seeds": t1, "table_beyond_seeds": close})).verdict == "partly"
    same = pd.concat([_rows(m, [2.0, 2.2, 1.8]) for m in room.BEYOND])  # DAU no better than any: nothing won
    assert room.dau_beyond(Frames({"table1_seeds": t1, "table_beyond_seeds": same})).verdict == "not reproduced"
    assert room.dau_beyond(Frames({"table1_seeds": t1})) is None  # no beyond table: not run
    # a DAU that does nothing (the original's disparity) wins nothing, even against baselines that harm the model
    idle = pd.concat([_rows("retrain", [0, 0, 0]), _rows("original", [2.0, 2.2, 1.8]), _rows("dau", [2.0, 2.2, 1.8])])
    o = room.dau_beyond(Frames({"table1_seeds": idle, "table_beyond_seeds": far}))
    assert o.verdict == "not reproduced" and "DAU no nearer retrain than the original" in o.value
    moved = pd.concat([idle[idle.method != "original"], _rows("original", [4.0, 4.4, 3.6])])  # DAU unlearned
    assert room.dau_beyond(Frames({"table1_seeds": moved, "table_beyond_seeds": far})).verdict == "reproduced"
    # a baseline that diverged on a seed (no model: its row's `diverged`, no metrics) is named, not compared
    broken = far.assign(diverged=None)
    hit = (broken.method == "neggrad_plus") & (broken.seed == 1)
    broken.loc[hit, "avg_disparity"], broken.loc[hit, "diverged"] = float("nan"), "non-finite weights"
    o = room.dau_beyond(Frames({"table1_seeds": t1, "table_beyond_seeds": broken}))
    assert o.verdict == "reproduced" and "neggrad_plus diverged on seeds [1] (not compared)" in o.value
    every = broken.assign(diverged=broken.diverged.where(broken.method != "neggrad_plus", "non-finite weights"))
    every.loc[every.method == "neggrad_plus", "avg_disparity"] = float("nan")  # on every seed: still named
    o = room.dau_beyond(Frames({"table1_seeds": t1, "table_beyond_seeds": every}))
    assert "neggrad_plus diverged on seeds [0, 1, 2] (not compared)" in o.value and "scrub 5.00" in o.value
    only = every[every.method == "neggrad_plus"]  # no baseline left to compare: untestable, the divergence named
    o = room.dau_beyond(Frames({"table1_seeds": t1, "table_beyond_seeds": only}))
    assert o.verdict == "untestable here" and "neggrad_plus diverged on seeds [0, 1, 2]" in o.value


def test_notebook_02_beyond_rows_have_their_own_fingerprint():
    from dataclasses import replace

    from unlearnlib.papers import notebook_config
    from unlearnlib.store import config_fingerprint
    cfg = notebook_config("02_discriminative_adversarial_unlearning", "cpu")
    assert cfg.beyond and config_fingerprint(cfg)[0] == config_fingerprint(replace(cfg, beyond=()))[0]  # Table 1's
    b = cfg.beyond_config()
    assert b.methods == ("retrain", *cfg.beyond)
    other = replace(cfg, method_overrides={"ssd": {"alpha": 5.0}}).beyond_config()
    assert config_fingerprint(b)[0] != config_fingerprint(other)[0]  # a beyond method's setting makes another config
