"""The one training loop (`fit`), prediction, and the on-disk cache of original models.

fit trains on on-device tensors with SGD (momentum, Nesterov, weight decay) or Adam, a
multistep, one-cycle, cosine or constant schedule, bf16 autocast and channels_last on CUDA,
optional per-batch hooks (amnesiac unlearning records each batch's parameter update), a
custom per-batch loss (gradient ascent, penalties...), and explicit seeds.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import paths
from .data import DeviceData, Split, batches
from .models import create_model, count_parameters


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: str | torch.device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({torch.get_num_threads()} threads)"


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (also the original-model cache key)."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"  # "sgd" | "adam"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "multistep"  # "multistep" | "onecycle" | "cosine" | "constant"
    milestones: tuple[float, ...] = (0.5, 0.75)  # multistep: fractions of training
    gamma: float = 0.1  # multistep decay factor
    warmup: float = 0.2  # onecycle: fraction of steps spent rising to lr
    label_smoothing: float = 0.0
    augment: bool = True  # the dataset's random crop / flip
    bf16: bool = True  # autocast to bfloat16 on CUDA
    seed: int = 0


def train_config_from(cfg, **fixed) -> TrainConfig:
    """A TrainConfig from the same-named fields of a method config (epochs, lr, ...), plus `fixed`.

    Method configs keep flat fields (`unlearn("finetune", ..., epochs=3)`); this maps them onto
    the one training loop. Fields the method config lacks keep TrainConfig's defaults.
    """
    names = TrainConfig.__dataclass_fields__
    values = {k: getattr(cfg, k) for k in names if hasattr(cfg, k)}
    return TrainConfig(**{**values, **fixed})


@dataclass
class History:
    """Per-epoch log of a `fit` call."""

    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    images: int = 0

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use 'sgd' or 'adam'")


def lr_factor(cfg: TrainConfig, step: int, total: int) -> float:
    """Multiplier of cfg.lr at optimizer step `step` of `total`."""
    t = step / max(total, 1)
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "multistep":
        return cfg.gamma ** sum(t >= m for m in cfg.milestones)
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if cfg.schedule == "onecycle":
        # linear rise from 0 to lr over `warmup`, then linear fall to 0 (as in cifar10-airbench)
        return t / cfg.warmup if t < cfg.warmup else max(0.0, (1.0 - t) / (1.0 - cfg.warmup))
    raise ValueError(f"unknown schedule {cfg.schedule!r}; use multistep, onecycle, cosine or constant")


def default_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(model(x), y, label_smoothing=label_smoothing)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def prepare_model(model: nn.Module) -> nn.Module:
    """channels_last on CUDA for convolutional models (faster tensor-core convolutions)."""
    if model_device(model).type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    data: DeviceData | None = None,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    on_batch_start: Callable[[torch.Tensor], None] | None = None,
    on_batch_end: Callable[[torch.Tensor], None] | None = None,
    on_epoch_end: Callable[[int, nn.Module], dict | None] | None = None,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train `model` in place on (x, y), tensors on the model's device; return a History.

    data: source of the augmentation settings (crop padding, flip) when cfg.augment.
    loss_fn(model, xb, yb, positions) -> scalar loss; default cross-entropy (with
    cfg.label_smoothing). positions index x, so a hook can tell which samples a batch holds.
    on_batch_start / on_batch_end(positions): called around each optimizer step.
    on_epoch_end(epoch, model) -> optional dict merged into that epoch's log (epoch 1-based).
    A last batch of a single sample is skipped (BatchNorm cannot normalise one 1x1 feature map).
    """
    if len(x) == 0:
        raise ValueError("cannot train on an empty set")
    device = model_device(model)
    if x.device != device:
        raise ValueError(f"data on {x.device} but model on {device}; move one of them")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    prepare_model(model)
    opt = make_optimizer(model.parameters(), cfg)
    steps_per_epoch = len(x) // cfg.batch_size + (len(x) % cfg.batch_size > 1 or len(x) == 1)
    total = steps_per_epoch * cfg.epochs
    crop, flip = (data.crop_padding, data.flip) if (cfg.augment and data is not None) else (0, False)
    loss_fn = loss_fn or (lambda m, xb, yb, pos: default_loss(m, xb, yb, cfg.label_smoothing))
    hist = History()
    step = 0
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)
        for xb, yb, pos in batches(x, y, cfg.batch_size, True, crop, flip, gen):
            if len(yb) == 1 and len(x) > 1:
                # a lone last sample breaks BatchNorm where features are 1x1; it is reshuffled next epoch
                continue
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(cfg, step, total)
            if device.type == "cuda":
                xb = xb.contiguous(memory_format=torch.channels_last)
            if on_batch_start is not None:
                on_batch_start(pos)
            with _autocast(device, cfg.bf16):
                loss = loss_fn(model, xb, yb, pos)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_batch_end is not None:
                on_batch_end(pos)
            loss_sum += loss.detach() * len(yb)
            hist.images += len(yb)
            step += 1
            bar.update(1)
        log = {"epoch": epoch, "loss": float(loss_sum) / len(x), "lr": cfg.lr * lr_factor(cfg, step - 1, total)}
        if on_epoch_end is not None:
            log.update(on_epoch_end(epoch, model) or {})
        hist.epochs.append(log)
        bar.set_postfix(loss=f"{log['loss']:.3f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    hist.seconds = time.perf_counter() - start
    bar.close()
    model.eval()
    return hist


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, bf16: bool = True) -> torch.Tensor:
    """Logits (N, K) as float32 on the CPU, in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        if device.type == "cuda" and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with _autocast(device, bf16):
            out.append(model(xb).float().cpu())
    model.train(was_training)
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in percent (nan for an empty set)."""
    if len(x) == 0:
        return float("nan")
    return 100.0 * float((predict(model, x).argmax(1) == y.cpu()).float().mean())


