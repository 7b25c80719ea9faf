"""Self-supervised encoders for notebook 03 (Wang & Chen 2024): SimCLR, MoCo v2 and BYOL.

- SimCLR (Chen et al. 2020): projector MLP, NT-Xent between two augmented views.
- MoCo v2 (Chen, Fan, Girshick & He 2020): a momentum (EMA) copy of encoder + projector gives
  the keys, a queue of past keys the negatives, InfoNCE at temperature 0.2.
- BYOL (Grill et al. 2020): online encoder + projector + predictor regresses a momentum
  target's projection of the other view, 2 - 2 cos, symmetrised; no negatives.

The encoder is any registry model's `features` (its penultimate representation): ResNet-18
gives 512 numbers. The attacks and the unlearning act on one of two outputs (`SSL_OUTPUTS`, `SSLModel.output`):
the encoder's features (default), or the projector's output on them, the space the SSL loss compares views in.
Common SimCLR code counts the projection head in the encoder (its last layer), and at a CPU budget membership
shows there first (results/cpu/03_sweeps/README.md). kNN and linear evaluation always read the features. Evaluation: a
weighted kNN monitor (Wu et al. 2018, k = 200, temperature 0.1) and linear evaluation (a
linear classifier trained on frozen features).

Views come from `ssl_augment`, on the device: random resized crop, horizontal flip, brightness
and contrast jitter, random grayscale, applied to the normalised tensors (a jitter of normalised
values: an approximation of torchvision's colour jitter on pixels). An `Augment` holds its
parameters; it belongs to the SSL model (`SSLModel.augment`), so training, the EncoderMI views,
the per-sample statistics and the unlearning's member loss all draw the same kind of view.
`default_augment(dataset)`: SimCLR's CIFAR recipe, or for digit images (digits, MNIST) no flip
(digits are not mirror-symmetric), crops keeping at least 80 % of the area and half the jitter:
a crop of a fifth of an 8x8 digit leaves a few pixels, too few for the encoder to memorise its members
(measurements: results/quick/03_sweeps/README.md).
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import cache_key, entry_path, indices_key, load_entry, save_entry
from .data import DeviceData
from .losses import nt_xent
from .models import create_model
from .train import autocast, tqdm

SSL_METHODS = ("simclr", "moco", "byol")
SSL_OUTPUTS = ("encoder", "projector")  # what membership is read from and unlearned on (SSLModel.output)


def ssl_augment(x: torch.Tensor, generator: torch.Generator | None = None, scale=(0.2, 1.0), flip: bool = True,
                jitter: float = 0.4, grayscale_p: float = 0.2, ratio=(3 / 4, 4 / 3)) -> torch.Tensor:
    """One random view per image of x (N, C, H, W), on x's device."""
    n, c, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(shape, device=dev, generator=generator)

    # random resized crop: area share in `scale`, aspect ratio in `ratio`, as an affine resampling
    area = scale[0] + (scale[1] - scale[0]) * rand(n)
    log_r = np.log(ratio[0]) + (np.log(ratio[1]) - np.log(ratio[0])) * rand(n)
    aspect = torch.exp(log_r)
    sw = torch.sqrt(area * aspect).clamp(max=1.0)
    sh = torch.sqrt(area / aspect).clamp(max=1.0)
    tx = (1 - sw) * (2 * rand(n) - 1)
    ty = (1 - sh) * (2 * rand(n) - 1)
    sx = torch.where(rand(n) < 0.5, -sw, sw) if flip else sw
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sh, ty
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter > 0:
        bright = (2 * rand(n, 1, 1, 1) - 1) * jitter
        contrast = 1 + (2 * rand(n, 1, 1, 1) - 1) * jitter
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * contrast + mean + bright
    if grayscale_p > 0 and c == 3:
        gray = out.mean(dim=1, keepdim=True).expand_as(out)
        out = torch.where((rand(n) < grayscale_p).view(n, 1, 1, 1), gray, out)
    return out.contiguous()


@dataclass(frozen=True)
class Augment:
    """Parameters of `ssl_augment`; calling it draws one view per image."""

    scale: tuple[float, float] = (0.2, 1.0)  # area share kept by the random resized crop
    flip: bool = True
    jitter: float = 0.4
    grayscale_p: float = 0.2
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratio range of the crop

    def __post_init__(self):
        for name in ("scale", "ratio"):  # lists from JSON / papermill
            object.__setattr__(self, name, tuple(getattr(self, name)))
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop scale must satisfy 0 < low <= high <= 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"crop aspect ratio must satisfy 0 < low <= high, got {self.ratio}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return ssl_augment(x, generator, self.scale, self.flip, self.jitter, self.grayscale_p, self.ratio)


