"""The transformer membership-inference attacker of Yuan & Zhang (USENIX Security 2022), as DAU
(Sharma et al. 2024) adopts it.

Per class c, a token [p_c, s_c, onehot_c]: the softmax prediction, its sensitivity to input noise
s = mean over draws of |softmax(x + sigma u) - softmax(x)| / sigma (u ~ N(0, I), sigma = 1e-3,
10 draws), and the one-hot label. Linear(3 -> 64), three transformer encoder layers (4 heads,
feed-forward 128, dropout 0.2), then Linear(64 C -> 64), ReLU, Linear(64 -> 2).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def attack_tokens(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, draws: int = 10,
                  sigma: float = 1e-3, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, C, 3) tokens of the defender's outputs; differentiable w.r.t. the defender's weights.

    The clean input and its `draws` noisy copies go through the model in one batch (call it in
    eval mode, where a batch's samples do not interact), in float32: a sigma of 1e-3 is below
    bfloat16's resolution.
    """
    n = len(x)
    noise = torch.randn((draws, *x.shape), device=x.device, generator=generator) * sigma
    batch = torch.cat([x.unsqueeze(0), x.unsqueeze(0) + noise]).reshape(-1, *x.shape[1:])
    probs = F.softmax(model(batch).float(), dim=1).reshape(draws + 1, n, -1)
    p = probs[0]
    sens = (probs[1:] - p).abs().mean(0) / sigma
    onehot = F.one_hot(y, num_classes).float()
    return torch.stack([p, sens, onehot], dim=-1)


class TransformerAttacker(nn.Module):
    """Binary member (1) / non-member (0) classifier over per-class tokens (N, C, 3) -> logits (N, 2)."""

    def __init__(self, num_classes: int, d_model: int = 64, layers: int = 3, heads: int = 4, ff: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        self.embed = nn.Linear(3, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.fc1 = nn.Linear(d_model * num_classes, 64)
        self.fc2 = nn.Linear(64, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(tokens))
        return self.fc2(F.relu(self.fc1(h.flatten(1))))
