"""Shadow models trained and unlearned by the pipeline, for per-example attacks (`unlearnlib.attacks.per_example`).

    design = ShadowDesign.draw(dataset, pool_size=..., n_targets=..., n_val=..., n_population=..., seed=0)
    jobs = design.jobs("small_cnn", train_cfg, methods, n_shadows=32)
    outs = run_tasks(run_shadow_job, jobs)          # in-process, or Ray tasks (unlearnlib.tasks)

The design follows Hayes et al. (2024): a pool of training samples holds target examples T, a validation set
V (never trained on: the methods' known non-members, e.g. DAU's) and the rest R (always trained on). Shadow
k trains an original on R and its part of T, then forgets exactly that part with every method; each target
is in exactly half the shadows (a balanced random design), so it is "unlearned" in half the shadows and
"never seen" in the others, and every retrained
model (trained on R alone) is a model that never saw any target. The forget set is about |T| / 2 samples
(random forgetting). Originals and retrained models come from the project's caches; each job's outputs
(logits on T, on population samples from the test part and on a sample of R) are cached as one file per
shadow, so a cut run resumes at the next shadow, whichever process or Ray worker ran the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from . import paths
from .cache import cache_key, indices_key, read_npz_entry
from .data import Dataset, Split, device_data, save_npz_atomic
from .train import TrainConfig, predict


@dataclass(frozen=True)
class ShadowDesign:
    """Which samples the shadows share: targets T, validation V, the rest R (training part), population Z (test part)."""

    dataset: str
    targets: np.ndarray = field(repr=False)
    val: np.ndarray = field(repr=False)
    rest: np.ndarray = field(repr=False)
    population: np.ndarray = field(repr=False)
    retain_probe: np.ndarray = field(repr=False)  # a sample of R whose outputs are kept (the SVC attack's members)
    seed: int = 0

    @classmethod
    def draw(cls, dataset: Dataset, pool_size: int | None, n_targets: int, n_val: int, n_population: int,
             seed: int = 0) -> "ShadowDesign":
        n_train, n_test = len(dataset.y_train), len(dataset.y_test)
        pool_size = n_train if pool_size is None else pool_size
        if not 0 < pool_size <= n_train:
            raise ValueError(f"pool_size must be between 1 and the {n_train} training samples of {dataset.name}, got {pool_size}")
        if n_targets < 2 or n_val < 1 or n_targets + n_val >= pool_size:
            raise ValueError(f"need at least 2 targets, 1 validation sample and something left to always train on: "
                             f"{n_targets} targets + {n_val} validation of a pool of {pool_size}")
        if not 0 < n_population <= n_test:
            raise ValueError(f"n_population must be between 1 and the {n_test} test samples, got {n_population}")
        rng = np.random.default_rng(seed)
        pool = rng.permutation(n_train)[:pool_size]
        targets, val, rest = pool[:n_targets], pool[n_targets:n_targets + n_val], pool[n_targets + n_val:]
        population = np.sort(rng.permutation(n_test)[:n_population])
        probe = np.sort(rng.permutation(rest)[:min(len(rest), n_population)])
        return cls(dataset.name, np.sort(targets), np.sort(val), np.sort(rest), population, probe, seed)

    def membership(self, n_shadows: int) -> np.ndarray:
        """(n_shadows, |T|) bool: which shadows train on and forget which targets. Balanced, as LiRA's shadow
        designs: every target is in exactly n_shadows // 2 shadows (a random choice per target), so each shadow
        forgets about half of T."""
        ranks = np.random.default_rng([self.seed, n_shadows]).random((n_shadows, len(self.targets))).argsort(0).argsort(0)
        return ranks < n_shadows // 2

    def forget_set(self, index: int, n_shadows: int) -> np.ndarray:
        """Shadow `index`'s forgotten (and trained-on) targets, of a design of n_shadows shadows."""
        return self.targets[self.membership(n_shadows)[index]]

    def split(self, index: int, n_shadows: int, n_train: int, n_test: int) -> Split:
        return Split("random", self.seed * 1000 + index, forget=self.forget_set(index, n_shadows), retain=self.rest,
                     val=self.val, test=self.population, test_forget=np.empty(0, dtype=np.int64), n_train=n_train,
                     n_test=n_test, dataset=self.dataset)

    def jobs(self, model: str, train: TrainConfig, methods: list[tuple[str, Any]], n_shadows: int,
             device: str = "cpu", threads: int | None = None) -> list["ShadowJob"]:
        if n_shadows < 2:
            raise ValueError(f"per-example attacks need at least 2 shadow models, got {n_shadows}")
        threads = threads or torch.get_num_threads()
        return [ShadowJob(self, i, n_shadows, model, train, tuple(methods), device, threads) for i in range(n_shadows)]


