"""Gradients over a dataset for curvature-based unlearning (Fisher forgetting, influence, SSD, SalUn's saliency).

The batch-gradient functions take `cpu_bf16` (TrainConfig.cpu_bf16): on a CPU, their forward and backward passes
under bf16 autocast with the model and its batches channels_last, the path `fit` trains the cpu profile's originals
on; the loss and the gradients returned stay float32. Off by default, and on CUDA: float32 throughout, as the
reference codes compute them. The per-sample (vmap) gradients are always float32.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .train import autocast, prepare_model


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _on(model: nn.Module, cpu_bf16: bool) -> bool:
    return cpu_bf16 and next(model.parameters()).device.type == "cpu"


def _fast(model: nn.Module, cpu_bf16: bool):
    """The context of a gradient pass: bf16 autocast when `_on` (the model put channels_last, as `fit` does), else
    none."""
    if not _on(model, cpu_bf16):
        return nullcontext()
    prepare_model(model, cpu=True)
    return autocast(torch.device("cpu"), True, cpu=True)


def _logits(model: nn.Module, xb: torch.Tensor, cpu_bf16: bool) -> torch.Tensor:
    """The model's logits on a batch as float32 (channels_last batches when `_on`)."""
    if xb.dim() == 4 and _on(model, cpu_bf16):
        xb = xb.contiguous(memory_format=torch.channels_last)
    return model(xb).float()


@torch.no_grad()
def _zeros(model: nn.Module) -> list[torch.Tensor]:
    return [torch.zeros_like(p) for _, p in trainable(model)]


def _per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int) -> Iterator[dict[str, torch.Tensor]]:
    """The cross-entropy gradient of every sample alone, `chunk` samples at a time: yields {parameter name:
    (B, *shape)} over the trainable parameters, in eval mode (torch.func's vmap; no loop over samples)."""
    from torch.func import functional_call, grad, vmap

    was_training = model.training
    model.eval()
    params = {n: p.detach() for n, p in trainable(model)}
    buffers = dict(model.named_buffers())

    def loss(par, xi, yi):
        out = functional_call(model, (par, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(out.float(), yi.reshape(1))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    try:
        for i in range(0, len(x), chunk):
            yield per_sample(params, x[i:i + chunk], y[i:i + chunk])
    finally:
        model.train(was_training)


def squared_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> list[torch.Tensor]:
    """Sum over samples of (d log p_y(x_i) / d theta)^2, per trainable parameter (eval mode).

    The diagonal empirical Fisher is this divided by N. d log p_y = -d CE, so the squares are the
    per-sample cross-entropy gradients' (`_per_sample_grads`)."""
    names = [n for n, _ in trainable(model)]
    acc = _zeros(model)
    for g in _per_sample_grads(model, x, y, batch_size):
        for a, n in zip(acc, names):
            a += g[n].pow(2).sum(0)
    return acc


def expected_fisher_diag(model: nn.Module, x: torch.Tensor, batch_size: int = 32,
                         batched: bool | None = None, cpu_bf16: bool = False) -> list[torch.Tensor]:
    """Golatkar et al.'s (2020) diagonal Hessian estimate, as Unlearn-Sparse's `fisher_new` computes it:
    the mean over batches of sum_y mean_batch(p_y) * (d CE_batch(f(x), y) / d theta)^2, over every class y
    (the model's own predictive distribution, not the labels; eval mode).

    batched: the K per-class backward passes of a batch as one vmapped pass (autograd's
    is_grads_batched; same numbers, K times the gradient memory, far fewer kernel launches on a
    GPU); None = batched on CUDA, a loop elsewhere (no faster on a CPU). cpu_bf16: module docstring.
    """
    was_training = model.training
    model.eval()
    params = [p for _, p in trainable(model)]
    acc = [torch.zeros_like(p) for p in params]
    batched = (params[0].device.type == "cuda") if batched is None else batched
    batches = 0
    for i in range(0, len(x), batch_size):
        with _fast(model, cpu_bf16):
            out = _logits(model, x[i:i + batch_size], cpu_bf16)
        k = out.shape[1]
        w = F.softmax(out, dim=-1).detach().mean(0)  # (K,) mean probability of each class
        ce = -F.log_softmax(out, dim=-1).mean(0)  # (K,) batch-mean cross-entropy towards each class
        if batched:
            grads = torch.autograd.grad(ce, params, grad_outputs=torch.eye(k, device=out.device), is_grads_batched=True)
            for a, g in zip(acc, grads):
                a.add_(torch.tensordot(w, g.pow(2), dims=1))
        else:
            for c in range(k):
                grads = torch.autograd.grad(ce[c], params, retain_graph=c < k - 1)
                for a, g in zip(acc, grads):
                    a.add_(w[c] * g.pow(2))
        batches += 1
    model.train(was_training)
    return [a / max(batches, 1) for a in acc]


def mean_loss_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128,
                   cpu_bf16: bool = False) -> torch.Tensor:
    """Flattened gradient of the mean cross-entropy over (x, y), eval mode (cpu_bf16: module docstring)."""
    was_training = model.training
    model.eval()
    params = [p for _, p in trainable(model)]
    total = torch.zeros(sum(p.numel() for p in params), device=params[0].device)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        with _fast(model, cpu_bf16):
            loss = F.cross_entropy(_logits(model, xb, cpu_bf16), yb)
        g = torch.autograd.grad(loss, params)
        total += torch.cat([t.reshape(-1) for t in g]) * len(yb)
    model.train(was_training)
    return total / max(len(x), 1)


def batch_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 32,
                source: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
                cpu_bf16: bool = False) -> Iterator[list[torch.Tensor]]:
    """The gradient of each batch's mean cross-entropy, per trainable parameter in float32 (a parameter the loss does
    not reach gets zeros), eval mode; the batches are consecutive slices of (x, y) (file order, no augmentation), or
    those of `source` when given (e.g. a Stepper's shuffled, augmented batches); cpu_bf16: module docstring."""
    was_training = model.training
    model.eval()
    params = [p for _, p in trainable(model)]
    if source is None:
        source = ((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size))
    try:
        for xb, yb in source:
            with _fast(model, cpu_bf16):
                loss = F.cross_entropy(_logits(model, xb, cpu_bf16), yb)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            yield [torch.zeros_like(p, dtype=torch.float32) if g is None else g.float() for p, g in zip(params, grads)]
    finally:
        model.train(was_training)


