"""Per-batch objectives as pure tensor functions."""
from __future__ import annotations

import torch


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, off_diagonal_weight: float = 5e-3, eps: float = 1e-5) -> torch.Tensor:
    """Barlow Twins redundancy-reduction loss (Zbontar et al., ICML 2021, eq. 1-2).

    z1, z2: (N, D) embeddings of two batches. Each is standardised over the batch, the
    cross-correlation C = z1n^T z2n / N is formed, and
        L = sum_i (1 - C_ii)^2 + off_diagonal_weight * sum_{i != j} C_ij^2.
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"barlow_twins needs two (N, D) tensors of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    n = z1.shape[0]
    z1n = (z1 - z1.mean(0)) / (z1.std(0, unbiased=False) + eps)
    z2n = (z2 - z2.mean(0)) / (z2.std(0, unbiased=False) + eps)
    c = z1n.T @ z2n / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + off_diagonal_weight * off


def negative_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-CE: the gradient-ascent objective (minimising it raises the loss on the given samples)."""
    return -torch.nn.functional.cross_entropy(logits, y)