# --------------------------------------------------------------------------- original-model cache


def cache_key(**parts) -> str:
    """Stable hash of JSON-serialisable parts (dataclasses become dicts)."""
    def norm(v):
        if hasattr(v, "__dataclass_fields__"):
            return asdict(v)
        return v
    blob = json.dumps({k: norm(v) for k, v in parts.items()}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def train_original(
    model_name: str,
    data: DeviceData,
    split: Split,
    cfg: TrainConfig,
    *,
    cache: bool = True,
    progress: bool = True,
    record_requests: dict[str, np.ndarray] | None = None,
    on_epoch_end=None,
    part: str = "train",
) -> tuple[nn.Module, dict]:
    """Train (or load from the cache) the original model on forget + retain.

    part="retain" trains the same way on the retain set only: the model retrained from scratch,
    cached like the original (info["seconds"] is the measured training time, also on a cache hit).

    The cache key holds everything that determines the model: dataset fingerprint,
    split fingerprint, model name, classes, channels, image size and the TrainConfig.
    record_requests: name -> dataset indices; records amnesiac updates for each (Graves et al.
    2021) while training, returned as info["amnesiac"] (an AmnesiacRecord) and cached with the model.
    on_epoch_end disables the cache (its side effects would not happen on a cache hit).
    Returns (model on data.device in eval mode, info dict with key, seconds, cached flag).
    """
    if part not in ("train", "retain"):
        raise ValueError(f"part must be 'train' (forget + retain) or 'retain', got {part!r}")
    requests = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in (record_requests or {}).items()}
    extra = {"part": part} if part != "train" else {}  # keys of originals made before `part` existed stay valid
    key = cache_key(dataset=data.name, data=data.fingerprint, split=split.fingerprint(), model=model_name,
                    num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size,
                    cfg=cfg, requests={k: hashlib.sha1(v.tobytes()).hexdigest() for k, v in requests.items()}, **extra)
    model = create_model(model_name, data.num_classes, data.in_channels, data.image_size)
    path = paths.cache_root() / "models" / f"{model_name}-{key}.pt"
    use_cache = cache and on_epoch_end is None
    if use_cache and path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(blob["state"])
        model.to(data.device).eval()
        meta = json.loads(path.with_suffix(".json").read_text())
        info = {"key": key, "path": str(path), "cached": True, "seconds": meta["seconds"], "history": meta["history"]}
        if requests:
            from .methods.amnesiac import AmnesiacRecord

            info["amnesiac"] = AmnesiacRecord(tuple(meta["amnesiac_names"]),
                                              {r: [t.to(data.device) for t in ts] for r, ts in blob["amnesiac"].items()},
                                              meta["amnesiac_hits"], meta["amnesiac_batches"])
        return model, info
    torch.manual_seed(cfg.seed)
    model = create_model(model_name, data.num_classes, data.in_channels, data.image_size).to(data.device)
    indices = split.train if part == "train" else split.retain
    x, y = data.train_part(indices)
    recorder = None
    if requests:
        from .methods.amnesiac import AmnesiacRecorder

        recorder = AmnesiacRecorder(model, indices, requests)
    desc = f"original {model_name}" if part == "train" else f"retrain {model_name}"
    hist = fit(model, x, y, cfg, data=data, progress=progress, desc=desc,
               on_batch_start=recorder.before if recorder else None,
               on_batch_end=recorder.after if recorder else None, on_epoch_end=on_epoch_end)
    info = {"key": key, "path": str(path), "cached": False, "seconds": hist.seconds, "history": hist.epochs,
            "parameters": count_parameters(model)}
    blob = {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    meta = {"cfg": asdict(cfg), "model": model_name, "dataset": data.name, **info}
    if recorder is not None:
        record = info["amnesiac"] = recorder.record()
        blob["amnesiac"] = {r: [t.cpu() for t in ts] for r, ts in record.sums.items()}
        meta.update(amnesiac_names=list(record.names), amnesiac_hits=record.batches_hit,
                    amnesiac_batches=record.batches_total)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)
        path.with_suffix(".json").write_text(json.dumps({k: v for k, v in meta.items() if k != "amnesiac"},
                                                        default=str))
    model.eval()
    return model, info