def batch_loss_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 32,
                     cpu_bf16: bool = False) -> Iterator[torch.Tensor]:
    """Flattened gradient of the mean cross-entropy of each consecutive batch, eval mode (`batch_grads`)."""
    for g in batch_grads(model, x, y, batch_size, cpu_bf16=cpu_bf16):
        yield torch.cat([t.reshape(-1) for t in g])


def mean_squared_batch_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                             cpu_bf16: bool = False) -> list[torch.Tensor]:
    """Per trainable parameter, the mean over consecutive batches of the squared gradient of the batch's mean
    cross-entropy (`batch_grads`; SSD's importance)."""
    acc, n = None, 0
    for g in batch_grads(model, x, y, batch_size, cpu_bf16=cpu_bf16):
        acc = [t.pow(2) for t in g] if acc is None else [a.add_(t.pow(2)) for a, t in zip(acc, g)]
        n += 1
    if acc is None:
        raise ValueError("mean_squared_batch_grads needs at least one sample, got an empty set")
    return [a / n for a in acc]


def sample_loss_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 32) -> Iterator[torch.Tensor]:
    """Flattened cross-entropy gradient of each sample (x_i, y_i) in turn, eval mode (batch size 1,
    as Unlearn-Sparse's WoodFisher loop); computed `chunk` samples at a time (`_per_sample_grads`)."""
    names = [n for n, _ in trainable(model)]
    for g in _per_sample_grads(model, x, y, chunk):
        yield from torch.cat([g[n].reshape(g[n].shape[0], -1) for n in names], dim=1)


@torch.no_grad()
def add_flat_(model: nn.Module, v: torch.Tensor) -> None:
    """theta += v, v flattened in trainable-parameter order."""
    offset = 0
    for _, p in trainable(model):
        n = p.numel()
        p.add_(v[offset:offset + n].view_as(p).to(p.dtype))
        offset += n
