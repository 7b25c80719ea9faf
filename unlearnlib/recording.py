"""Recording the parameter updates of the batches that held forget samples while a model trains
(Graves, Nagisetty & Ganesh, AAAI 2021): the training hook behind amnesiac unlearning.

`fit(..., on_batch_start=rec.before, on_batch_end=rec.after)` records, per forget request, the running
sum of the updates of every batch holding one of its samples; `methods.amnesiac` subtracts it.
Only trainable parameters are recorded (BN running statistics are buffers, not updates), and no model
copy per batch is kept: one snapshot of the parameters plus one running sum per request.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn


class AmnesiacRecorder:
    """Hooks for `fit` that record summed batch updates per forget request.

    train_indices: dataset indices of the tensor `fit` trains on, in order (positions in a
    batch index this array). requests: name -> dataset indices to be forgettable.
    Use: fit(..., on_batch_start=rec.before, on_batch_end=rec.after); then rec.record().
    """

    def __init__(self, model: nn.Module, train_indices: np.ndarray, requests: Mapping[str, np.ndarray]):
        if not requests:
            raise ValueError("AmnesiacRecorder needs at least one forget request")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        train_indices = np.asarray(train_indices)
        self.requests = list(requests)
        # membership[r, position] is True where the training sample at `position` belongs to request r
        member = np.stack([np.isin(train_indices, np.asarray(requests[r])) for r in self.requests])
        for r, row in zip(self.requests, member):
            if not row.any():
                raise ValueError(f"forget request {r!r} holds no sample of the training set")
        self._member = torch.from_numpy(member)
        # float64 sums: a difference of two float32 values is exact in float64, so removing the
        # updates of the only batches that trained restores the parameters bit for bit
        dtype = torch.float32 if self.params[0].device.type == "mps" else torch.float64
        self.sums = {r: [torch.zeros_like(p, dtype=dtype) for p in self.params] for r in self.requests}
        self.hits = {r: 0 for r in self.requests}
        self.batches = 0
        self._before: list[torch.Tensor] | None = None
        self._active: list[str] = []

    def before(self, positions: torch.Tensor) -> None:
        # `fit` passes CPU positions, so this reads no device memory and the host never waits for the GPU
        hit = self._member[:, positions.cpu()].any(dim=1)
        self._active = [r for r, h in zip(self.requests, hit.tolist()) if h]
        self._before = [p.detach().clone() for p in self.params] if self._active else None

    @torch.no_grad()
    def after(self, positions: torch.Tensor) -> None:
        self.batches += 1
        if not self._active:
            return
        dtype = self.sums[self._active[0]][0].dtype
        delta = torch._foreach_sub([p.detach().to(dtype) for p in self.params], [b.to(dtype) for b in self._before])
        for r in self._active:
            torch._foreach_add_(self.sums[r], delta)
            self.hits[r] += 1
        self._before, self._active = None, []

    def record(self) -> "AmnesiacRecord":
        return AmnesiacRecord(
            names=tuple(self.names),
            sums={r: [t.detach() for t in s] for r, s in self.sums.items()},
            batches_hit=dict(self.hits),
            batches_total=self.batches,
        )


@dataclass
class AmnesiacRecord:
    """The recorded updates: per request, one tensor per trainable parameter (in `names` order)."""

    names: tuple[str, ...]
    sums: dict[str, list[torch.Tensor]]
    batches_hit: dict[str, int]
    batches_total: int

    def share_of_batches(self, request: str) -> float:
        """Fraction of all training batches that held samples of `request`."""
        return self.batches_hit[request] / max(self.batches_total, 1)

    def memory_bytes(self) -> int:
        """Bytes held by the running sums (one parameter-sized buffer per request)."""
        return sum(t.numel() * t.element_size() for s in self.sums.values() for t in s)
