"""DAU: discriminative adversarial unlearning (Sharma, Zhou, Ji & Chen, 2024, Algorithm 1).

A min-max game between the defender (the model) and a transformer MIA attacker (Yuan & Zhang
2022) that tells the defender's outputs on forget samples (members) from those on validation
samples (non-members). After `pretrain_iters` attacker-only iterations, each iteration
  1. attacker: minimise CE(A(tokens(forget)), 1) + CE(A(tokens(val)), 0)   (maximise its log-likelihood)
  2. defender: minimise CE(f(x_retain), y) - alpha * J_attacker + lambda * BarlowTwins(h_forget, h_val)
     where J_attacker is the attacker's log-likelihood (or, non_saturating, + alpha * CE with the
     membership labels swapped), and h are mean-centred penultimate features (eq. 2-3).
For class-wise forgetting the paper sets a weight to 0 after the first 30 iterations ("unlearning
the class is notably easier than retaining general performance"); its symbol did not survive in
the text we have. class_off chooses it: alpha (our first reading, the default), lam, or both.
Measurements of the three choices: results/quick/02_sweeps/README.md.
The paper's numeric hyper-parameters were lost in the text we have; the defaults below are ours.

Readings the paper leaves open (issue 37), each a field whose default is the reading the committed results ran:
- detach_sensitivity: the attacker's sensitivity token without gradient, as Yuan & Zhang compute it (default: the
  defender's gradient flows through the finite difference, divided by sigma);
- class_nonmembers: in class-wise forgetting, the attacker's non-members are the stratified validation set
  ("val", default: it holds held-out images of the forgotten class, which the original classifies correctly, so
  pulling forget outputs towards them cannot drive forgetting) or its images of the other classes ("val_other").
  Not the test set: it scores TA;
- lr_class, lr_sparse: the paper sets three defender rates, random dense (lr), a higher one for sparse models in
  random forgetting (lr_sparse) and one class-wise rate "for both levels of sparsity" (lr_class); None: lr;
- pretrain_stop: the attacker's pre-training stops by a rule (its mean accuracy over the last pretrain_window
  updates reaches pretrain_stop, or stops rising by pretrain_min_gain from one window to the next), at most
  pretrain_iters updates; None: exactly pretrain_iters. Its steps and accuracy are logged with the trajectory;
- attacker_steps: attacker updates per defender step (Yuan & Zhang's adversarial defence takes several);
- shared_pair: one forget / validation pair and one token pass per game iteration, on which the attacker updates
  (its tokens detached) and then the defender's adversarial term is scored, as the reference DCGAN loop trains its
  discriminator on fake.detach() and its generator on the same fake (default: each player draws a pair of its own,
  two token passes an iteration; Algorithm 1's text did not survive extraction, so it does not say which). It
  removes the attacker's own token pass from every game iteration (issue 39); the attacker's pre-training and any
  further attacker_steps draw pairs of their own;
- sensitivity: the sensitivity token as Yuan & Zhang's finite difference over sigma ("difference", default) or as
  its limit, the directional derivative by forward-mode AD ("derivative"). Same values; the difference's weight
  gradient is dominated by ReLU units that flip sign between x and x + sigma u (8 times the derivative's norm,
  nearly orthogonal to it: results/cpu/02_sweeps/README.md, "DAU's sensitivity token"), which the clipping at
  max_grad_norm then cuts on every step.

BatchNorm (the paper is silent): the defender trains in train mode, so every forward pass in train
mode moves the running statistics the released model normalises with, including the Barlow Twins
forward of a forget batch (one class, in class-wise forgetting). Two options address this:
bn_from_retain (that forward in eval mode) and bn_recalibrate (re-estimate the statistics on the
retain set after the game). Both default off (not in the paper); measurements in
results/quick/02_sweeps/README.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..attacks.transformer import (SENSITIVITIES, TransformerAttacker, attack_tokens, attacker_optimizer,
                                   ieee_float32, sensitivity_noise)
from ..config import ConfigError, scoped
from ..data import DeviceData, Split, augment
from ..losses import barlow_twins
from ..models import bn_eval, clone, is_pruned, recalibrate_bn
from ..train import TrainConfig, augmentation, autocast, make_optimizer, prepare_model
from . import register


@dataclass(frozen=True)
class DAUConfig:
    iterations: int = 200  # game iterations after the attacker's pre-training
    pretrain_iters: int = 100  # attacker-only iterations before the game (paper: "pre-train the attacker")
    lr: float = 0.01  # defender SGD learning rate (the paper's values did not survive extraction)
    # class-wise forgetting, dense and sparse alike (None: lr)
    lr_class: float | None = scoped(None, schemes=("class",))
    # random forgetting of a pruned model (None: lr)
    lr_sparse: float | None = scoped(None, schemes=("random",), sparse=True)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    attacker_optimizer: str = "sgd"  # Yuan & Zhang's default (SGD, momentum 0.9); "adam" is an option
    attacker_lr: float = 1e-3  # Yuan & Zhang's MiaAttack default
    attacker_weight_decay: float = 5e-4  # Yuan & Zhang's MiaAttack default
    attacker_steps: int = 1  # attacker updates per iteration
    # pre-training by a rule (module docstring): None, exactly pretrain_iters updates; a target accuracy in (0, 1]
    pretrain_stop: float | None = None
    pretrain_window: int = 20  # updates per window of the stopping rule
    pretrain_min_gain: float = 0.005  # stop when a window's mean accuracy rises less than this over the previous
    alpha: float = 1.0  # weight of the attacker's objective in the defender's loss
    lam: float = 0.01  # Barlow Twins weight; chosen on the quick digits setting (results/quick/02_sweeps)
    barlow_offdiag: float = 5e-3  # Zbontar et al.'s off-diagonal weight, as the paper sets it
    non_saturating: bool = False  # GAN-style non-saturating defender objective
    max_grad_norm: float | None = 5.0  # clip the defender's gradient norm (None: no clipping); why: the H100
    # sweep in results/paper/02_sweeps
    # class-wise: a weight -> 0 after this many iterations (None: never)
    class_off_after: int | None = scoped(30, schemes=("class",))
    # which weight: "alpha", "lam" or "both" (the paper's symbol is lost; see the docstring)
    class_off: str = scoped("alpha", schemes=("class",))
    batch_size: int = 128  # retain batch
    pair_batch_size: int = 64  # forget and validation batches
    sensitivity_draws: int = 10  # Yuan & Zhang: 10 noisy draws
    sensitivity_sigma: float = 1e-3
    detach_sensitivity: bool = False  # True: the sensitivity token without gradient (Yuan & Zhang), and the
    # backward pass through the clean batch alone (attack_tokens); docstring
    shared_pair: bool = False  # True: the attacker's update and the defender's adversarial term share one pair and
    # one token pass an iteration (the DCGAN loop's pattern); docstring
    sensitivity: str = "difference"  # "difference" (Yuan & Zhang, sigma) | "derivative" (its sigma -> 0 limit by
    # forward-mode AD, whose weight gradient is defined); module docstring, attacks.transformer.attack_tokens
    # class-wise: "val" (stratified) | "val_other" (the other classes'); docstring
    class_nonmembers: str = scoped("val", schemes=("class",))
    augment: bool | str = True  # as TrainConfig.augment
    cpu_bf16: bool = False  # TrainConfig.cpu_bf16: on a CPU, the defender channels_last and its retain and Barlow
    # Twins passes in bf16 (the attack tokens stay float32)
    bn_from_retain: bool = False  # True: the Barlow Twins forward of forget + val runs BatchNorm in eval mode, so
    # only retain batches move the running statistics (False, the plain reading: train mode, where a one-class
    # forget batch also moves them)
    bn_recalibrate: bool = False  # after the game, re-estimate BN running statistics on the retain set (one
    # forward pass; not in the paper). See the notes in the module docstring.
    seed: int = 0
    log_every: int = 10
    on_iteration: Callable | None = field(default=None, compare=False)  # called with a dict every log_every

    def __post_init__(self):
        """Values checked when the config is built (a notebook's config, run_all's -p DAU.FIELD), not mid-run, and in
        every setting: a class-wise field with a bad value stops a run of random forgetting too."""
        if self.class_off not in ("alpha", "lam", "both"):
            raise ConfigError(f"class_off must be 'alpha', 'lam' or 'both', got {self.class_off!r}")
        if self.class_nonmembers not in NONMEMBERS:
            raise ConfigError(f"dau.class_nonmembers takes one of {list(NONMEMBERS)}, got {self.class_nonmembers!r}")
        if self.sensitivity not in SENSITIVITIES:
            raise ConfigError(f"dau.sensitivity takes one of {list(SENSITIVITIES)}, got {self.sensitivity!r}")
        for name in ("lr_class", "lr_sparse"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ConfigError(f"dau.{name} must be a finite positive learning rate or None (then lr), got {v}")
        if self.pretrain_stop is not None and not 0.0 < self.pretrain_stop <= 1.0:
            raise ConfigError(f"dau.pretrain_stop is a target attacker accuracy in (0, 1] (None: a fixed count), "
                              f"got {self.pretrain_stop}")


NONMEMBERS = ("val", "val_other")


def defender_lr(cfg: DAUConfig, scheme: str, sparse: bool) -> float:
    """The defender's learning rate in a setting: lr_class for class-wise forgetting (dense and sparse), lr_sparse
    for random forgetting of a pruned model, else lr (a None falls back to lr)."""
    if scheme == "class" and cfg.lr_class is not None:
        return cfg.lr_class
    if scheme != "class" and sparse and cfg.lr_sparse is not None:
        return cfg.lr_sparse
    return cfg.lr


def _draw(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n, size=min(k, n), replace=False)


class Game:
    """The two players and their data: `attacker_step` and `defender_step` are Algorithm 1's two updates.

    Random draws come from one numpy generator (batches) and one torch generator (sensitivity noise),
    both seeded by cfg.seed, in the order the loop in `dau` calls the steps."""

    def __init__(self, model: nn.Module, split: Split, data: DeviceData, cfg: DAUConfig):
        self.cfg, self.num_classes, self.device = cfg, data.num_classes, data.device
        self.defender = clone(model)
        if cfg.cpu_bf16 and self.device.type == "cpu":
            # channels_last, as fit trains on a CPU with cpu_bf16 (a start model handed over contiguous, as the
            # benchmark hands it, is converted; small_cnn's float32 token passes 1.47x faster in a micro-benchmark,
            # results/cpu/NOTES.md); CUDA keeps the layout it is given
            prepare_model(self.defender, cpu=True)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.attacker = TransformerAttacker(data.num_classes).to(self.device)
        self.opt_a = attacker_optimizer(self.attacker.parameters(), cfg.attacker_optimizer, cfg.attacker_lr,
                                        cfg.attacker_weight_decay)
        self.lr = defender_lr(cfg, split.scheme, is_pruned(model))
        self.opt_d = make_optimizer(self.defender.parameters(), TrainConfig(optimizer="sgd", lr=self.lr,
                                                                            momentum=cfg.momentum,
                                                                            weight_decay=cfg.weight_decay))
        self.xr, self.yr = data.train_part(split.retain)
        self.xf, self.yf = data.train_part(split.forget)
        val = np.asarray(split.val)
        if split.scheme == "class" and cfg.class_nonmembers == "val_other":
            val = val[~np.isin(data.train_part(val)[1].cpu().numpy(), list(split.forget_classes))]
            if len(val) == 0:
                raise ValueError("class_nonmembers 'val_other' left no validation sample outside the forgotten "
                                 "class; make the split with a larger val_size or use 'val'")
        self.xv, self.yv = data.train_part(val)
        self.crop, self.flip = augmentation(cfg.augment, data)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)

    def pair(self):
        """A forget batch and a validation batch (members and non-members)."""
        i = _draw(len(self.xf), self.cfg.pair_batch_size, self.rng)
        j = _draw(len(self.xv), self.cfg.pair_batch_size, self.rng)
        return self.xf[i], self.yf[i], self.xv[j], self.yv[j]

    def pair_tokens(self, bxf, byf, bxv, byv):
        """Tokens of a forget batch then a validation batch, in one forward pass, and their membership labels."""
        t = attack_tokens(self.defender, torch.cat([bxf, bxv]), torch.cat([byf, byv]), self.num_classes,
                          self.cfg.sensitivity_draws, self.cfg.sensitivity_sigma, self.gen,
                          detach_sensitivity=self.cfg.detach_sensitivity, sensitivity=self.cfg.sensitivity)
        return t, torch.cat([torch.ones(len(byf)), torch.zeros(len(byv))]).long().to(self.device)

    def attacker_step(self, update: bool = True):
        """Algorithm 1, attacker: one update on a fresh forget / validation pair (update=False: only its loss
        and accuracy, for the trajectory). Returns tensors (no host sync)."""
        self.defender.eval()
        with torch.no_grad():
            t, target = self.pair_tokens(*self.pair())
        return self._attacker_update(t, target, update)

    def skip_measurement(self) -> None:
        """The random draws of `attacker_step(update=False)` (a pair, its noise) without its passes: made where the
        trajectory would measure the attacker but nothing traces the run, so a traced run and an untraced one draw
        the same batches afterwards and give the same model (the cache keys them alike)."""
        bxf, _, bxv, _ = self.pair()
        sensitivity_noise(torch.cat([bxf, bxv]), self.cfg.sensitivity_draws, self.gen)

    def _attacker_update(self, t: torch.Tensor, target: torch.Tensor, update: bool = True):
        """The attacker's update on tokens without gradient to the defender: its loss and accuracy (tensors)."""
        self.attacker.train(update)
        with torch.set_grad_enabled(update):
            logits = self.attacker(t)
            loss = F.cross_entropy(logits, target)
        if update:
            self.opt_a.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_a.step()
        return loss.detach(), (logits.argmax(1) == target).float().mean()

    def defender_step(self, alpha: float, lam: float, attacker_first: bool = False) -> dict:
        """Algorithm 1, defender: CE on a retain batch - alpha * the attacker's log-likelihood on a fresh pair
        + lam * Barlow Twins between the pair's mean-centred features; one SGD step (gradient norm clipped
        at cfg.max_grad_norm). Returns the terms (tensors) and the gradient norm before clipping.
        attacker_first (cfg.shared_pair; alpha > 0): the attacker first updates on the pair's tokens, detached, and
        the adversarial term then scores the same tokens; its loss and accuracy come back as "attacker"."""
        cfg, defender, device = self.cfg, self.defender, self.device
        i = _draw(len(self.xr), cfg.batch_size, self.rng)
        bxr, byr = self.xr[i], self.yr[i]
        if self.crop or self.flip:
            bxr = augment(bxr, self.crop, self.flip)
        bxf, byf, bxv, byv = self.pair()
        self.attacker.eval()
        defender.train()
        with autocast(device, True, cpu=cfg.cpu_bf16):
            ce = F.cross_entropy(defender(bxr), byr)
        loss = ce
        adv = torch.zeros((), device=device)
        if alpha > 0:
            # tokens in eval mode: the attacker queries a deployed model; gradients still reach the weights
            defender.eval()
            t, member = self.pair_tokens(bxf, byf, bxv, byv)
            if attacker_first:
                attacker = self._attacker_update(t.detach(), member)
                self.attacker.eval()
            logits = self.attacker(t)
            adv = F.cross_entropy(logits, 1 - member) if cfg.non_saturating else -F.cross_entropy(logits, member)
            loss = loss + alpha * adv
            defender.train()
        bt = torch.zeros((), device=device)
        if lam > 0:
            with autocast(device, True, cpu=cfg.cpu_bf16), bn_eval(defender, cfg.bn_from_retain):
                h = defender.features(torch.cat([bxf, bxv])).float()
            hf, hv = h[:len(bxf)], h[len(bxf):]
            n = min(len(hf), len(hv))
            bt = barlow_twins(hf[:n] - hf[:n].mean(0), hv[:n] - hv[:n].mean(0), cfg.barlow_offdiag)
            loss = loss + lam * bt
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        # the norm before clipping is logged: the sensitivity tokens divide by sigma, so the attacker's
        # term can send gradients far larger than the retain loss's
        grad_norm = torch.nn.utils.clip_grad_norm_(defender.parameters(), cfg.max_grad_norm or float("inf"))
        self.opt_d.step()
        terms = {"retain_ce": ce.detach(), "adversarial": adv.detach(), "barlow_twins": bt.detach(), "grad_norm": grad_norm}
        return {**terms, "attacker": attacker} if alpha > 0 and attacker_first else terms


