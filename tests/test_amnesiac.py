"""Amnesiac unlearning, random-label and naive retraining (Graves et al. 2021)."""
import numpy as np
import pytest
import torch

from unlearnlib.methods.amnesiac import subtract_updates
from unlearnlib.recording import AmnesiacRecorder
from unlearnlib.methods.random_label import random_wrong_labels
from unlearnlib.models import create_model
from unlearnlib.train import TrainConfig, fit


def _state(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.mark.parametrize("name", ["mlp", "small_cnn"])
def test_subtracting_recorded_updates_restores_parameters_exactly(digits_data, name):
    """When only recorded batches trained the model, removing them gives back the start, bit for bit."""
    torch.manual_seed(0)
    model = create_model(name, 10, 1, 8)
    start = _state(model)
    x, y = digits_data.x_train[:96], digits_data.y_train[:96]
    train_idx = np.arange(1000, 1096)  # dataset indices of x's rows
    rec = AmnesiacRecorder(model, train_idx, {"all": train_idx})
    fit(model, x, y, TrainConfig(epochs=3, batch_size=32, optimizer="adam", lr=1e-2, weight_decay=0.0,
                                 schedule="constant", augment=False),
        on_batch_start=rec.before, on_batch_end=rec.after, progress=False)
    record = rec.record()
    assert record.batches_hit["all"] == record.batches_total == 9
    assert any(not torch.equal(start[k], v) for k, v in _state(model).items())
    restored = _state(subtract_updates(model, record, "all"))
    assert all(torch.equal(start[k], restored[k]) for k in start)
    # BN running statistics are buffers, not recorded updates: they stay as trained
    assert record.names == tuple(n for n, p in model.named_parameters())


def test_recorder_counts_hits_per_request_and_memory(digits_data):
    torch.manual_seed(0)
    model = create_model("mlp", 10, 1, 8)
    x, y = digits_data.x_train[:200], digits_data.y_train[:200]
    idx = np.arange(200)
    rec = AmnesiacRecorder(model, idx, {"one": np.array([5]), "many": np.arange(0, 200, 2)})
    fit(model, x, y, TrainConfig(epochs=2, batch_size=20, augment=False), on_batch_start=rec.before,
        on_batch_end=rec.after, progress=False)
    record = rec.record()
    assert record.batches_total == 20
    assert record.batches_hit["one"] == 2  # one sample: one batch per epoch
    assert record.batches_hit["many"] == 20
    assert record.share_of_batches("one") == pytest.approx(0.1)
    n_params = sum(p.numel() for p in model.parameters())
    assert record.memory_bytes() == 2 * n_params * 8  # float64 sums, one per request
    with pytest.raises(KeyError, match="no recorded updates"):
        subtract_updates(model, record, "other")
    with pytest.raises(ValueError, match="holds no sample"):
        AmnesiacRecorder(model, idx, {"outside": np.array([10_000])})


def test_amnesiac_needs_a_record(toy_overfit):
    from unlearnlib.methods import unlearn

    model, split, data, _ = toy_overfit
    with pytest.raises(ValueError, match="recorded while the original trained"):
        unlearn("amnesiac", model, split, data)


def test_small_request_barely_changes_the_model_and_removes_its_batches(toy_overfit):
    """A forget request hitting few batches leaves test accuracy near the original (the paper's curve)."""
    from unlearnlib.train import accuracy

    model, split, data, rec = toy_overfit
    acc0 = accuracy(model, data.x_test, data.y_test)
    full = accuracy(subtract_updates(model, rec, "forget"), data.x_test, data.y_test)
    assert rec.share_of_batches("forget") > 0.9 and full < acc0 - 30  # 10 % forgotten: nearly every batch


def test_random_wrong_labels_never_keep_the_true_label():
    y = torch.arange(10).repeat(2000)
    g = torch.Generator().manual_seed(0)
    wrong = random_wrong_labels(y, 10, g)
    assert not (wrong == y).any()
    assert wrong.min() >= 0 and wrong.max() <= 9
    counts = torch.bincount(wrong[y == 3], minlength=10).float()
    assert counts[3] == 0 and (counts[torch.arange(10) != 3] > 150).all()  # uniform over the other nine
    with pytest.raises(ValueError):
        random_wrong_labels(torch.zeros(3, dtype=torch.long), 1)


def test_random_label_method_trains_on_wrong_labels(toy_overfit):
    from unlearnlib.methods import unlearn
    from unlearnlib.train import predict

    model, split, data, _ = toy_overfit
    out, _ = unlearn("random_label", model, split, data, epochs=20)
    xf, yf = data.train_part(split.forget)
    pred = predict(out, xf).argmax(1)
    assert (pred != yf.cpu()).float().mean() > 0.8