DIGIT_AUGMENT = Augment(scale=(0.8, 1.0), flip=False, jitter=0.2, grayscale_p=0.0)


def default_augment(dataset: str) -> Augment:
    """The views for a dataset: mild ones for digit images (see the module docstring), SimCLR's otherwise."""
    return DIGIT_AUGMENT if dataset.lower() in ("digits", "mnist") else Augment()


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, d_out))


# EMA rate of the target (momentum) network: MoCo v2's m = 0.999 (Chen et al. 2020, after He et al.'s MoCo),
# BYOL's base tau = 0.996 (Grill et al. 2020, kept constant here; BYOL raises it to 1 on a cosine schedule).
TARGET_MOMENTUM = {"moco": 0.999, "byol": 0.996}


class SSLModel(nn.Module):
    """An encoder with the heads of one SSL method; `forward(x)` = `encode(x)`, the representation."""

    def __init__(self, backbone: nn.Module, method: str, feat_dim: int, proj_dim: int = 128, hidden: int = 512,
                 temperature: float | None = None, queue_size: int = 4096, momentum: float | None = None,
                 augment: Augment | None = None):
        super().__init__()
        if method not in SSL_METHODS:
            raise ValueError(f"unknown SSL method {method!r}; choose one of {SSL_METHODS}")
        self.method = method
        self.augment = augment or Augment()  # the views it is trained on (and attacked and unlearned with)
        self.backbone = backbone
        self.projector = _mlp(feat_dim, hidden, proj_dim)
        self.temperature = temperature if temperature is not None else (0.2 if method == "moco" else 0.5)
        self.momentum = momentum if momentum is not None else TARGET_MOMENTUM.get(method, 0.0)
        if method == "byol":
            self.predictor = _mlp(proj_dim, hidden, proj_dim)
        if method in ("moco", "byol"):
            self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        if method == "moco":
            self.register_buffer("queue", F.normalize(torch.randn(queue_size, proj_dim), dim=1))
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def output(self, x: torch.Tensor, which: str = "encoder") -> torch.Tensor:
        """One of `SSL_OUTPUTS`: the encoder's features, or the projector's output on them."""
        h = self.encode(x)
        return self.projector(h) if which == "projector" else h

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.target_projector(self.target_backbone.features(x))

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The method's training loss for two views of the same images; reduction "none": (N,)."""
        if self.method == "simclr":
            return nt_xent(self.projector(self.encode(x1)).float(), self.projector(self.encode(x2)).float(),
                           self.temperature, reduction)
        if self.method == "moco":
            q = F.normalize(self.projector(self.encode(x1)).float(), dim=1)
            k = F.normalize(self._target(x2).float(), dim=1)
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ self.queue.T.clone()], dim=1) / self.temperature
            per = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device), reduction="none")
            if self.training:
                self._enqueue(k)
            return per if reduction == "none" else per.mean()
        # byol: symmetrised 2 - 2 cos(prediction, target projection of the other view)
        p1 = F.normalize(self.predictor(self.projector(self.encode(x1))).float(), dim=1)
        p2 = F.normalize(self.predictor(self.projector(self.encode(x2))).float(), dim=1)
        t1 = F.normalize(self._target(x1).float(), dim=1)
        t2 = F.normalize(self._target(x2).float(), dim=1)
        per = (2 - 2 * (p1 * t2).sum(1)) + (2 - 2 * (p2 * t1).sum(1))
        return per if reduction == "none" else per.mean()

    @torch.no_grad()
    def _enqueue(self, k: torch.Tensor) -> None:
        size = len(self.queue)
        idx = (self.queue_ptr + torch.arange(len(k), device=k.device)) % size
        self.queue[idx] = k.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + len(k)) % size)

    @torch.no_grad()
    def update_target(self) -> None:
        """EMA of the online encoder and projector into the target (MoCo, BYOL); no-op for SimCLR."""
        if self.method == "simclr":
            return
        for online, target in ((self.backbone, self.target_backbone), (self.projector, self.target_projector)):
            for po, pt in zip(online.parameters(), target.parameters()):
                pt.mul_(self.momentum).add_(po.detach(), alpha=1 - self.momentum)
            for bo, bt in zip(online.buffers(), target.buffers()):
                bt.copy_(bo)


class OutputView(nn.Module):
    """An SSL model read at one of its outputs: forward(x) = model.output(x, which). It shares the model's weights
    and views (`augment`), and starts in the model's train/eval mode, so that code which restores the mode it found
    (`attacks.encodermi.cosine_features`) leaves the model as it was."""

    def __init__(self, model: SSLModel, which: str):
        super().__init__()
        self.model, self.which, self.augment = model, which, model.augment
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.output(x, self.which)


