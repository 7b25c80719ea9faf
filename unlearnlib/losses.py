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


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton-style distillation loss as SCRUB computes it (meghdadk/SCRUB, thirdparty/repdistiller/distiller_zoo/
    KD.py:13-17): KL(teacher || student) of the temperature-softened distributions, summed over classes, averaged
    over the batch, times T^2 (so its gradient's scale does not shrink with T)."""
    t = temperature
    log_s = torch.nn.functional.log_softmax(student_logits.float() / t, dim=1)
    p_t = torch.nn.functional.softmax(teacher_logits.float() / t, dim=1)
    return torch.nn.functional.kl_div(log_s, p_t, reduction="sum") * t * t / student_logits.shape[0]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, reduction: str = "mean") -> torch.Tensor:
    """SimCLR's NT-Xent (Chen et al., ICML 2020): for 2N embeddings of N positive pairs,
    mean over anchors i of -log( exp(sim(i, j(i)) / t) / sum_{k != i} exp(sim(i, k) / t) ),
    sim = cosine similarity, j(i) the other view of i. reduction "none": (N,), each pair's two
    anchors averaged."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"nt_xent needs two (N, D) tensors of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    n = z1.shape[0]
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    if reduction == "none":
        per_anchor = torch.nn.functional.cross_entropy(sim, positives, reduction="none")
        return (per_anchor[:n] + per_anchor[n:]) / 2
    return torch.nn.functional.cross_entropy(sim, positives)


GP_FORMS = ("wgan", "squared_norm", "norm_minus_one")


def gradient_penalty(fn, z: torch.Tensor, form: str = "wgan") -> torch.Tensor:
    """Gradient penalty on inputs z (Wang & Chen 2024, after WGAN-GP, Gulrajani et al. 2017).

    g_i = d(sum of fn(z)_i) / d z_i (grad_outputs of ones, as the paper's listings), and
      "wgan":           mean_i (||g_i||_2 - 1)^2   (the paper's formula (1))
      "squared_norm":   mean_i ||g_i||_2^2          (its Algorithm 1 listing)
      "norm_minus_one": mean_i (||g_i||_2 - 1)      (its Algorithm 2 listing)
    Differentiable (create_graph) so the penalty trains the model.
    """
    if form not in GP_FORMS:
        raise ValueError(f"unknown gradient-penalty form {form!r}; choose one of {GP_FORMS}")
    z = z.detach().requires_grad_(True)
    out = fn(z)
    g, = torch.autograd.grad(out, z, grad_outputs=torch.ones_like(out), create_graph=True)
    norm = g.reshape(len(z), -1).norm(2, dim=1)
    if form == "wgan":
        return (norm - 1).pow(2).mean()
    if form == "squared_norm":
        return norm.pow(2).mean()
    return (norm - 1).mean()


def interpolate(members: torch.Tensor, nonmembers: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """eps * nonmember + (1 - eps) * member, eps ~ U(0, 1) per sample (the paper's Algorithm 1)."""
    if members.shape != nonmembers.shape:
        raise ValueError("interpolate needs member and non-member batches of one shape")
    eps = torch.rand((len(members),) + (1,) * (members.dim() - 1), device=members.device, generator=generator)
    return eps * nonmembers + (1 - eps) * members