def prune_and_tune(model: nn.Module, data: DeviceData, split: Split, sparsity: float, cfg: TrainConfig,
                   progress: bool = True, layers: str = "auto") -> tuple[nn.Module, dict]:
    """The sparse original: one-shot global magnitude pruning of `model`, then `cfg` epochs of
    training on forget + retain with the masks applied (Unlearn-Sparse trains its sparse models;
    a 95 %-pruned network without it is barely better than chance). cfg.epochs = 0 skips the tuning.
    layers: which weights are pruned (`models.prune_global`; default: convolutions, as the reference)."""
    from .models import prune_global

    pruned = prune_global(model, sparsity, layers)
    seconds = 0.0
    if cfg.epochs > 0:
        x, y = data.train_part(split.train)
        seconds = fit(pruned, x, y, cfg, data=data, progress=progress, desc=f"tune {sparsity:.0%} sparse").seconds
    pruned.eval()
    return pruned, {"seconds": seconds, "sparsity": sparsity}


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of the model (1-d, 2-d and 3-d)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def bn_eval(model: nn.Module, enabled: bool = True):
    """BatchNorm layers in eval mode (running statistics used, not updated) inside the block; gradients still flow."""
    bns = [m for m in batchnorm_layers(model) if m.training] if enabled else []
    for m in bns:
        m.eval()
    try:
        yield
    finally:
        for m in bns:
            m.train()


@torch.no_grad()
def recalibrate_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 512, bf16: bool = True) -> int:
    """Re-estimate every BatchNorm layer's running statistics on `x` (in place; no weight changes).

    The statistics are reset and replaced by the exact average over `x` (momentum None), in
    train mode without gradients; the model is left in eval mode. Returns the number of BN layers
    (0: nothing to do). One forward pass over x: a small cost next to any training.
    """
    bns = [m for m in batchnorm_layers(model) if m.track_running_stats]
    if not bns or len(x) == 0:
        model.eval()
        return len(bns)
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    device = model_device(model)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if len(xb) < 2:
            continue  # a lone sample cannot give batch statistics
        if device.type == "cuda" and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with _autocast(device, bf16):
            model(xb)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.eval()
    return len(bns)


def clone(model: nn.Module) -> nn.Module:
    """A deep copy on the same device: methods return new models, never mutate their input."""
    return copy.deepcopy(model)
