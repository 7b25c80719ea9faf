"""Shadow-model membership inference (Shokri et al., S&P 2017), as Amnesiac ML uses it.

The protocol of Graves et al.'s released "Membership Inference Attack" notebook (lmgraves/AmnesiacML,
CIFAR-100): 20 shadow models, each trained like the target on a random half of the training data
(`random_split(traindata, [n/2, n/2])`: "in") and evaluated on the other half ("out"). For every
class c an attack MLP (C -> 256 -> 128 -> 1, ReLU, dropout 0.5, sigmoid; Adam, binary
cross-entropy, 10 epochs, batch 8) learns to tell the shadows' softmax vectors of in-samples of
class c from those of out-samples; only the in-samples the shadow classifies correctly count as
members. The attack is then applied to the target's softmax vector of a sample, using its label's
model. Graves et al. report its recall on the forgotten samples (share predicted "member").

The shadows' halves come from the target's own training pool, as in the released notebook, so
shadows and target share samples: the attack's quality must be measured on the target's known
members (retain) against samples no model here trained on (validation / test).

This module takes the shadows' outputs (`ShadowData`); the pipeline trains the shadow models
(`unlearnlib.shadows.train_shadow_models`). The per-class attack networks are the attack's own fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..metrics import attack_scores


@dataclass
class ShadowData:
    """Softmax outputs of the shadow models: probs (M, K), labels (M,), is_in (M,) bool; index (M,):
    the sample's index into the part the shadows were drawn from; shadow (M,): which shadow model."""

    probs: np.ndarray
    labels: np.ndarray
    is_in: np.ndarray
    index: np.ndarray | None = None
    shadow: np.ndarray | None = None

    @property
    def correct(self) -> np.ndarray:
        """(M,) bool: the shadow's prediction is the sample's label."""
        return self.probs.argmax(1) == self.labels


class AttackMLP(nn.Module):
    """Graves et al.'s AttackModel: Linear(C, 256), ReLU, dropout, Linear(256, 128), ReLU, dropout,
    Linear(128, 1); returns the logit (their sigmoid is folded into the loss)."""

    def __init__(self, num_inputs: int, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.5):
        super().__init__()
        sizes = (num_inputs, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.dropout(F.relu(layer(x)), self.dropout, self.training)
        return self.out(x).squeeze(1)


@dataclass(frozen=True)
class AttackConfig:
    hidden: tuple[int, ...] = (256, 128)  # Graves et al.'s AttackModel (100 -> 256 -> 128 -> 1 on CIFAR-100)
    dropout: float = 0.5  # F.dropout's default p, as their forward calls it
    epochs: int = 10  # their attack training loop: `for epoch in range(10)`
    batch_size: int = 8  # their notebook's batch_size (attack loaders too)
    lr: float = 1e-3  # optim.Adam(model.parameters()) default
    correct_in_only: bool = True  # their attack set keeps an in-sample only if the shadow's argmax is its label
    # None: every shadow output of the class. Their CIFAR-100 sets held about 5,000 + 1,300-3,900 samples per
    # class (the counts their notebook prints); 20 MNIST shadows give about 110,000 per class, which batches
    # of 8 take about 15 CPU minutes to fit: a cap draws that many at random per class.
    max_per_class: int | None = None


@dataclass
class ShadowAttack:
    """One attack MLP per class on softmax vectors; predicts 1 = member."""

    num_classes: int
    models: dict[int, nn.Module] = field(default_factory=dict)
    fallback: dict[int, int] = field(default_factory=dict)  # classes seen with one outcome only (or none)
    cfg: AttackConfig = field(default_factory=AttackConfig)
    n_train: dict[int, tuple[int, int]] = field(default_factory=dict)  # class -> (members, non-members) fitted on

    @classmethod
    def fit(cls, shadow: ShadowData, num_classes: int, cfg: AttackConfig = AttackConfig(),
            seed: int = 0) -> "ShadowAttack":
        """Train the per-class attack models on the CPU (small models; batches of 8 are launch-bound on a GPU)."""
        attack = cls(num_classes, cfg=cfg)
        keep = ~shadow.is_in | shadow.correct if cfg.correct_in_only else np.ones(len(shadow.labels), bool)
        rng = np.random.default_rng(seed)
        for c in range(num_classes):
            sel = np.flatnonzero((shadow.labels == c) & keep)
            if cfg.max_per_class is not None and len(sel) > cfg.max_per_class:
                sel = np.sort(rng.choice(sel, cfg.max_per_class, replace=False))
            t = shadow.is_in[sel].astype(np.float32)
            attack.n_train[c] = (int(t.sum()), int(len(t) - t.sum()))
            if len(sel) == 0:
                attack.fallback[c] = 1
                continue
            if len(np.unique(t)) < 2:
                attack.fallback[c] = int(t[0])
                continue
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 1000 + c)
                model = AttackMLP(shadow.probs.shape[1], cfg.hidden, cfg.dropout)
                opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
                x = torch.as_tensor(shadow.probs[sel], dtype=torch.float32)
                y = torch.as_tensor(t)
                model.train()
                for _ in range(cfg.epochs):
                    for b in torch.randperm(len(y)).split(cfg.batch_size):
                        loss = F.binary_cross_entropy_with_logits(model(x[b]), y[b])
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
            attack.models[c] = model.eval()
        return attack

    def member_probability(self, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        probs, labels = np.asarray(probs), np.asarray(labels)
        out = np.zeros(len(labels))
        for c in np.unique(labels):
            sel = labels == c
            c = int(c)
            if c in self.models:
                with torch.no_grad():
                    out[sel] = torch.sigmoid(self.models[c](torch.as_tensor(probs[sel], dtype=torch.float32))).numpy()
            else:
                out[sel] = float(self.fallback.get(c, 1))
        return out

    def predict_member(self, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return (self.member_probability(probs, labels) >= 0.5).astype(int)

    def recall(self, probs: np.ndarray, labels: np.ndarray) -> float:
        """Share (0..1) of the given samples predicted member: the paper's metric on forgotten data."""
        return float(self.predict_member(probs, labels).mean()) if len(labels) else float("nan")

    def evaluate(self, member_probs, member_labels, nonmember_probs, nonmember_labels) -> dict:
        """attack_scores on known members vs non-members of a target model."""
        p = np.concatenate([member_probs, nonmember_probs])
        y = np.concatenate([member_labels, nonmember_labels])
        truth = np.concatenate([np.ones(len(member_labels)), np.zeros(len(nonmember_labels))])
        return attack_scores(self.predict_member(p, y), truth, self.member_probability(p, y))
