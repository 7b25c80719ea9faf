"""CUDA paths (bf16 autocast, channels_last, pruning on the GPU). Skipped without a GPU."""
import pytest
import torch

from unlearnlib.data import make_split, to_device
from unlearnlib.methods import unlearn
from unlearnlib.models import create_model, masks, prune_global, sparsity
from unlearnlib.train import TrainConfig, accuracy, fit, predict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_fit_bf16_channels_last_on_cuda(digits):
    data = to_device(digits, "cuda")
    torch.manual_seed(0)
    model = create_model("small_cnn", 10, 1, 8).cuda()
    fit(model, data.x_train, data.y_train, TrainConfig(epochs=5, batch_size=64, lr=0.05, schedule="onecycle"),
        data=data, progress=False)
    assert model.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    logits = predict(model, data.x_test)
    assert logits.dtype == torch.float32 and logits.device.type == "cpu"
    assert accuracy(model, data.x_test, data.y_test) > 80


def test_pruned_unlearning_on_cuda(digits):
    data = to_device(digits, "cuda")
    split = make_split(digits, "random", 0.1, val_size=50, seed=0)
    model = prune_global(create_model("small_cnn", 10, 1, 8).cuda(), 0.9)
    out, _ = unlearn("finetune", model, split, data, epochs=1)
    assert next(out.parameters()).device.type == "cuda" and sparsity(out) >= 0.9 - 1e-6
    assert all(m.device.type == "cuda" for m in masks(out).values())


def test_amnesiac_recording_on_cuda_restores_parameters(digits):
    """On the GPU (CPU batch positions, float64 sums on the device) removing every recorded batch gives back
    the start exactly, and a request that no batch held records nothing."""
    import numpy as np

    from unlearnlib.methods.amnesiac import subtract_updates
    from unlearnlib.recording import AmnesiacRecorder

    data = to_device(digits, "cuda")
    torch.manual_seed(0)
    model = create_model("small_cnn", 10, 1, 8).cuda()
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    idx = np.arange(96)
    rec = AmnesiacRecorder(model, idx, {"all": idx, "one": np.array([7])})
    fit(model, data.x_train[:96], data.y_train[:96], TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=1e-2,
                                                                 weight_decay=0.0, schedule="constant", augment=False),
        on_batch_start=rec.before, on_batch_end=rec.after, progress=False)
    record = rec.record()
    assert record.batches_hit == {"all": 6, "one": 2}
    restored = dict(subtract_updates(model, record, "all").named_parameters())
    assert all(torch.equal(start[k], restored[k].detach()) for k in start)
