"""Shared fixtures. Every test runs on the CPU without network, with a private cache folder."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

# A private cache for the whole session, set before unlearnlib reads it: tests never touch ~/.cache.
_CACHE = tempfile.mkdtemp(prefix="unlearnlib-test-cache-")
os.environ["UNLEARNLIB_CACHE"] = _CACHE
# Two threads, shared out when pytest-xdist runs several workers (-n): the cores are not oversubscribed.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_THREADS = max(1, min(2, os.cpu_count() or 1) // _WORKERS)
torch.set_num_threads(_THREADS)
if _WORKERS > 1:  # the notebooks' kernels and other child processes too
    os.environ["OMP_NUM_THREADS"] = str(_THREADS)

from unlearnlib.data import Dataset, load_dataset, make_split, to_device  # noqa: E402
from unlearnlib.originals import train_original  # noqa: E402
from unlearnlib.train import TrainConfig  # noqa: E402


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits", root=None)


@pytest.fixture(scope="session")
def digits_data(digits):
    return to_device(digits, "cpu")


@pytest.fixture(scope="session")
def toy_overfit():
    """An MLP that memorised digits whose forget samples carry wrong labels.

    Relabelling the forget set ((y + 1) mod 10) makes it unlearnable from the retain set, so
    a model fits it only by memorising: any real unlearning lowers forget accuracy.
    The original's amnesiac updates for the forget set are recorded while it trains.
    Returns (model, split, device data, amnesiac record).
    """
    base = load_dataset("digits")
    split = make_split(base, "random", 0.1, val_size=100, seed=0)
    y = base.y_train.copy()
    y[split.forget] = (y[split.forget] + 1) % 10
    ds = Dataset("digits", base.x_train, y, base.x_test, base.y_test, base.classes, "digits, forget relabelled")
    data = to_device(ds, "cpu")
    cfg = TrainConfig(epochs=60, batch_size=64, optimizer="adam", lr=2e-3, weight_decay=0.0, schedule="constant",
                      augment=False)
    model, info = train_original("mlp", data, split, cfg, cache=False, progress=False,
                                 record_requests={"forget": split.forget})
    return model, split, data, info["amnesiac"]


def params_of(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