def check_output(which: str) -> str:
    if which not in SSL_OUTPUTS:
        raise ValueError(f"unknown SSL output {which!r}; choose one of {SSL_OUTPUTS}")
    return which


def output_view(model: nn.Module, which: str = "encoder") -> nn.Module:
    """`model` read at output `which`: the model itself for "encoder", an `OutputView` for "projector"."""
    if check_output(which) == "encoder":
        return model
    if not isinstance(model, SSLModel):
        raise ValueError(f"output {which!r} needs an SSL model with a projector (ssl.SSLModel), not a "
                         f"{type(model).__name__}: read a classifier at its outputs, output='encoder'")
    return OutputView(model, which)


def create_ssl_model(method: str, model: str, data: DeviceData, **kw) -> SSLModel:
    """An SSL model on a registry architecture (its head unused), sized for `data`."""
    backbone = create_model(model, data.num_classes, data.in_channels, data.image_size)
    with torch.no_grad():
        feat_dim = backbone.eval().features(torch.zeros(2, data.in_channels, data.image_size, data.image_size)).shape[1]
    return SSLModel(backbone.train(), method, feat_dim, **kw).to(data.device)


@dataclass(frozen=True)
class SSLConfig:
    method: str = "simclr"
    epochs: int = 100  # the paper trained 1,600 epochs to overfit 10,000 images
    batch_size: int = 512
    lr: float = 1e-3  # Adam; the paper: Adam, lr 0.01
    weight_decay: float = 1e-6
    proj_dim: int = 128
    hidden: int = 512
    temperature: float | None = None  # None: 0.5 (SimCLR), 0.2 (MoCo v2)
    queue_size: int = 4096
    momentum: float | None = None  # None: the method's own (TARGET_MOMENTUM: MoCo v2 0.999, BYOL 0.996)
    bf16: bool = True  # autocast on CUDA
    cpu_bf16: bool = False  # bf16 autocast on a CPU (TrainConfig.cpu_bf16; independent of bf16)
    seed: int = 0
    augment: Augment = Augment()  # the views; `default_augment(dataset)` picks them per dataset


