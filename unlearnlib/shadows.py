"""Shadow models for the shadow-model membership inference (Shokri et al., S&P 2017), as the pipeline
trains them for Amnesiac ML (Graves et al., AAAI 2021, their "Membership Inference Attack" notebook,
lmgraves/AmnesiacML).

    shadow = train_shadow_models("small_cnn", data, split.train, 10, train_cfg, seed=0)   # ShadowData
    attack = ShadowAttack.fit(shadow, data.num_classes)                                  # attacks.shadow

Each shadow is trained like the target (the same TrainConfig) on a random half of a pool of samples
("in", Graves et al.'s `random_split(traindata, [n/2, n/2])`) and evaluated on the other half ("out");
their softmax outputs are what the attack (`unlearnlib.attacks.shadow`) fits on. Training lives here,
the attack takes outputs only.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import torch

from . import paths
from .attacks.shadow import ShadowData
from .cache import cache_key, read_npz_entry
from .data import DeviceData, save_npz_atomic
from .metrics import softmax
from .models import create_model
from .train import TrainConfig, fit, predict


def shadow_halves(pool: np.ndarray, n_shadow: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(in, out) index pairs, one per shadow: a random half of `pool` and the rest (the same size;
    an odd sample out is dropped), as Graves et al.'s `random_split(traindata, [n/2, n/2])`."""
    pool = np.asarray(pool)
    rng = np.random.default_rng(seed)
    halves = []
    for _ in range(n_shadow):
        order = rng.permutation(pool)
        half = len(order) // 2
        halves.append((order[:half], order[half:2 * half]))
    return halves


def train_shadow_models(model_name: str, data: DeviceData, pool: np.ndarray, n_shadow: int, cfg: TrainConfig,
                        seed: int = 0, progress: bool = False, from_test: bool = False, cache: bool = True) -> ShadowData:
    """Train n_shadow models like the target (cfg) on random halves of `pool` and collect their
    outputs on their in and out halves.

    pool: indices into the training part (Graves et al.'s notebook: the training data, so each
    shadow trains on half as many samples as a target trained on all of it); from_test=True
    takes them from the test part instead (this project's earlier scheme: shadows that never
    share a sample with the target, but at the test part's size).
    cache: keep the outputs (not the models) in the cache folder under a key of everything that
    determines them, so a rerun (or a run resumed after a time limit) skips the training."""
    if n_shadow < 1:
        raise ValueError(f"n_shadow must be at least 1, got {n_shadow}")
    pool = np.asarray(pool)
    if len(pool) < 4:
        raise ValueError(f"the shadow pool needs at least 4 samples, got {len(pool)}")
    # the key as when this function lived in attacks/shadow.py, so shadow outputs cached then stay valid
    key = cache_key(kind="shadow", layout=2, model=model_name, dataset=data.name, data=data.fingerprint,
                    n_shadow=n_shadow, cfg=cfg, seed=seed, from_test=from_test,
                    pool=hashlib.sha1(pool.astype(np.int64).tobytes()).hexdigest())
    path = paths.cache_root() / "shadow" / f"{model_name}-{key}.npz"
    z = read_npz_entry(path, ("probs", "labels", "is_in", "index", "shadow")) if cache else None
    if z is not None:
        return ShadowData(z["probs"], z["labels"], z["is_in"], z["index"], z["shadow"])
    part = data.test_part if from_test else data.train_part
    names = ("probs", "labels", "is_in", "index", "shadow")

    def part_path(i: int):  # shadow i's own entry while the run lasts, so a cut run resumes at the next shadow
        return path.with_name(f"{path.stem}.part{i}.npz")
    pieces = []
    for i, (ins, outs) in enumerate(shadow_halves(pool, n_shadow, seed)):
        hit = read_npz_entry(part_path(i), names) if cache else None
        if hit is not None:
            pieces.append(hit)
            continue
        torch.manual_seed(seed * 1000 + i)
        shadow = create_model(model_name, data.num_classes, data.in_channels, data.image_size).to(data.device)
        x_in, y_in = part(ins)
        fit(shadow, x_in, y_in, replace(cfg, seed=seed * 1000 + i), data=data,
            progress=progress, desc=f"shadow {i + 1}/{n_shadow}")
        piece = {k: [] for k in names}
        for idx, flag in ((ins, True), (outs, False)):
            x, y = part(idx)
            piece["probs"].append(softmax(predict(shadow, x).numpy()))
            piece["labels"].append(y.cpu().numpy())
            piece["is_in"].append(np.full(len(idx), flag))
            piece["index"].append(np.asarray(idx, dtype=np.int64))
            piece["shadow"].append(np.full(len(idx), i, dtype=np.int64))
        piece = {k: np.concatenate(v) for k, v in piece.items()}
        if cache:
            save_npz_atomic(part_path(i), **piece)
        pieces.append(piece)
    out = ShadowData(*(np.concatenate([p[k] for p in pieces]) for k in names))
    if cache:
        save_npz_atomic(path, probs=out.probs, labels=out.labels, is_in=out.is_in, index=out.index, shadow=out.shadow)
        for i in range(n_shadow):
            part_path(i).unlink(missing_ok=True)
    return out
