"""Shadow-model membership inference (Shokri et al., S&P 2017), as Amnesiac ML uses it.

N shadow models are trained like the target, each on a random half ("in") of the attacker's
data and evaluated on the other half ("out"). For every class c an attack MLP (256, 128) learns
to tell the shadows' softmax vectors of in-samples of class c from those of out-samples. The
attack is then applied to the target's softmax vector of a sample, using its label's model.
Graves et al. report its recall on the forgotten samples (share predicted "member").
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .. import paths
from ..data import DeviceData, save_npz_atomic
from ..metrics import attack_scores, softmax
from ..models import create_model
from ..train import TrainConfig, cache_key, fit, predict


@dataclass
class ShadowData:
    """Softmax outputs of the shadow models: probs (M, K), labels (M,), is_in (M,) bool."""

    probs: np.ndarray
    labels: np.ndarray
    is_in: np.ndarray


def train_shadow_models(model_name: str, data: DeviceData, pool: np.ndarray, n_shadow: int, cfg: TrainConfig,
                        seed: int = 0, progress: bool = False, from_test: bool = True, cache: bool = True) -> ShadowData:
    """Train n_shadow models like the target on random halves of `pool` (indices into the test
    part when from_test, else the training part) and collect their outputs on in and out halves.

    cache: keep the outputs (not the models) in the cache folder under a key of everything that
    determines them, so a rerun (or a run resumed after a time limit) skips the training."""
    if n_shadow < 1:
        raise ValueError(f"n_shadow must be at least 1, got {n_shadow}")
    pool = np.asarray(pool)
    if len(pool) < 4:
        raise ValueError(f"the shadow pool needs at least 4 samples, got {len(pool)}")
    key = cache_key(kind="shadow", model=model_name, dataset=data.name, data=data.fingerprint, n_shadow=n_shadow,
                    cfg=cfg, seed=seed, from_test=from_test, pool=hashlib.sha1(pool.astype(np.int64).tobytes()).hexdigest())
    path = paths.cache_root() / "shadow" / f"{model_name}-{key}.npz"
    if cache and path.is_file():
        with np.load(path) as z:
            return ShadowData(z["probs"], z["labels"], z["is_in"])
    part = data.test_part if from_test else data.train_part
    rng = np.random.default_rng(seed)
    probs, labels, is_in = [], [], []
    for i in range(n_shadow):
        order = rng.permutation(pool)
        half = len(order) // 2
        ins, outs = order[:half], order[half:2 * half]
        torch.manual_seed(seed * 1000 + i)
        shadow = create_model(model_name, data.num_classes, data.in_channels, data.image_size).to(data.device)
        x_in, y_in = part(ins)
        fit(shadow, x_in, y_in, replace(cfg, seed=seed * 1000 + i), data=data,
            progress=progress, desc=f"shadow {i + 1}/{n_shadow}")
        for idx, flag in ((ins, True), (outs, False)):
            x, y = part(idx)
            probs.append(softmax(predict(shadow, x).numpy()))
            labels.append(y.cpu().numpy())
            is_in.append(np.full(len(idx), flag))
    out = ShadowData(np.concatenate(probs), np.concatenate(labels), np.concatenate(is_in))
    if cache:
        save_npz_atomic(path, probs=out.probs, labels=out.labels, is_in=out.is_in)
    return out


@dataclass
class ShadowAttack:
    """One MLP (256, 128) per class on softmax vectors; predicts 1 = member."""

    num_classes: int
    models: dict[int, object] = field(default_factory=dict)
    fallback: dict[int, int] = field(default_factory=dict)  # classes seen with one outcome only

    @classmethod
    def fit(cls, shadow: ShadowData, num_classes: int, hidden=(256, 128), max_iter: int = 300,
            seed: int = 0) -> "ShadowAttack":
        from sklearn.neural_network import MLPClassifier

        attack = cls(num_classes)
        for c in range(num_classes):
            sel = shadow.labels == c
            t = shadow.is_in[sel].astype(int)
            if sel.sum() == 0:
                attack.fallback[c] = 1
                continue
            if len(np.unique(t)) < 2:
                attack.fallback[c] = int(t[0])
                continue
            clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=max_iter, random_state=seed,
                                early_stopping=False)
            clf.fit(shadow.probs[sel], t)
            attack.models[c] = clf
        return attack

    def member_probability(self, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        probs, labels = np.asarray(probs), np.asarray(labels)
        out = np.zeros(len(labels))
        for c in np.unique(labels):
            sel = labels == c
            c = int(c)
            if c in self.models:
                out[sel] = self.models[c].predict_proba(probs[sel])[:, 1]
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