def ssl_steps(model: SSLModel, x: torch.Tensor, cfg: SSLConfig, opt: torch.optim.Optimizer, gen: torch.Generator,
              order_gen: torch.Generator) -> float:
    """One epoch of SSL training on x (N, C, H, W): views drawn with gen (x's device), batch order
    with order_gen (CPU). Mean loss."""
    model.train()
    order = torch.randperm(len(x), generator=order_gen)
    total = torch.zeros((), device=x.device)
    for start in range(0, len(x), cfg.batch_size):
        xb = x[order[start:start + cfg.batch_size].to(x.device)]
        if len(xb) < 2:
            continue
        with autocast(x.device, cfg.cpu_bf16 if x.device.type == "cpu" else cfg.bf16, cpu=cfg.cpu_bf16):
            loss = model.loss(model.augment(xb, gen), model.augment(xb, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.update_target()
        total += loss.detach() * len(xb)
    return float(total) / len(x)


def train_ssl(data: DeviceData, idx: np.ndarray, model: str, cfg: SSLConfig, monitor=None, monitor_every: int = 0,
              progress: bool = True, cache: bool = True) -> tuple[SSLModel, dict]:
    """Train an SSL encoder on training indices idx; monitor(model) -> dict is logged every monitor_every epochs.

    Cached like the originals (`unlearnlib.cache`, kind "ssl"): the key holds the dataset's fingerprint, the
    indices, the architecture, the SSLConfig and the device type (bf16 autocast differs between CPU and CUDA), so a
    cut run of notebook 03 resumes from the encoders it finished. A monitor disables the cache (its log would not
    happen on a hit). info: history, seconds (of the training, also on a hit), cached, path."""
    ids = indices_key(idx)
    key = cache_key(dataset=data.name, data=data.fingerprint, idx=ids, model=model, num_classes=data.num_classes,
                    in_channels=data.in_channels, image_size=data.image_size, cfg=cfg,
                    device=torch.device(data.device).type)
    path = entry_path("ssl", f"{cfg.method}-{model}-{key}")
    use_cache = cache and monitor is None
    kw = dict(proj_dim=cfg.proj_dim, hidden=cfg.hidden, temperature=cfg.temperature, queue_size=cfg.queue_size,
              momentum=cfg.momentum, augment=cfg.augment)
    entry = load_entry(path) if use_cache else None
    if entry is not None:
        tensors, meta = entry
        ssl = create_ssl_model(cfg.method, model, data, **kw)
        ssl.load_state_dict(tensors["state"])
        ssl.eval()
        return ssl, {"history": meta["history"], "seconds": meta["seconds"], "cached": True, "path": str(path)}
    torch.manual_seed(cfg.seed)
    ssl = create_ssl_model(cfg.method, model, data, **kw)
    params = [p for p in ssl.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device=data.device).manual_seed(cfg.seed)
    order_gen = torch.Generator().manual_seed(cfg.seed)
    x, _ = data.train_part(idx)
    history, start = [], time.perf_counter()
    for epoch in tqdm(range(1, cfg.epochs + 1), desc=f"{cfg.method} {model}", disable=not progress, leave=False):
        log = {"epoch": epoch, "loss": ssl_steps(ssl, x, cfg, opt, gen, order_gen)}
        if monitor is not None and monitor_every and (epoch % monitor_every == 0 or epoch == cfg.epochs):
            log.update(monitor(ssl))
        history.append(log)
    ssl.eval()
    info = {"history": history, "seconds": time.perf_counter() - start, "cached": False, "path": str(path)}
    if use_cache:
        save_entry(path, {"state": {k: v.detach().cpu() for k, v in ssl.state_dict().items()}},
                   {"cfg": asdict(cfg), "model": model, "dataset": data.name, **info})
    return ssl, info


@torch.no_grad()
def embed(encoder: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Encoder outputs (N, D) in eval mode, float32."""
    was = encoder.training
    encoder.eval()
    out = torch.cat([encoder(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])
    encoder.train(was)
    return out


def knn_accuracy(train_feats: torch.Tensor, train_y: torch.Tensor, test_feats: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, k: int = 200, temperature: float = 0.1, chunk: int = 1024) -> float:
    """Weighted kNN accuracy (Wu et al. 2018): the k most cosine-similar training features vote
    with weight exp(sim / temperature). Percent."""
    bank = F.normalize(train_feats, dim=1)
    q = F.normalize(test_feats, dim=1)
    k = min(k, len(bank))
    correct = 0
    for i in range(0, len(q), chunk):
        sim = q[i:i + chunk] @ bank.T
        w, j = sim.topk(k, dim=1)
        votes = torch.zeros(len(w), num_classes, device=w.device)
        votes.scatter_add_(1, train_y[j], (w / temperature).exp())
        correct += int((votes.argmax(1) == test_y[i:i + chunk]).sum())
    return 100.0 * correct / max(len(q), 1)


def linear_eval(train_feats: torch.Tensor, train_y: torch.Tensor, test_feats: torch.Tensor, test_y: torch.Tensor,
                num_classes: int, epochs: int = 100, lr: float = 1e-2, batch_size: int = 256, seed: int = 0) -> float:
    """Accuracy (percent) of a linear classifier trained with Adam on frozen, standardised features."""
    g = torch.Generator().manual_seed(seed)
    mu, sd = train_feats.mean(0), train_feats.std(0) + 1e-6
    xtr, xte = (train_feats - mu) / sd, (test_feats - mu) / sd
    head = nn.Linear(xtr.shape[1], num_classes).to(xtr.device)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-5)
    for _ in range(epochs):
        order = torch.randperm(len(xtr), generator=g).to(xtr.device)
        for s in range(0, len(xtr), batch_size):
            b = order[s:s + batch_size]
            loss = F.cross_entropy(head(xtr[b]), train_y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return 100.0 * float((head(xte).argmax(1) == test_y).float().mean())


@torch.no_grad()
def sample_stats(model: SSLModel, x: torch.Tensor, gen: torch.Generator, batch_size: int = 512,
                 output: str = "encoder") -> dict[str, np.ndarray]:
    """Per-sample statistics the paper tabulates: top-1 of softmax(model output) ("TOP1"), the
    SSL loss of two random views ("LOSS") and the cosine similarity of their outputs ("COSSIM"); the output is
    `output` (`SSL_OUTPUTS`)."""
    check_output(output)
    model.eval()
    top1, loss, cos = [], [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        h = model.output(xb, output).float()
        top1.append(F.softmax(h, dim=1).max(1).values)
        v1, v2 = model.augment(xb, gen), model.augment(xb, gen)
        cos.append(F.cosine_similarity(model.output(v1, output).float(), model.output(v2, output).float(), dim=1))
        loss.append(model.loss(v1, v2, reduction="none").float())
    return {k: torch.cat(v).cpu().numpy() for k, v in (("top1", top1), ("loss", loss), ("cossim", cos))}
