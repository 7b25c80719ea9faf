"""The transformer membership-inference attacker of Yuan & Zhang (USENIX Security 2022), as DAU
(Sharma et al. 2024) adopts it.

Per class c, a token [p_c, s_c, onehot_c]: the softmax prediction, its sensitivity to input noise
s = mean over draws of |softmax(x + sigma u) - softmax(x)| / sigma (u ~ N(0, I), sigma = 1e-3,
10 draws), and the one-hot label. The network is their `transformer.py` with its defaults, which DAU
keeps ("retaining the default configuration from Yuan and Zhang"): BatchNorm1d over the 3C input
features (predictions, sensitivities, labels), Linear(3 -> 64) per token and GELU, three post-norm
transformer encoder layers (4 heads, feed-forward 128, GELU, dropout 0.2), then Linear(64 C -> 64),
ReLU, Linear(64 -> 2); Xavier-normal weights and zero biases for the linear layers (`utils.weight_init`).
Their attack trains it with SGD (lr 1e-3, momentum 0.9, weight decay 5e-4, batch 128):
`attacker_optimizer`.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F


SENSITIVITIES = ("difference", "derivative")


@contextmanager
def ieee_float32():
    """Float32 convolutions (cuDNN) and matrix products (cuBLAS) in IEEE float32 inside the block, then as they were.

    On Ampere and later GPUs torch runs float32 convolutions in TF32 by default (a 10-bit mantissa: inputs rounded to
    about 5e-4 of their size), coarser than the change a sigma of 1e-3 makes, so the sensitivity token's finite
    difference, and the weight gradient through it, would carry that rounding. Emulated on a CPU (each convolution's
    input and weight rounded to TF32) the tokens were 10 % (the cpu original) to 14 % (an untrained ResNet-18) off in
    relative L1, float32's within 1e-4 (scripts/tf32_tokens.py; results/cpu/NOTES.md, "DAU's token passes in IEEE
    float32 on a GPU"). Per-operator flags (torch's newer API: the legacy `allow_tf32` would raise if read while they
    differ); a CPU's convolutions do not read them."""
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = conv.fp32_precision, matmul.fp32_precision
    conv.fp32_precision, matmul.fp32_precision = "ieee", "ieee"
    try:
        yield
    finally:
        conv.fp32_precision, matmul.fp32_precision = before


def attack_tokens(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, draws: int = 10,
                  sigma: float = 1e-3, generator: torch.Generator | None = None,
                  detach_sensitivity: bool = False, sensitivity: str = "difference") -> torch.Tensor:
    """(N, C, 3) tokens of the defender's outputs; differentiable w.r.t. the defender's weights.

    sensitivity "difference" (Yuan & Zhang): the clean input and its `draws` noisy copies go through the model in
    one batch (call it in eval mode, where a batch's samples do not interact), in IEEE float32: a sigma of 1e-3 is
    below bfloat16's resolution, and TF32's (a GPU's default for float32 convolutions: `ieee_float32`).
    "derivative": the same draws' directional derivatives |J u| of the softmax (J its Jacobian at x), by
    forward-mode AD (`torch.func.jvp`, vmapped over the draws, the clean pass computed once): the difference's limit
    as sigma -> 0, so sigma drops out. The two agree in value; they differ in the weights' gradient. A ReLU
    network's difference quotient jumps where a unit's sign flips between x and x + sigma u, and its weight gradient
    is then dominated by those flips (DAU's adversarial term on a CIFAR-10 small_cnn: 8 times the derivative's norm,
    cosine 0.15 with it; results/cpu/02_sweeps/README.md, "DAU's sensitivity token"); the derivative's is the
    gradient of the limit.
    detach_sensitivity: the sensitivity token carries no gradient, as Yuan & Zhang compute it
    (`predict_target_sensitivity` in Machine-Learning-Security-Lab/mia_prune runs under no_grad): only the
    probabilities stay differentiable. The token passes then run without autograd and the probabilities' gradient
    comes from one more pass of the clean batch alone, so a backward pass goes through N samples, not (1 + draws) N;
    the tokens' values are those of the passes without gradient, bit for bit (the gradient pass only lends its
    gradient: p + (q - q.detach())).
    """
    if sensitivity not in SENSITIVITIES:
        raise ValueError(f"sensitivity takes one of {SENSITIVITIES}, not {sensitivity!r}")
    noise = sensitivity_noise(x, draws, generator)
    with ieee_float32():  # the passes; a backward pass through the tokens needs the same (DAU's game runs in it)
        if detach_sensitivity and torch.is_grad_enabled():
            with torch.no_grad():
                tokens = _tokens(model, x, y, num_classes, noise, sigma, sensitivity)
            q = F.softmax(model(x).float(), dim=1)  # the clean batch again, for the probabilities' gradient only
            return torch.cat([(tokens[..., :1] + (q - q.detach()).unsqueeze(-1)), tokens[..., 1:]], dim=-1)
        return _tokens(model, x, y, num_classes, noise, sigma, sensitivity, detach_sensitivity)


