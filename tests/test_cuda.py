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
