"""Every cache kind catches damaged contents, not only truncated files: bytes flipped in the middle of an entry are
detected, reported with the entry's path, moved aside to <name>.bad, and the entry rebuilt equal to a fresh build."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnlib import paths
from unlearnlib.cache import load_entry, read_npz_entry
from unlearnlib.data import make_split, save_npz_atomic
from unlearnlib.experiment import run_method
from unlearnlib.methods import make_config
from unlearnlib.models import channels_last_names, prune_global, set_layout
from unlearnlib.originals import train_original
from unlearnlib.ssl import SSLConfig, train_ssl
from unlearnlib.train import TrainConfig


def flip_middle(path: Path, n: int = 64) -> None:
    """Invert n bytes in the middle of the file: its size and structure stay, its contents change."""
    b = bytearray(path.read_bytes())
    mid = len(b) // 2
    b[mid:mid + n] = bytes(x ^ 0xFF for x in b[mid:mid + n])
    path.write_bytes(bytes(b))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _only(kind: str) -> Path:
    (entry,) = [p for p in (paths.cache_root() / kind).iterdir() if p.suffix in (".pt", ".npz")]
    return entry


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_flipped_bytes_in_an_original_are_caught_and_rebuilt(digits, digits_data, fresh_cache):
    split = make_split(digits, "random", 0.1, val_size=50, seed=7, train_size=300)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False)
    model, info = train_original("mlp", digits_data, split, cfg, progress=False)
    path = Path(info["path"])
    flip_middle(path)
    with pytest.warns(UserWarning, match=f"damaged cache entry {path}.*SHA-256"):
        again, info2 = train_original("mlp", digits_data, split, cfg, progress=False)
    assert not info2["cached"] and path.with_name(path.name + ".bad").is_file()
    assert _same(model, again)  # rebuilt: what a fresh build gives


@pytest.mark.parametrize("method", ["retrain", "finetune"])
def test_flipped_bytes_in_a_retrained_or_unlearned_model_are_caught(method, digits, digits_data, fresh_cache):
    split = make_split(digits, "random", 30, val_size=50, seed=8, train_size=300)
    train = TrainConfig(epochs=1, batch_size=64, lr=0.05, augment=False)
    original, _ = train_original("mlp", digits_data, split, train, progress=False)
    cfg = make_config("retrain", train=train) if method == "retrain" else make_config(method, epochs=1, augment=False)
    first = run_method(method, original, split, digits_data, cfg)
    path = _only("retrained" if method == "retrain" else "unlearned")
    flip_middle(path)
    with pytest.warns(UserWarning, match="damaged cache entry .*SHA-256"):
        again = run_method(method, original, split, digits_data, cfg)
    assert not again.cached and _same(first.model, again.model)


def test_flipped_bytes_in_an_encoder_are_caught(digits_data, fresh_cache):
    cfg = SSLConfig(method="simclr", epochs=1, batch_size=64, bf16=False)
    idx = np.arange(200)
    enc, _ = train_ssl(digits_data, idx, "mlp", cfg, progress=False)
    flip_middle(_only("ssl"))
    with pytest.warns(UserWarning, match="damaged cache entry .*SHA-256"):
        again, info = train_ssl(digits_data, idx, "mlp", cfg, progress=False)
    assert _same(enc, again)


def test_flipped_bytes_in_an_npz_entry_are_caught(fresh_cache):
    """Shadow outputs (and decoded datasets) are .npz entries with the digest of their arrays."""
    path = fresh_cache / "shadows" / "x.npz"
    arrays = {"probs": np.random.default_rng(0).random((400, 10)).astype(np.float32), "labels": np.arange(400)}
    save_npz_atomic(path, **arrays)
    assert np.array_equal(read_npz_entry(path, ("probs", "labels"))["probs"], arrays["probs"])
    flip_middle(path)
    with pytest.warns(UserWarning, match=f"damaged cache entry {path}"):
        assert read_npz_entry(path, ("probs", "labels")) is None
    assert path.with_name(path.name + ".bad").is_file()


def test_an_entry_without_a_digest_still_loads(fresh_cache):
    """Entries written before digests existed carry none: they load unchecked (nothing to compare with)."""
    path = fresh_cache / "originals" / "old.pt"
    path.parent.mkdir(parents=True)
    torch.save({"tensors": {"w": torch.ones(3)}, "meta": "{}"}, path)
    tensors, meta = load_entry(path)
    assert torch.equal(tensors["w"], torch.ones(3)) and meta == {}


def test_a_cached_model_keeps_the_layout_it_was_computed_in(digits, digits_data, fresh_cache):
    """fit leaves a convolutional model channels_last at cpu_bf16, and a float32 convolution rounds differently in
    each layout: an original or an unlearned model read from the cache has the layout of the one computed, so a
    method that keeps its start model's layout (the gradient penalty in float32) gives the same weights from either."""
    split = make_split(digits, "random", 40, val_size=50, seed=3, train_size=300)
    train = TrainConfig(epochs=1, batch_size=64, lr=0.05, augment=False, cpu_bf16=True)
    fresh, info = train_original("small_cnn", digits_data, split, train, progress=False)
    cached, info2 = train_original("small_cnn", digits_data, split, train, progress=False)
    assert not info["cached"] and info2["cached"] and _same(fresh, cached)
    assert channels_last_names(fresh) and channels_last_names(cached) == channels_last_names(fresh)
    gp = make_config("gradient_penalty", epochs=1, batch_size=32, cpu_bf16=False)
    a = run_method("gradient_penalty", fresh, split, digits_data, gp, cache=False).model
    b = run_method("gradient_penalty", cached, split, digits_data, gp, cache=False).model
    assert _same(a, b)
    # a method's entry: fine-tuning on fit's path returns channels_last from a contiguous start, and so does its hit
    start = set_layout(copy.deepcopy(cached), [])
    ft = make_config("finetune", epochs=1, augment=False, cpu_bf16=True)
    first, again = (run_method("finetune", start, split, digits_data, ft) for _ in range(2))
    assert not first.cached and again.cached and _same(first.model, again.model)
    assert channels_last_names(first.model) and channels_last_names(again.model) == channels_last_names(first.model)
    # a pruned start: the masked convolutions' weights (parametrized) keep their layout by name, the masks theirs
    sparse = prune_global(set_layout(copy.deepcopy(cached), []), 0.5)
    first, again = (run_method("finetune", sparse, split, digits_data, ft) for _ in range(2))
    names = channels_last_names(first.model)
    assert again.cached and any("parametrizations" in n for n in names) and channels_last_names(again.model) == names
    pairs = zip(first.model.state_dict().values(), again.model.state_dict().values())
    assert all(a.stride() == b.stride() for a, b in pairs)
