"""Model registry (`create_model`) and one-shot global magnitude pruning.

Every model exposes `features(x) -> (N, D)` (the penultimate representation, used by the
Barlow Twins regulariser, kNN monitors and attacks) and `head` (the last linear layer), so
`model(x) == model.head(model.features(x))`.
"""
from __future__ import annotations

import copy
import hashlib
from contextlib import contextmanager
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.parametrize as parametrize

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    def deco(fn):
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = fn
        return fn
    return deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """Build a freshly initialised model from the registry (see `list_models()`).

    image_size is only used by models whose input size is fixed (the MLP).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {list_models()}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    return _MODELS[name](num_classes=num_classes, in_channels=in_channels, image_size=image_size)


# --------------------------------------------------------------------------- ResNet-18 (CIFAR)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-18 for 32x32 inputs: 3x3 stem, no max-pool (He et al. 2016; Unlearn-Sparse's model)."""

    def __init__(self, num_blocks=(2, 2, 2, 2), num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, in_planes = [], 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.head = nn.Linear(512, num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("resnet18")
def resnet18(num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return CifarResNet((2, 2, 2, 2), num_classes, in_channels)


class TorchvisionResNet(nn.Module):
    """torchvision's ResNet-18 with the ImageNet stem (7x7 stride-2 conv, max-pool).

    The setting of Amnesiac ML's notebooks (lmgraves/AmnesiacML); the stem takes
    in_channels so MNIST needs no channel replication.
    """

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        from torchvision.models import resnet18 as tv_resnet18

        net = tv_resnet18(weights=None, num_classes=num_classes)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.head = net.fc
        net.fc = nn.Identity()
        self.body = net

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


@register_model("resnet18_imagenet")
def resnet18_imagenet(num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return TorchvisionResNet(num_classes, in_channels)


# --------------------------------------------------------------------------- small models for CPUs


class SmallCNN(nn.Module):
    """Four 3x3 conv-BN-ReLU stages (32-64-128-256), global average pooling, linear head.

    About 0.39M parameters for 3 input channels: the CPU stand-in for ResNet-18.
    """

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()

        def stage(cin, cout, pool):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            return layers + ([nn.MaxPool2d(2)] if pool else [])

        self.body = nn.Sequential(*stage(in_channels, 32, False), *stage(32, 64, True),
                                  *stage(64, 128, True), *stage(128, 256, True))
        self.head = nn.Linear(256, num_classes)

    def features(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("small_cnn")
def small_cnn(num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return SmallCNN(num_classes, in_channels)


class MLP(nn.Module):
    """Flatten, two hidden layers of 256 with ReLU, linear head."""

    def __init__(self, num_classes: int, in_features: int, hidden: int = 256):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


@register_model("mlp")
def mlp(num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return MLP(num_classes, in_channels * image_size * image_size)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- pruning


class WeightMask(nn.Module):
    """Parametrisation weight = original * mask (a 0/1 buffer), recomputed at every access.

    Registered with torch.nn.utils.parametrize, so the mask stays applied while the model is
    trained or unlearned (gradients of pruned entries are zero) and the model deep-copies.
    """

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return weight


PRUNE_LAYERS = ("auto", "conv", "conv_linear")


def _prunable(model: nn.Module, layers: str = "conv_linear") -> list[nn.Module]:
    """The layers whose weights are pruned (never BN or biases).

    layers "conv": convolution weights only, as Unlearn-Sparse's one-shot magnitude pruning
    (`pruner.pruning_model`: every nn.Conv2d, globally, L1); "conv_linear": convolution and linear
    weights; "auto": "conv" when the model has convolutions, else its linear weights (our choice
    for an all-MLP model, which has nothing else to prune).
    """
    if layers not in PRUNE_LAYERS:
        raise ValueError(f"unknown pruning layers {layers!r}; choose one of {PRUNE_LAYERS}")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if layers == "conv" or (layers == "auto" and convs):
        if not convs:
            raise ValueError("the model has no convolution to prune; use layers='auto' or 'conv_linear'")
        return convs
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _mask_of(module: nn.Module) -> torch.Tensor | None:
    if parametrize.is_parametrized(module, "weight"):
        for p in module.parametrizations.weight:
            if isinstance(p, WeightMask):
                return p.mask
    return None


def prune_global(model: nn.Module, sparsity: float, layers: str = "auto") -> nn.Module:
    """One-shot global magnitude pruning (OMP; Ma et al. 2021, as Unlearn-Sparse runs it): a copy
    whose `sparsity` share of the chosen weights, the smallest in absolute value across all those
    layers together, is masked to zero.

    layers: "auto" (default) prunes convolution weights only, as the reference does, and the linear
    weights of a model without convolutions (an MLP); "conv_linear" prunes both. See `_prunable`.
    The input model is not modified. Masks are `WeightMask` parametrisations.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if is_pruned(model):
        raise ValueError("model is already pruned; prune the dense model instead")
    pruned = copy.deepcopy(model)
    layers = _prunable(pruned, layers)
    flat = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    k = int(round(sparsity * flat.numel()))
    keep = torch.ones_like(flat, dtype=torch.bool)
    if k > 0:
        keep[torch.topk(flat, k, largest=False).indices] = False
    offset = 0
    for m in layers:
        n = m.weight.numel()
        mask = keep[offset:offset + n].view_as(m.weight).to(m.weight.dtype)
        offset += n
        parametrize.register_parametrization(m, "weight", WeightMask(mask))
    return pruned


def is_pruned(model: nn.Module) -> bool:
    return any(_mask_of(m) is not None for m in model.modules())


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Pruning masks by module name (empty for a dense model)."""
    return {name: mask for name, m in model.named_modules() if (mask := _mask_of(m)) is not None}


def architecture_fingerprint(model: nn.Module) -> str:
    """The architecture and pruning masks of `model`, not its weights (what a model retrained from it inherits)."""
    h = hashlib.sha1(type(model).__name__.encode())
    for name, p in model.state_dict().items():
        h.update(f"{name}:{tuple(p.shape)};".encode())
    for name, m in sorted(masks(model).items()):
        h.update(name.encode())
        h.update(m.detach().cpu().numpy().astype("uint8").tobytes())
    return h.hexdigest()


def sparsity(model: nn.Module, layers: str = "auto") -> float:
    """Share of zero weights over the weights `prune_global(..., layers)` prunes."""
    zeros = total = 0
    for m in _prunable(model, layers):
        w = m.weight
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / max(total, 1)


def reinitialize(model: nn.Module, seed: int | None = None, channels_last: bool = False) -> nn.Module:
    """A copy with freshly initialised parameters and BN statistics (pruning masks kept).

    Used by retraining from scratch: same architecture and sparsity pattern, new weights.
    channels_last: the order a masked convolution's new weights are drawn in (the random stream fills memory in
    storage order), given, not taken from `model`'s layout: a model `fit` has just trained is channels_last where it
    trains so (CUDA, or a CPU with cpu_bf16), a start model may come in either layout (a cache entry written before
    entries kept their layout reads back contiguous; the benchmark hands a contiguous start), and all must retrain
    from the same weights (they share a cache entry; a run resumed from the cache must retrain the model an
    uninterrupted run does). Retrain passes the layout `fit` will train the fresh model in, which is the one
    every committed sparse retrain drew in. The unmasked layers use torch's reset_parameters, which draws contiguous
    whatever the layout.
    """
    fresh = copy.deepcopy(model)
    if seed is not None:
        torch.manual_seed(seed)
    for m in fresh.modules():
        if _mask_of(m) is not None:
            # torch's Conv/Linear init (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(fan_in))) on the
            # unmasked original, since reset_parameters would write into the computed weight
            original = m.parametrizations.weight.original
            with torch.no_grad():
                layout = torch.channels_last if channels_last and original.dim() == 4 else torch.contiguous_format
                draw = torch.empty_like(original, memory_format=layout)
                original.copy_(nn.init.kaiming_uniform_(draw, a=math.sqrt(5)))
                if m.bias is not None:
                    bound = 1.0 / math.sqrt(original[0].numel())
                    nn.init.uniform_(m.bias, -bound, bound)
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return fresh


# --------------------------------------------------------------------------- BatchNorm and copies


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
    device = next(model.parameters()).device
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if len(xb) < 2:
            continue  # a lone sample cannot give batch statistics
        if device.type == "cuda" and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
            model(xb)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.eval()
    return len(bns)


def clone(model: nn.Module) -> nn.Module:
    """A deep copy on the same device: methods return new models, never mutate their input."""
    return copy.deepcopy(model)


def _layout_tensors(model: nn.Module):
    """The model's 4-d parameters and buffers (a masked convolution's original weight and mask included), by name."""
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        if t.dim() == 4:
            yield name, t


def _strides(t: torch.Tensor, layout: torch.memory_format) -> tuple[int, ...]:
    """The strides a tensor of t's shape has when allocated in `layout`."""
    return torch.empty_like(t, device="meta", memory_format=layout).stride()


def channels_last_names(model: nn.Module) -> list[str]:
    """The names of the model's 4-d parameters and buffers stored channels_last: the layout `fit` leaves a
    convolutional model in (on CUDA, and on a CPU with cpu_bf16). A cache entry records it, and `set_layout` gives a
    model read back the layout of the one computed: a float32 convolution rounds differently in each, so a method that
    keeps its start model's layout (the gradient penalty in float32), or an evaluation, would otherwise give other
    digits from a cached start than from a fresh one, under the same cache key. Read from the strides themselves: a
    one-channel input's convolution (MNIST, digits) counts as contiguous in both layouts, yet computes differently."""
    return [n for n, t in _layout_tensors(model) if t.stride() == _strides(t, torch.channels_last)
            and t.stride() != _strides(t, torch.contiguous_format)]


def set_layout(model: nn.Module, channels_last: list[str]) -> nn.Module:
    """Store each 4-d parameter and buffer named in `channels_last` (`channels_last_names`) channels_last and every
    other one contiguous, with those layouts' strides, in place; returns the model."""
    names = set(channels_last)
    with torch.no_grad():
        for name, t in _layout_tensors(model):
            layout = torch.channels_last if name in names else torch.contiguous_format
            if t.stride() != _strides(t, layout):
                t.data = t.data.clone(memory_format=layout)
    return model
