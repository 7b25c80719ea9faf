"""The one training loop (`fit`) and prediction.

fit trains on on-device tensors with SGD (momentum, Nesterov, weight decay) or Adam, a
multistep, one-cycle, cosine or constant schedule, bf16 autocast and channels_last on CUDA,
optional per-batch hooks (amnesiac unlearning records each batch's parameter update), a
custom per-batch loss (gradient ascent, penalties...), and explicit seeds.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
try:  # widget bars in a notebook that can draw them
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
except ImportError:  # text bars: tqdm.auto would fall back to them anyway, with a warning naming this environment's path
    from tqdm.std import tqdm

from .data import DeviceData, batches
from .results import native_cpu_bf16


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu. A named device must exist here: 'cuda' (or 'cuda:N') without
    a CUDA device torch can use, 'mps' without Metal, or a name torch does not know is a ValueError that says what
    this machine has, before anything is computed."""
    if str(device) != "auto":
        try:
            d = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N' ({exc})") from None
        if d.type == "cuda":
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if n == 0:
                raise ValueError(f"device {str(device)!r} asked for, but torch {torch.__version__} sees no CUDA device "
                                 "here; use 'auto' (a GPU where there is one, else the CPU) or 'cpu'")
            if d.index is not None and d.index >= n:
                raise ValueError(f"device {str(device)!r} asked for, but this machine has {n} CUDA device(s): "
                                 f"cuda:0..cuda:{n - 1}")
        if d.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                    and torch.backends.mps.is_available()):
            raise ValueError(f"device {str(device)!r} asked for, but Metal (MPS) is not available here; use 'auto' "
                             "or 'cpu'")
        return d
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
    augment: bool | str = True  # True: the dataset's random crop and flip; "flip": its flip only; False: none
    bf16: bool = True  # autocast to bfloat16 on CUDA
    cpu_bf16: bool = False  # on a CPU: bf16 autocast and channels_last (fast where the CPU has native bf16,
    # e.g. avx512_bf16 / AMX); off by default, so CPU results stay fp32. Predictions fed to attacks stay fp32.
    seed: int = 0


def train_config_from(cfg, **fixed) -> TrainConfig:
    """A TrainConfig from the same-named fields of a method config (epochs, lr, ...), plus `fixed`.

    Method configs keep flat fields (`unlearn("finetune", ..., epochs=3)`); this maps them onto
    the one training loop. Fields the method config lacks keep TrainConfig's defaults.
    """
    names = TrainConfig.__dataclass_fields__
    values = {k: getattr(cfg, k) for k in names if hasattr(cfg, k)}
    return TrainConfig(**{**values, **fixed})


def augmentation(augment: bool | str, data: DeviceData | None) -> tuple[int, bool]:
    """(crop padding, flip) of a TrainConfig.augment value on `data` (no augmentation without data)."""
    if augment not in (True, False, "flip"):
        raise ValueError(f"augment takes True (crop and flip), 'flip' (flip only) or False, got {augment!r}")
    if not augment or data is None:
        return 0, False
    return (0 if augment == "flip" else data.crop_padding), data.flip


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


CPU_BF16_EMULATED = (
    "cpu_bf16 is on (the profile trains in bf16 on a CPU, for speed), but this CPU has no native bf16 ({cap}: torch "
    "emulates it, several times slower than float32; measured 16 against 82 images/s on an AVX2-only core). The "
    "config stays the profile's (its numbers not always to the last digit: other kernels). To run fast here, turn it off: `-p TRAIN '{{\"cpu_bf16\": "
    "False}}'` (the methods' bf16 passes follow the training setting); the rows then get a config of their "
    "own, apart from the committed bf16 ones.")


def autocast(device: torch.device, enabled: bool = True, cpu: bool = False):
    """bf16 autocast on CUDA, and on a CPU only when `cpu` (a no-op context elsewhere): the one switch every
    training loop uses. On a CPU without native bf16 it warns once (CPU_BF16_EMULATED) and still runs bf16, so
    a run's config does not depend on the machine (its digits may: other kernels)."""
    on = enabled and (device.type == "cuda" or (cpu and device.type == "cpu"))
    if on and device.type == "cpu" and not native_cpu_bf16():
        warnings.warn(CPU_BF16_EMULATED.format(cap=torch.backends.cpu.get_cpu_capability()), RuntimeWarning,
                      stacklevel=2)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)


def channels_last_on(device: torch.device, cpu: bool = False) -> bool:
    """Whether 4-d batches go channels_last: always on CUDA, on a CPU with `cpu` (TrainConfig.cpu_bf16)."""
    return device.type == "cuda" or (cpu and device.type == "cpu")


def prepare_model(model: nn.Module, cpu: bool = False) -> nn.Module:
    """channels_last for convolutional models on CUDA (faster tensor-core convolutions), and on a CPU with
    `cpu` (oneDNN's bf16 convolutions prefer it)."""
    if channels_last_on(model_device(model), cpu):
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
    prepare_model(model, cfg.cpu_bf16)
    opt = make_optimizer(model.parameters(), cfg)
    steps_per_epoch = len(x) // cfg.batch_size + (len(x) % cfg.batch_size > 1 or len(x) == 1)
    total = steps_per_epoch * cfg.epochs
    crop, flip = augmentation(cfg.augment, data)
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
            if xb.dim() == 4 and channels_last_on(device, cfg.cpu_bf16):
                xb = xb.contiguous(memory_format=torch.channels_last)
            if on_batch_start is not None:
                on_batch_start(pos)
            with autocast(device, cfg.bf16, cpu=cfg.cpu_bf16):
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
        bar.set_postfix(loss=f"{log['loss']:.3f}", refresh=False)  # no extra frame per epoch: the bar keeps its interval
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
        with autocast(device, bf16):
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
