"""Gradient-penalty unlearning (Wang & Chen 2024), for SSL encoders and supervised models.

Full variant (eq. 2):    L = alpha * L_MEMtrain + beta * L_GP + gamma * L_Norm
  L_MEMtrain: the model's own training loss on the forget (member) samples, which keeps the model
              from collapsing (the SSL loss of two views for an encoder, cross-entropy for a classifier);
  L_GP:       gradient penalty of the outputs w.r.t. inputs at interpolates eps * x_nonmember +
              (1 - eps) * x_member (`losses.gradient_penalty`; the paper's formula (1), (||g|| - 1)^2,
              by default, its listings' variants via `form`);
  L_Norm:     mean L2 norm of the outputs on members, to lower the confidence on all data.
Simplified variant (eq. 3):  L = alpha * L_MEMtrain + beta * L_MEMGP, the penalty at the members themselves
(no non-member data).
"Outputs" are, for an `ssl.SSLModel`, its `output` (the encoder's features, or the projector's output on them:
`ssl.SSL_OUTPUTS`, the same output the EncoderMI attack reads), and the logits for a classifier.
Non-members are the split's validation samples (never trained on). Adam, `epochs` passes over the forget set.

Precision: the losses run under `fit`'s bf16 autocast on CUDA (`bf16`) and, with `cpu_bf16`, on a CPU, where the model
runs contiguous (the double backward through convolutions and BatchNorm is slower channels_last on oneDNN: measured
in results/cpu/NOTES.md, "Gradient-penalty unlearning on the bf16 path"). The cpu preset keeps float32, which every
committed notebook-03 table at cpu ran; `--variant gradient_penalty cpu_bf16=True` of `bench_methods` times the other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import DeviceData, Split
from ..losses import GP_FORMS, gradient_penalty, interpolate
from ..models import clone
from ..train import autocast, model_device
from ..ssl import output_view
from . import register

VARIANTS = ("full", "simplified")


@dataclass(frozen=True)
class GradientPenaltyConfig:
    variant: str = "full"  # "full" (eq. 2) or "simplified" (eq. 3)
    alpha: float = 1.0  # member training loss weight
    beta: float = 1.0  # gradient-penalty weight
    gamma: float = 0.1  # output-norm weight (full variant only)
    form: str = "wgan"  # see losses.GP_FORMS
    epochs: int = 10  # the paper: 10 unlearning epochs
    lr: float = 1e-4  # Adam
    batch_size: int = 256
    # an SSL model's output the penalty and the norm act on (ssl.SSL_OUTPUTS): "encoder", its features, or
    # "projector"; a classifier has only its logits ("encoder")
    output: str = "encoder"
    bf16: bool = True  # bf16 autocast on CUDA, as fit trains (TrainConfig.bf16)
    cpu_bf16: bool = False  # TrainConfig.cpu_bf16: bf16 autocast on a CPU, the model contiguous (see the docstring)
    seed: int = 0


def _is_ssl(model: nn.Module) -> bool:
    return hasattr(model, "encode") and hasattr(model, "loss")


def member_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The model's training loss on (x, y): SSL loss of two views for an encoder, cross-entropy otherwise."""
    if _is_ssl(model):
        return model.loss(model.augment(x, generator), model.augment(x, generator))
    return F.cross_entropy(model(x), y)


# notebook 03's Adam rate at every profile, the rate its encoders train at (the paper's listing gives none); at cpu
# float32 on the CPU whatever the start model trained in: the committed notebook-03 tables ran it (the bf16 path is
# about twice as fast there, results/cpu/NOTES.md)
PRESETS = {p: {"lr": 1e-3} for p in ("smoke", "quick", "cpu", "paper")}
PRESETS["cpu"]["cpu_bf16"] = False


@register("gradient_penalty", GradientPenaltyConfig)
def gradient_penalty_unlearning(model: nn.Module, split: Split, data: DeviceData, cfg: GradientPenaltyConfig) -> nn.Module:
    """Minimise alpha L_MEMtrain + beta L_GP (+ gamma L_Norm) over forget batches for cfg.epochs epochs."""
    if cfg.variant not in VARIANTS:
        raise ValueError(f"unknown gradient-penalty variant {cfg.variant!r}; choose one of {VARIANTS}")
    if cfg.form not in GP_FORMS:
        raise ValueError(f"unknown gradient-penalty form {cfg.form!r}; choose one of {GP_FORMS}")
    if cfg.variant == "full" and len(split.val) == 0:
        raise ValueError("the full variant needs non-members: make the split with val_size > 0, or use variant='simplified'")
    out = clone(model)
    device = model_device(out)
    if cfg.cpu_bf16 and device.type == "cpu":
        out.to(memory_format=torch.contiguous_format)
    out.train()
    # what the penalty and the norm act on: an SSL model's `output` (ssl.SSL_OUTPUTS) or a classifier's logits, built
    # once; a projector asked of a classifier fails here, before any work
    outputs = output_view(out, cfg.output)
    params = [p for p in out.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator(device=data.device).manual_seed(cfg.seed)
    xf, yf = data.train_part(split.forget)
    xv, _ = data.train_part(split.val) if len(split.val) else (None, None)
    for _ in range(cfg.epochs):
        order = rng.permutation(len(xf))
        for s in range(0, len(order), cfg.batch_size):
            b = order[s:s + cfg.batch_size]
            if len(b) < 2:  # BatchNorm needs two samples
                continue
            xb, yb = xf[b], yf[b]
            with autocast(device, cfg.bf16, cpu=cfg.cpu_bf16):
                loss = cfg.alpha * member_loss(out, xb, yb, gen) if cfg.alpha else torch.zeros((), device=xb.device)
                if cfg.beta:
                    if cfg.variant == "full":
                        xn = xv[rng.choice(len(xv), len(b), replace=len(xv) < len(b))]
                        z = interpolate(xb, xn, gen)
                    else:
                        z = xb
                    loss = loss + cfg.beta * gradient_penalty(outputs, z, cfg.form)
                if cfg.variant == "full" and cfg.gamma:
                    loss = loss + cfg.gamma * outputs(xb).float().norm(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if _is_ssl(out):
                out.update_target()
    out.eval()
    return out
