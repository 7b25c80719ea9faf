"""The original model: trained once on forget + retain, then loaded from the cache (`unlearnlib.cache`).

Optionally records amnesiac updates while it trains (`unlearnlib.recording`), cached with it.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict

import numpy as np
import torch
import torch.nn as nn

from .cache import cache_key, entry_path, indices_key, load_entry, save_entry
from .data import DeviceData, Split
from .models import channels_last_names, count_parameters, create_model, set_layout
from .recording import AmnesiacRecord, AmnesiacRecorder
from .train import TrainConfig, fit


def train_original(
    model_name: str,
    data: DeviceData,
    split: Split,
    cfg: TrainConfig,
    *,
    cache: bool = True,
    progress: bool = True,
    record_requests: dict[str, np.ndarray] | None = None,
    on_epoch_end=None,
) -> tuple[nn.Module, dict]:
    """Train (or load from the cache) the original model on forget + retain (split.train).

    The cache key holds everything that determines the model: dataset fingerprint, the training
    indices (not the whole split: the random and class-wise schemes of one seed share their original, as
    in the papers, since make_split draws validation before the forget set), model name, classes, channels, image size, the TrainConfig and the recorded requests.
    record_requests: name -> dataset indices; records amnesiac updates for each (Graves et al.
    2021) while training, returned as info["amnesiac"] (an AmnesiacRecord) and cached with the model.
    on_epoch_end disables the cache (its side effects would not happen on a cache hit).
    Returns (model on data.device in eval mode, info dict with key, path, seconds, cached flag, history).
    """
    requests = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in (record_requests or {}).items()}
    train_ids = indices_key(split.train)
    key = cache_key(dataset=data.name, data=data.fingerprint, train=train_ids, model=model_name,
                    num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size,
                    cfg=cfg, requests={k: hashlib.sha1(v.tobytes()).hexdigest() for k, v in requests.items()})
    path = entry_path("originals", f"{model_name}-{key}")
    use_cache = cache and on_epoch_end is None
    entry = load_entry(path) if use_cache else None
    if entry is not None:
        tensors, meta = entry
        model = create_model(model_name, data.num_classes, data.in_channels, data.image_size)
        model.load_state_dict(tensors["state"])
        # the layout fit left it in (channels_last at cpu_bf16 and on CUDA): a cached original computes as a fresh one
        set_layout(model.to(data.device), meta.get("channels_last", [])).eval()
        info = {"key": key, "path": str(path), "cached": True, "seconds": meta["seconds"], "history": meta["history"]}
        if requests:
            info["amnesiac"] = AmnesiacRecord(tuple(meta["amnesiac_names"]),
                                              {r: [t.to(data.device) for t in ts] for r, ts in tensors["amnesiac"].items()},
                                              meta["amnesiac_hits"], meta["amnesiac_batches"])
        return model, info
    torch.manual_seed(cfg.seed)
    model = create_model(model_name, data.num_classes, data.in_channels, data.image_size).to(data.device)
    x, y = data.train_part(split.train)
    recorder = AmnesiacRecorder(model, split.train, requests) if requests else None
    hist = fit(model, x, y, cfg, data=data, progress=progress, desc=f"original {model_name}",
               on_batch_start=recorder.before if recorder else None,
               on_batch_end=recorder.after if recorder else None, on_epoch_end=on_epoch_end)
    info = {"key": key, "path": str(path), "cached": False, "seconds": hist.seconds, "history": hist.epochs,
            "parameters": count_parameters(model)}
    tensors = {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    meta = {"cfg": asdict(cfg), "model": model_name, "dataset": data.name, **info,
            "channels_last": channels_last_names(model)}
    if recorder is not None:
        record = info["amnesiac"] = recorder.record()
        tensors["amnesiac"] = {r: [t.cpu() for t in ts] for r, ts in record.sums.items()}
        meta.update(amnesiac_names=list(record.names), amnesiac_hits=record.batches_hit,
                    amnesiac_batches=record.batches_total)
    if use_cache:
        save_entry(path, tensors, {k: v for k, v in meta.items() if k != "amnesiac"})
    model.eval()
    return model, info
