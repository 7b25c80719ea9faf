import copy

import pytest
import torch
from torch.nn.utils import parametrize

from unlearnlib.models import (count_parameters, create_model, is_pruned, list_models, masks, prune_global,
                               reinitialize, sparsity)
from unlearnlib.train import TrainConfig, fit


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("channels,size", [(3, 32), (1, 28)])
def test_every_model_shapes(name, channels, size):
    torch.manual_seed(0)
    m = create_model(name, 7, channels, size).eval()
    x = torch.randn(2, channels, size, size)
    out = m(x)
    assert out.shape == (2, 7)
    assert torch.allclose(m.head(m.features(x)), out, atol=1e-5)


def test_parameter_counts_match_their_descriptions():
    assert 0.35e6 < count_parameters(create_model("small_cnn", 10, 3)) < 0.45e6
    assert 11.0e6 < count_parameters(create_model("resnet18", 10, 3)) < 11.3e6
    tv = create_model("resnet18_imagenet", 100, 3)
    assert isinstance(tv.body.maxpool, torch.nn.MaxPool2d) and tv.body.conv1.kernel_size == (7, 7)
    cifar = create_model("resnet18", 10, 3)
    assert cifar.conv1.kernel_size == (3, 3) and not any(isinstance(m, torch.nn.MaxPool2d) for m in cifar.modules())


def test_unknown_model_and_bad_classes():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        create_model("vgg", 10)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("mlp", 1)


def test_global_pruning_reaches_sparsity_and_leaves_input_dense():
    torch.manual_seed(0)
    dense = create_model("small_cnn", 10, 3)
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    pruned = prune_global(dense, 0.95)
    assert is_pruned(pruned) and not is_pruned(dense)
    assert sparsity(pruned) == pytest.approx(0.95, abs=1e-3)
    assert all(torch.equal(before[k], v) for k, v in dense.state_dict().items())
    # global, not per-layer: layers end at different sparsities
    per_layer = [float((m == 0).float().mean()) for m in masks(pruned).values()]
    assert max(per_layer) - min(per_layer) > 0.05
    with pytest.raises(ValueError, match="already pruned"):
        prune_global(pruned, 0.5)
    with pytest.raises(ValueError, match="sparsity"):
        prune_global(dense, 1.0)


def test_pruning_leaves_linear_weights_dense_by_default_as_unlearn_sparse():
    """Unlearn-Sparse's one-shot magnitude pruning masks every Conv2d weight and nothing else."""
    torch.manual_seed(0)
    dense = create_model("small_cnn", 10, 3)
    pruned = prune_global(dense, 0.9)
    convs = [n for n, m in pruned.named_modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in pruned.modules() if isinstance(m, torch.nn.Linear)]
    assert sorted(masks(pruned)) == sorted(convs) and linears
    assert all(not parametrize.is_parametrized(m) and bool((m.weight != 0).all()) for m in linears)
    conv_w = torch.cat([m.weight.detach().flatten() for m in pruned.modules() if isinstance(m, torch.nn.Conv2d)])
    assert float((conv_w == 0).float().mean()) == pytest.approx(0.9, abs=1e-3)
    both = prune_global(dense, 0.9, layers="conv_linear")
    assert len(masks(both)) == len(convs) + len(linears)
    assert sparsity(both, "conv_linear") == pytest.approx(0.9, abs=1e-3)
    # an MLP has no convolution: "auto" prunes its linear weights, "conv" says why it cannot
    mlp = create_model("mlp", 10, 1, 8)
    assert sparsity(prune_global(mlp, 0.5)) == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="no convolution"):
        prune_global(mlp, 0.5, layers="conv")
    with pytest.raises(ValueError, match="unknown pruning layers"):
        prune_global(mlp, 0.5, layers="bn")


def test_masks_survive_training_and_reinitialisation(digits_data):
    torch.manual_seed(0)
    pruned = prune_global(create_model("mlp", 10, 1, 8), 0.9)
    mask_before = {k: v.clone() for k, v in masks(pruned).items()}
    x, y = digits_data.x_train[:256], digits_data.y_train[:256]
    fit(pruned, x, y, TrainConfig(epochs=2, batch_size=32, lr=0.1, augment=False), progress=False)
    assert sparsity(pruned) >= 0.9 - 1e-6
    fresh = reinitialize(pruned, seed=1)
    assert sparsity(fresh) >= 0.9 - 1e-6
    assert all(torch.equal(mask_before[k], v) for k, v in masks(fresh).items())
    w_old = pruned.body[1].parametrizations.weight.original.detach()
    w_new = fresh.body[1].parametrizations.weight.original.detach()
    assert not torch.allclose(w_old, w_new)
    # the new weights are a fresh init, not the trained ones: the same seed gives the same init
    again = reinitialize(pruned, seed=1)
    assert torch.equal(again.body[1].parametrizations.weight.original, w_new)


def test_a_sparse_retrains_init_does_not_depend_on_the_start_models_memory_layout():
    """A model fit trained in process is channels_last (CUDA, or cpu_bf16); a start may also come contiguous (a cache
    entry written before entries kept their layout, the benchmark's start). Both must retrain from the same weights,
    or a run resumed from the cache retrains another model than an uninterrupted one under the same cache entry
    (before the fix the masked convolutions' draws followed the start's layout). The draw's order is the one asked
    for, and each order gives its own weights."""
    torch.manual_seed(0)
    pruned = prune_global(create_model("small_cnn", 10, 3, 32), 0.9)
    contiguous = copy.deepcopy(pruned)
    channels_last = copy.deepcopy(pruned).to(memory_format=torch.channels_last)
    drawn = {}
    for order in (False, True):
        a, b = reinitialize(contiguous, 3, channels_last=order), reinitialize(channels_last, 3, channels_last=order)
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        drawn[order] = sa
    convs = [k for k, v in drawn[False].items() if k.endswith("weight.original") and v.dim() == 4]
    assert convs and not torch.equal(drawn[False][convs[0]], drawn[True][convs[0]])
    assert not torch.equal(drawn[False][convs[0]], pruned.state_dict()[convs[0]])  # a new draw, not the start's


def test_retrain_draws_in_the_layout_fit_trains_in(monkeypatch):
    """What every committed sparse retrain drew: channels_last at cpu (cpu_bf16) and on CUDA, contiguous on a CPU
    without cpu_bf16 (quick)."""
    from unlearnlib.methods import retrain as retrain_mod
    from unlearnlib.train import channels_last_on
    assert channels_last_on(torch.device("cuda"), False) and channels_last_on(torch.device("cpu"), True)
    assert not channels_last_on(torch.device("cpu"), False)
    seen = []
    monkeypatch.setattr(retrain_mod, "reinitialize", lambda m, seed, channels_last: seen.append(channels_last) or m)
    monkeypatch.setattr(retrain_mod, "fit", lambda *a, **k: None)

    class Data:
        device = torch.device("cpu")

        def train_part(self, idx):
            return None, None

    split = type("S", (), {"retain": [0]})()
    for bf16 in (False, True):
        retrain_mod.retrain(None, split, Data(), retrain_mod.RetrainConfig(TrainConfig(cpu_bf16=bf16)))
    assert seen == [False, True]