class _Watch:
    """Forget / retain / validation accuracy on fixed samples (up to 512 each), eval mode, no gradients."""

    def __init__(self, game: Game, seed: int):
        rng = np.random.default_rng(seed)
        self.game, self.sets = game, {}
        for name, x, y in (("forget", game.xf, game.yf), ("retain", game.xr, game.yr), ("val", game.xv, game.yv)):
            i = torch.from_numpy(rng.permutation(len(x))[:512]).to(game.device)
            self.sets[name] = (x[i], y[i])

    @torch.no_grad()
    def accuracies(self) -> dict:
        model = self.game.defender
        was = model.training
        model.eval()
        with autocast(self.game.device, True, cpu=self.game.cfg.cpu_bf16):
            out = {f"{name}_acc": float((model(x).argmax(1) == y).float().mean()) for name, (x, y) in self.sets.items()}
        model.train(was)
        return out


# Per profile (why, with the sweeps behind each value: results/<profile>/NOTES.md and results/<profile>/02_sweeps):
# no clipping on the MLP of smoke and quick, 5 where the ResNet-18 collapsed without it; the cpu profile's 2
# sensitivity draws and 100 iterations fit 2 cores; defender lr 0.003 and alpha 0.3 by validation-scored sweeps;
# cpu's class-wise rate 0.005 by issue 37's readings study and its rule (three seeds, results/cpu/02_sweeps).
PRESETS = {
    "smoke": {"iterations": 10, "pretrain_iters": 5, "max_grad_norm": None},
    "quick": {"pretrain_iters": 50, "max_grad_norm": None},
    "cpu": {"iterations": 100, "pretrain_iters": 50, "max_grad_norm": 5.0, "sensitivity_draws": 2, "lr": 0.003,
            "alpha": 0.3, "lr_class": 0.005},
    "paper": {"iterations": 400, "pretrain_iters": 200, "max_grad_norm": 5.0, "lr": 0.003},
}