def sensitivity_noise(x: torch.Tensor, draws: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The directions of a batch's noisy copies, (draws, *x.shape): what `attack_tokens` draws from `generator`."""
    return torch.randn((draws, *x.shape), device=x.device, generator=generator).to(x.dtype)


def _tokens(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, noise: torch.Tensor, sigma: float,
            sensitivity: str, detach_sensitivity: bool = False) -> torch.Tensor:
    """attack_tokens for drawn noise (draws, *x.shape)."""
    n, draws = len(x), len(noise)
    if sensitivity == "derivative":
        from torch.func import jvp, vmap
        with warnings.catch_warnings():
            # vmap's note that a pooling op (as_strided_) has no batching rule: it loops over the draws, which is
            # what a batching rule would save, not a result
            warnings.filterwarnings("ignore", message="There is a performance drop")
            logits, tangents = vmap(lambda u: jvp(model, (x,), (u,)), out_dims=(None, 0))(noise)
        p = F.softmax(logits.float(), dim=1)
        tangents = tangents.float()
        # the softmax's tangent by hand, p * (dz - <p, dz>): torch's own softmax under forward-mode AD could not be
        # differentiated again (an in-place op in its tangent formula, torch 2.14)
        change = p * (tangents - (p * tangents).sum(-1, keepdim=True))
        sens = (change.detach() if detach_sensitivity else change).abs().mean(0)
    else:
        batch = torch.cat([x.unsqueeze(0), x.unsqueeze(0) + noise * sigma]).reshape(-1, *x.shape[1:])
        probs = F.softmax(model(batch).float(), dim=1).reshape(draws + 1, n, -1)
        p = probs[0]
        # one forward pass for the clean and noisy copies either way: separate passes may round differently, and
        # the difference is divided by sigma
        sens = ((probs[1:] - p).detach() if detach_sensitivity else probs[1:] - p).abs().mean(0) / sigma
    onehot = F.one_hot(y, num_classes).float()
    return torch.stack([p, sens, onehot], dim=-1)


class TransformerAttacker(nn.Module):
    """Binary member (1) / non-member (0) classifier over per-class tokens (N, C, 3) -> logits (N, 2)."""

    def __init__(self, num_classes: int, d_model: int = 64, layers: int = 3, heads: int = 4, ff: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm1d(3 * num_classes)  # over the flat [p (C), s (C), onehot (C)] vector, as theirs
        self.embed = nn.Linear(3, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.fc1 = nn.Linear(d_model * num_classes, 64)
        self.fc2 = nn.Linear(64, 2)
        for m in self.modules():
            # their weight_init touches modules whose class is named exactly "Linear" (not attention's out_proj)
            if type(m) is nn.Linear:
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, c, _ = tokens.shape
        flat = self.norm(tokens.transpose(1, 2).reshape(n, 3 * c))  # (N, 3C) in their feature order
        h = self.encoder(F.gelu(self.embed(flat.view(n, 3, c).transpose(1, 2))))
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


def attacker_optimizer(params, kind: str = "sgd", lr: float = 1e-3, weight_decay: float = 5e-4) -> torch.optim.Optimizer:
    """Yuan & Zhang's attack optimiser: "sgd" = SGD(lr, momentum 0.9, weight decay) as their `get_optimizer`
    builds it with `MiaAttack`'s defaults (lr 1e-3, weight decay 5e-4); "adam" = Adam(lr, same weight decay)."""
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown attacker optimizer {kind!r}; choose 'sgd' or 'adam'")
