"""Model inversion (Fredrikson, Jha & Ristenpart, CCS 2015, MI-Face), as Graves et al. (AAAI 2021)
run it in their released "Model Inversion Attacks" notebook (lmgraves/AmnesiacML): gradient
descent on the input image to lower the target class's cost, from small random noise, for a fixed
number of iterations, with a denoising step every 500 iterations.

What their `invert`/`generate` do, and the defaults here: the image starts at `torch.rand / div - 1`
on inputs normalised to [-1, 1] (div = 128: black plus noise of at most 1/256 of the pixel range);
each step is `x - learning_rate * grad` with learning_rate 1 on the model's normalised input and
the cost -log p(class) (`F.nll_loss` on a LogSoftmax head); 1000 iterations; at iterations 500,
1000, ... (not the last) `ndimage.median_filter(size=2)`, then an unsharp mask whose two Gaussian
filters have `truncate` -1/6 and -1, i.e. a radius of 0: identities, so their denoising is the
2x2 median alone (checked with scipy 1.17). The pixels are never clipped while optimising; their
`imshow` clips for display, as `invert` does for the image it returns.

variant="project" is this project's earlier attack: the image starts at the data mean, the cost is
MI-Face's 1 - p, each step is scaled by the gradient's largest entry (so a saturated softmax still
moves the image), a 3x3 Gaussian blur every 50 steps, pixels clipped to [0, 1] every step, and it
stops once the best cost has not improved for `patience` steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..train import model_device


@dataclass(frozen=True)
class InversionConfig:
    steps: int = 1000  # fixed iterations: Graves et al.'s notebook runs generate(num_iters=1000)
    lr: float = 1.0  # their learning_rate: plain gradient step on the normalised input
    cost: str = "nll"  # "nll": -log p (their criterion, F.nll_loss); "one_minus_p": MI-Face's 1 - p
    denoise_every: int = 500  # their refine step: `i % 500 == 0` (0 = never)
    denoise: str = "median"  # "median": their 2x2 median filter; "blur": a 3x3 Gaussian blur
    init: str = "noise"  # "noise": their black + uniform noise; "mean": the data's mean pixel
    noise: float = 1 / 256  # noise amplitude in [0, 1] pixels: their rand / div with div = 128 on [-1, 1] inputs
    normalize_step: bool = False  # scale each step by the gradient's largest entry (project variant)
    clip: bool = False  # clip to [0, 1] pixels every step (project variant); the result is clipped either way
    patience: int | None = None  # stop when the best cost has not improved for this many steps; None: fixed steps
    min_cost: float = 0.0  # with patience: stop once the cost falls to this (Fredrikson's gamma)

    @classmethod
    def project(cls, steps: int = 500) -> "InversionConfig":
        """This project's earlier variant (see the module docstring)."""
        return cls(steps=steps, lr=0.05, cost="one_minus_p", denoise_every=50, denoise="blur", init="mean",
                   normalize_step=True, clip=True, patience=100)


def _blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    k = (k[:, None] * k[None, :]) / 16.0
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)


def median2x2(x: torch.Tensor) -> torch.Tensor:
    """scipy's `ndimage.median_filter(x, size=2)` per channel of (N, C, H, W): the window of rows i-1, i
    and columns j-1, j (reflected at the border), and of its 4 values the third smallest (scipy's rank
    size // 2). Their filter ran over the 4-D tensor, so on RGB it also mixed neighbouring channels."""
    p = F.pad(x, (1, 0, 1, 0), mode="replicate")  # reflect of scipy = repeat the edge for a 1-pixel pad
    w = torch.stack([p[..., :-1, :-1], p[..., :-1, 1:], p[..., 1:, :-1], p[..., 1:, 1:]], 0)
    return w.sort(0).values[2]


def invert(model: nn.Module, target_class: int, shape: tuple[int, int, int], mean: torch.Tensor, std: torch.Tensor,
           cfg: InversionConfig = InversionConfig(), seed: int = 0) -> tuple[torch.Tensor, float]:
    """Reconstruct a representative input of `target_class`.

    shape: (C, H, W); mean, std: the model's input normalisation (C,). Returns the image in
    [0, 1] pixels (clipped), (C, H, W) on the CPU, and the model's probability of the class for it.
    With patience the best image seen is returned, else the last one.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    m = mean.to(device).view(1, -1, 1, 1)
    s = std.to(device).view(1, -1, 1, 1)
    if cfg.init == "noise":
        g = torch.Generator().manual_seed(seed)
        x0 = torch.rand(1, *shape, generator=g).to(device) * cfg.noise
    elif cfg.init == "mean":
        x0 = m.expand(1, *shape).clone()
    else:
        raise ValueError(f"init must be 'noise' or 'mean', got {cfg.init!r}")
    z = ((x0 - m) / s).requires_grad_(True)  # the model's normalised input: their optimisation variable
    best, best_cost, since = z.detach().clone(), float("inf"), 0
    try:
        for step in range(1, cfg.steps + 1):
            logp = F.log_softmax(model(z).float(), dim=1)[0, target_class]
            cost = -logp if cfg.cost == "nll" else 1.0 - logp.exp()
            grad, = torch.autograd.grad(cost, z)
            with torch.no_grad():
                if cfg.normalize_step:
                    z -= cfg.lr * grad / grad.abs().max().clamp_min(1e-12)
                else:
                    z -= cfg.lr * grad
                if cfg.denoise_every and step % cfg.denoise_every == 0 and step < cfg.steps:
                    x = z * s + m
                    x = median2x2(x) if cfg.denoise == "median" else _blur(x)
                    z.copy_((x - m) / s)
                if cfg.clip:
                    z.copy_(((z * s + m).clamp(0.0, 1.0) - m) / s)
            if cfg.patience is not None:
                c = float(cost.detach())
                if c < best_cost - 1e-6:
                    best, best_cost, since = z.detach().clone(), c, 0
                else:
                    since += 1
                if best_cost <= cfg.min_cost or since >= cfg.patience:
                    break
        if cfg.patience is None:
            best = z.detach().clone()
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)
    img = (best * s + m).clamp(0.0, 1.0)
    with torch.no_grad():
        final = float(F.softmax(model((img - m) / s).float(), dim=1)[0, target_class])
    return img[0].cpu(), final


@torch.no_grad()
def judge(judge_model: nn.Module, images, target_class: int, mean: torch.Tensor, std: torch.Tensor) -> list[float]:
    """An independent model's probability of `target_class` for each image (H, W, C or C, H, W, pixels in [0, 1]).

    The judge is a classifier that was not inverted, e.g. one trained on held-out data: a model rating its own
    inversion (the probability `invert` returns) is high by construction, since the image was optimised for it."""
    device = model_device(judge_model)
    was_training = judge_model.training
    judge_model.eval()
    out = []
    for img in images:
        x = torch.as_tensor(img, dtype=torch.float32)
        if x.shape[-1] == len(mean) and x.shape[0] != len(mean):  # H, W, C -> C, H, W
            x = x.permute(2, 0, 1)
        x = ((x.to(device) - mean.to(device).view(-1, 1, 1)) / std.to(device).view(-1, 1, 1)).unsqueeze(0)
        out.append(float(F.softmax(judge_model(x).float(), dim=1)[0, target_class]))
    judge_model.train(was_training)
    return out