def pretrain_attacker(game: Game, cfg: DAUConfig) -> dict:
    """The attacker's pre-training: exactly pretrain_iters updates (pretrain_stop None), or up to that many, stopping
    at the end of a window of pretrain_window updates whose mean accuracy reaches pretrain_stop or rises less than
    pretrain_min_gain over the previous window's. Returns {"steps", "acc" (the last window's mean accuracy, or the
    last update's), "last" (the last update's loss and accuracy)}."""
    steps, accs, last = 0, [], None
    previous = None
    for _ in range(cfg.pretrain_iters):
        last = game.attacker_step()
        steps += 1
        if cfg.pretrain_stop is None:
            continue
        accs.append(last[1])
        if len(accs) == cfg.pretrain_window:
            mean = float(torch.stack(accs).mean())  # one host sync per window
            accs = []
            if mean >= cfg.pretrain_stop or (previous is not None and mean - previous < cfg.pretrain_min_gain):
                return {"steps": steps, "acc": mean, "last": last}
            previous = mean
    acc = previous if previous is not None else (float(last[1]) if last is not None else float("nan"))
    return {"steps": steps, "acc": acc, "last": last}


@register("dau", DAUConfig)
def dau(model: nn.Module, split: Split, data: DeviceData, cfg: DAUConfig) -> nn.Module:
    """Min-max game of the model against a transformer MIA attacker, plus Barlow Twins on forget vs val features."""
    if len(split.val) == 0:
        raise ValueError("DAU needs validation samples (non-members for the attacker); make the split with val_size > 0")
    # the token passes' backward in IEEE float32 too, not a GPU's TF32 (`ieee_float32`); the retain and Barlow Twins
    # passes run under autocast (bf16), which these flags do not touch
    with ieee_float32():
        return _play(model, split, data, cfg)


