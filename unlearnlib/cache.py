"""The on-disk cache of trained models (originals, retrained references) and shadow-model outputs.

An entry is one file, written atomically (a temporary file renamed into place) and holding its
tensors and its JSON metadata together, so a cut run never leaves half an entry, with the SHA-256 of
both: a truncated entry fails to load and a damaged one fails its digest (torch's loader does not
check the zip's CRCs), and either is reported by path, moved aside (`<name>.bad`) and rebuilt by the
caller. The .npz entries (shadow outputs, decoded datasets) carry the digest of their arrays.
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
from .data import check_npz_digest


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


def tensor_bytes(t: torch.Tensor) -> bytes:
    """A tensor's raw bytes, on the CPU and in order (b"" when empty): what the keys and digests hash."""
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def weights_fingerprint(model: torch.nn.Module) -> str:
    """Short hash of `model`'s type and state (parameters and buffers, their names, dtypes and values): names the
    starting point of a cached result, however the model was made."""
    h = hashlib.sha1(type(model).__name__.encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}:{t.dtype}:{t.numel()};".encode())
        h.update(tensor_bytes(t))
    return h.hexdigest()[:20]


def entry_path(kind: str, name: str) -> Path:
    """<cache root>/<kind>/<name>.pt"""
    return paths.cache_root() / kind / f"{name}.pt"


def entry_digest(tensors: Any, meta: str) -> str:
    """SHA-256 of an entry: its meta (JSON text) and every tensor's place, dtype, shape and bytes."""
    h = hashlib.sha256(meta.encode())

    def walk(where: str, v) -> None:
        if isinstance(v, torch.Tensor):
            h.update(f"{where}:{v.dtype}:{tuple(v.shape)};".encode())
            h.update(tensor_bytes(v))
        elif isinstance(v, dict):
            for k in sorted(v, key=str):
                walk(f"{where}/{k}", v[k])
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(f"{where}/{i}", x)
        else:
            h.update(f"{where}={v!r};".encode())

    walk("", tensors)
    return h.hexdigest()


def save_entry(path: Path, tensors: dict[str, Any], meta: dict) -> Path:
    """Write tensors (nested dicts / lists of tensors) and JSON-able meta as one file, atomically, with their
    digest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(meta, default=str)
    torch.save({"tensors": tensors, "meta": text, "sha256": entry_digest(tensors, text)}, tmp)
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
        if not isinstance(blob, dict) or set(blob) - {"sha256"} != {"tensors", "meta"}:
            raise ValueError("not a cache entry (expected tensors and meta)")
        # entries written before digests carry none and load unchecked
        if "sha256" in blob and entry_digest(blob["tensors"], blob["meta"]) != blob["sha256"]:
            raise ValueError("its contents do not match the SHA-256 written with them (damaged on disk)")
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
            check_npz_digest(z, path)
            return {k: z[k] for k in keys}
    except Exception as exc:  # noqa: BLE001 - any failure to read means the entry is unusable
        return _set_aside(path, exc)


def _set_aside(path: Path, exc: Exception) -> None:
    """Report a damaged entry by path and move it to `<name>.bad`, so the caller rebuilds it."""
    bad = path.with_name(path.name + ".bad")
    path.replace(bad)
    warnings.warn(f"damaged cache entry {path} ({type(exc).__name__}: {exc}); moved to {bad.name}, rebuilding",
                  stacklevel=3)
