"""The training step every hand-written unlearning loop shares (no method is registered here).

`fit` trains on one set with one loss. Methods that pair a retain batch with a forget batch (NegGrad+), alternate
passes over two sets with one optimiser (SCRUB), or keep BatchNorm in eval mode while they train, write their own
loop; `Stepper` gives that loop `fit`'s fast path: the same optimiser construction, bf16 autocast and channels_last
on CUDA (and on a CPU with cpu_bf16), and the same seeded batch order.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn as nn

from ..data import DeviceData, batches
from ..train import (augmentation, autocast, channels_last_on, make_optimizer, model_device, prepare_model,
                     train_config_from)


class Stepper:
    """One optimiser over `model`'s trainable parameters, built from a method config's optimiser fields
    (optimizer, lr, momentum, weight_decay; `train_config_from`), and the batches and steps of a hand loop."""

    def __init__(self, model: nn.Module, cfg, data: DeviceData | None = None):
        self.model = model
        self.device = model_device(model)
        self.train_cfg = train_config_from(cfg, schedule="constant")
        self.cpu_bf16 = self.train_cfg.cpu_bf16
        torch.manual_seed(self.train_cfg.seed)
        self.generator = torch.Generator().manual_seed(self.train_cfg.seed)
        prepare_model(model, self.cpu_bf16)
        self.opt = make_optimizer(model.parameters(), self.train_cfg)
        self.crop, self.flip = augmentation(self.train_cfg.augment, data)
        self.channels_last = channels_last_on(self.device, self.cpu_bf16)

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr

    def batches(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                shuffle: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Seeded batches of (x, y) with the config's augmentation, channels_last where the fast path wants it;
        a lone last sample is skipped when the set has more (BatchNorm cannot normalise it, as in `fit`)."""
        for xb, yb, _ in batches(x, y, batch_size, shuffle, self.crop, self.flip, self.generator):
            if len(yb) == 1 and len(x) > 1:
                continue
            if xb.dim() == 4 and self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb

    def autocast(self):
        return autocast(self.device, self.train_cfg.bf16, cpu=self.cpu_bf16)

    def step(self, loss_fn: Callable[[], torch.Tensor], before_step: Callable[[], None] | None = None,
             after_step: Callable[[], None] | None = None) -> torch.Tensor:
        """One optimiser step on loss_fn() (computed under the fast path's autocast); `before_step` runs between the
        backward pass and the step (e.g. masking gradients), `after_step` after it. Returns the loss, detached."""
        with self.autocast():
            loss = loss_fn()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step()
        self.opt.step()
        if after_step is not None:
            after_step()
        return loss.detach()


def epoch_end(cfg, epoch: int, model: nn.Module) -> None:
    """Call the config's per-epoch hook (`fit`'s on_epoch_end contract, epoch 1-based), keeping the loop's mode."""
    if getattr(cfg, "on_epoch_end", None) is not None:
        was_training = model.training
        cfg.on_epoch_end(epoch, model)
        model.train(was_training)