def _play(model: nn.Module, split: Split, data: DeviceData, cfg: DAUConfig) -> nn.Module:
    """`dau`'s game, from the attacker's pre-training to the released defender."""
    game = Game(model, split, data, cfg)
    # the trajectory's accuracies are measured only when on_iteration is set (their cost then counts in the run time)
    watch = _Watch(game, cfg.seed + 1) if cfg.on_iteration is not None else None
    att_loss = att_acc = torch.full((), float("nan"))
    pre = pretrain_attacker(game, cfg)
    if pre["steps"]:
        att_loss, att_acc = pre["last"]
    for it in range(1, cfg.iterations + 1):
        alpha, lam = cfg.alpha, cfg.lam
        if split.scheme == "class" and cfg.class_off_after is not None and it > cfg.class_off_after:
            alpha = 0.0 if cfg.class_off in ("alpha", "both") else alpha
            lam = 0.0 if cfg.class_off in ("lam", "both") else lam
        log_point = it % cfg.log_every == 0 or it == cfg.iterations
        log_now = watch is not None and log_point
        shared = cfg.shared_pair and alpha > 0 and cfg.attacker_steps > 0
        if alpha > 0:
            for _ in range(cfg.attacker_steps - shared):  # shared_pair: the last update runs on the defender's pair
                att_loss, att_acc = game.attacker_step()
        elif log_point:
            # alpha is 0 (class-wise, after the first iterations): the attacker no longer shapes the defender, so it
            # is not trained further; it is only measured for the trajectory. Its pair and noise are drawn whether or
            # not a trace records them: the retain batches that follow, and so the model, do not depend on tracing
            if log_now:
                att_loss, att_acc = game.attacker_step(update=False)
            else:
                game.skip_measurement()
        terms = game.defender_step(alpha, lam, attacker_first=shared)
        if shared:
            att_loss, att_acc = terms.pop("attacker")
        if log_now:
            cfg.on_iteration({"iteration": it, "attacker_loss": float(att_loss), "attacker_acc": float(att_acc),
                              **{k: float(v) for k, v in terms.items()}, "alpha": alpha, "lam": lam,
                              **watch.accuracies(),
                              **({"pretrain_steps": pre["steps"], "pretrain_acc": pre["acc"]}
                                 if cfg.pretrain_stop is not None else {})})
    if cfg.bn_recalibrate:
        recalibrate_bn(game.defender, game.xr)
    game.defender.eval()
    return game.defender