@dataclass(frozen=True)
class ShadowJob:
    """One shadow: train (cached) an original on R and its half of T, unlearn that half with every method, keep outputs."""

    design: ShadowDesign
    index: int
    n_shadows: int  # of the design (the balanced membership depends on it)
    model: str
    train: TrainConfig
    methods: tuple[tuple[str, Any], ...]
    device: str = "cpu"
    threads: int = 1  # torch threads inside the job, wherever it runs (numerics depend on it)

    def key(self, data_fingerprint: str) -> str:
        d = self.design
        return cache_key(kind="unlearned_shadow", dataset=d.dataset, data=data_fingerprint, seed=d.seed, index=self.index,
                         n_shadows=self.n_shadows,
                         sets=[indices_key(a) for a in (d.targets, d.val, d.rest, d.population, d.retain_probe)],
                         model=self.model, train=self.train, methods=[(n, c) for n, c in self.methods],
                         threads=self.threads, device=self.device)


def run_shadow_job(job: ShadowJob, cache: bool = True) -> dict[str, np.ndarray]:
    """Outputs of one shadow's models: logits on targets / population / retain probe per model ("original" first,
    then each method), the forget mask over T and each method's run time. Cached; safe to run as a Ray task."""
    from .experiment import run_methods
    from .originals import train_original

    data = device_data(job.design.dataset, job.device)
    path = paths.cache_root() / "unlearned_shadows" / f"{job.model}-{job.key(data.fingerprint)}.npz"
    names = ("names", "logits_t", "logits_z", "logits_r", "forget_mask", "seconds")
    hit = read_npz_entry(path, names) if cache else None
    if hit is not None:
        return {k: hit[k] for k in names}
    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        d = job.design
        split = d.split(job.index, job.n_shadows, len(data.y_train), len(data.y_test))
        seed = split.seed
        wants_record = any(n == "amnesiac" for n, _ in job.methods)
        original, info = train_original(job.model, data, split, replace(job.train, seed=seed), progress=False,
                                        record_requests={"forget": split.forget} if wants_record else None)
        models, seconds = {"original": original}, {"original": float(info["seconds"])}
        # amnesiac subtracts the updates recorded while this shadow's original trained
        methods = [(n, replace(c, record=info["amnesiac"], request="forget") if n == "amnesiac" else c)
                   for n, c in job.methods]
        for name, run in run_methods(original, data, split, methods, seed=seed, cache=cache):
            models[name], seconds[name] = run.model, run.seconds
        parts = {"t": data.train_part(d.targets)[0], "z": data.test_part(d.population)[0],
                 "r": data.train_part(d.retain_probe)[0]}
        out = {f"logits_{p}": np.stack([predict(m, x).numpy() for m in models.values()]).astype(np.float32)
               for p, x in parts.items()}
        out.update(names=np.array(list(models)), forget_mask=np.isin(d.targets, split.forget),
                   seconds=np.array([seconds[n] for n in models]))
    finally:
        torch.set_num_threads(threads)
    if cache:
        save_npz_atomic(path, **out)
    return out


@dataclass
class ShadowOutputs:
    """Every shadow's outputs stacked: logits (models, shadows, examples, classes), forget masks (shadows, T)."""

    names: list[str]
    logits_t: np.ndarray
    logits_z: np.ndarray
    logits_r: np.ndarray
    forget: np.ndarray
    seconds: np.ndarray  # (models, shadows)
    labels_t: np.ndarray
    labels_z: np.ndarray
    labels_r: np.ndarray

    @classmethod
    def stack(cls, outs: list[dict], design: ShadowDesign, dataset: Dataset) -> "ShadowOutputs":
        names = [str(n) for n in outs[0]["names"]]
        if any([str(n) for n in o["names"]] != names for o in outs):
            raise ValueError("shadow outputs list different models; were they made with the same methods?")
        return cls(names, *(np.stack([o[k] for o in outs], axis=1) for k in ("logits_t", "logits_z", "logits_r")),
                   np.stack([o["forget_mask"] for o in outs]), np.stack([o["seconds"] for o in outs], axis=1),
                   dataset.y_train[design.targets], dataset.y_test[design.population],
                   dataset.y_train[design.retain_probe])

    def model(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"no outputs for {name!r}; the shadows hold {self.names}")
        return self.names.index(name)
