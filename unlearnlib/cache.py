"""The on-disk cache of trained models (originals, retrained references) and shadow-model outputs.

An entry is one file, written atomically (a temporary file renamed into place) and holding its
tensors and its JSON metadata together, so a cut run never leaves half an entry. The file is
torch's zip format, whose records carry CRC-32 checksums: a truncated or damaged entry fails to
load, is reported by path, moved aside (`<name>.bad`) and rebuilt by the caller.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import paths


def cache_key(**parts) -> str:
    """Stable hash of JSON-serialisable parts (dataclasses become dicts)."""
    def norm(v):
        if hasattr(v, "__dataclass_fields__"):
            return asdict(v)
        return v
    blob = json.dumps({k: norm(v) for k, v in parts.items()}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def indices_key(idx) -> str:
    """Short hash of an index array (as int64): the part of a cache key naming which samples a model trained on."""
    return hashlib.sha1(np.ascontiguousarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


def weights_fingerprint(model: torch.nn.Module) -> str:
    """Short hash of `model`'s type and state (parameters and buffers, their names, dtypes and values): names the
    starting point of a cached result, however the model was made."""
    h = hashlib.sha1(type(model).__name__.encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{t.numel()};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:20]


def entry_path(kind: str, name: str) -> Path:
    """<cache root>/<kind>/<name>.pt"""
    return paths.cache_root() / kind / f"{name}.pt"


def save_entry(path: Path, tensors: dict[str, Any], meta: dict) -> Path:
    """Write tensors (nested dicts / lists of tensors) and JSON-able meta as one file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"tensors": tensors, "meta": json.dumps(meta, default=str)}, tmp)
    tmp.replace(path)
    return path


def load_entry(path: Path) -> tuple[dict, dict] | None:
    """(tensors, meta) of a cache entry, or None when there is none. A damaged entry (truncated, empty,
    not a cache file) is reported with its path, moved aside to `<name>.bad`, and None is returned, so
    the caller rebuilds it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or set(blob) != {"tensors", "meta"}:
            raise ValueError("not a cache entry (expected tensors and meta)")
        return blob["tensors"], json.loads(blob["meta"])
    except Exception as exc:  # noqa: BLE001 - any failure to read means the entry is unusable
        return _set_aside(path, exc)


def read_npz_entry(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays `keys` of a cached .npz (shadow-model outputs), or None when there is none; a damaged one
    is reported by path, moved aside to `<name>.bad` and None returned, so the caller rebuilds it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except Exception as exc:  # noqa: BLE001 - any failure to read means the entry is unusable
        return _set_aside(path, exc)


def _set_aside(path: Path, exc: Exception) -> None:
    """Report a damaged entry by path and move it to `<name>.bad`, so the caller rebuilds it."""
    bad = path.with_name(path.name + ".bad")
    path.replace(bad)
    warnings.warn(f"damaged cache entry {path} ({type(exc).__name__}: {exc}); moved to {bad.name}, rebuilding",
                  stacklevel=3)
