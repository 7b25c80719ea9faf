import copy
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnlib.data import make_split
from unlearnlib.models import create_model
from unlearnlib.originals import train_original
from unlearnlib.train import TrainConfig, accuracy, fit, lr_factor, predict


def test_fit_learns_digits_well_above_chance_in_seconds(digits_data):
    torch.manual_seed(0)
    model = create_model("mlp", 10, 1, 8)
    x, y = digits_data.x_train, digits_data.y_train
    start = time.perf_counter()
    hist = fit(model, x, y, TrainConfig(epochs=8, batch_size=64, lr=0.05, schedule="onecycle", augment=False),
               data=digits_data, progress=False)
    assert time.perf_counter() - start < 60
    assert accuracy(model, digits_data.x_test, digits_data.y_test) > 90  # chance is 10 %
    assert hist.epochs[-1]["loss"] < hist.epochs[0]["loss"] and len(hist.epochs) == 8
    assert not model.training


def test_adam_and_hooks(digits_data):
    torch.manual_seed(0)
    model = create_model("small_cnn", 10, 1, 8)
    x, y = digits_data.x_train[:200], digits_data.y_train[:200]
    starts, ends, epochs = [], [], []
    fit(model, x, y, TrainConfig(epochs=2, batch_size=50, optimizer="adam", lr=1e-3, weight_decay=0, augment=True),
        data=digits_data, on_batch_start=starts.append, on_batch_end=ends.append,
        on_epoch_end=lambda e, m: epochs.append(e) or {"marker": e}, progress=False)
    assert len(starts) == len(ends) == 8 and epochs == [1, 2]
    assert sorted(torch.cat(starts[:4]).tolist()) == list(range(200))


def test_fit_is_deterministic_per_seed(digits_data):
    x, y = digits_data.x_train[:300], digits_data.y_train[:300]
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = create_model("mlp", 10, 1, 8)
        fit(m, x, y, TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=5), data=digits_data, progress=False)
        outs.append(predict(m, x))
    assert torch.equal(outs[0], outs[1])


def test_schedules():
    total = 100
    ms = TrainConfig(schedule="multistep", milestones=(0.5, 0.75), gamma=0.1)
    assert [lr_factor(ms, s, total) for s in (0, 49, 50, 75, 99)] == pytest.approx([1, 1, 0.1, 0.01, 0.01])
    oc = TrainConfig(schedule="onecycle", warmup=0.2)
    assert lr_factor(oc, 0, total) == 0 and lr_factor(oc, 20, total) == pytest.approx(1)
    assert lr_factor(oc, 60, total) == pytest.approx(0.5)
    cos = TrainConfig(schedule="cosine")
    assert lr_factor(cos, 50, total) == pytest.approx(0.5) and lr_factor(cos, 0, total) == 1
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(TrainConfig(schedule="step"), 0, 1)


def test_bad_inputs(digits_data):
    m = create_model("mlp", 10, 1, 8)
    with pytest.raises(ValueError, match="empty"):
        fit(m, digits_data.x_train[:0], digits_data.y_train[:0], TrainConfig(), progress=False)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(m, digits_data.x_train[:10], digits_data.y_train[:10], TrainConfig(optimizer="lbfgs"), progress=False)
    assert math.isnan(accuracy(m, digits_data.x_train[:0], digits_data.y_train[:0]))


def test_original_model_cache(digits, digits_data, monkeypatch):
    split = make_split(digits, "random", 0.1, val_size=50, seed=0, train_size=400)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False)
    m1, info1 = train_original("mlp", digits_data, split, cfg, progress=False)
    assert not info1["cached"]
    import unlearnlib.originals as O

    def no_training(*a, **k):
        raise AssertionError("retrained although the model was cached")
    monkeypatch.setattr(O, "fit", no_training)
    m2, info2 = train_original("mlp", digits_data, split, cfg, progress=False)
    assert info2["cached"] and info2["key"] == info1["key"]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    monkeypatch.undo()
    # anything that determines the model changes the key
    _, info3 = train_original("mlp", digits_data, split, TrainConfig(epochs=3, batch_size=64, lr=0.05, augment=False),
                              progress=False)
    other_split = make_split(digits, "random", 0.1, val_size=50, seed=1, train_size=400)
    _, info4 = train_original("mlp", digits_data, other_split, cfg, progress=False)
    assert len({info1["key"], info3["key"], info4["key"]}) == 3



def test_retrained_reference_is_cached_with_its_run_time(digits, digits_data, monkeypatch):
    """The retrain reference through experiment.cached_unlearn: the registered method, cached; a rerun loads the same
    weights and time."""
    import unlearnlib.experiment as E
    from unlearnlib.methods import make_config

    split = make_split(digits, "class", 3, val_size=50, seed=0, train_size=400)
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05, augment=False)
    orig, _ = train_original("mlp", digits_data, split, cfg, progress=False)
    retr, seconds = E.cached_unlearn("retrain", orig, split, digits_data, make_config("retrain", train=cfg))
    xf, yf = digits_data.train_part(split.forget)
    # the retrained model never saw class 3; the original did
    assert seconds > 0 and accuracy(retr, xf, yf) < 5 < 50 < accuracy(orig, xf, yf)
    monkeypatch.setattr(E, "unlearn", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained again")))
    again, seconds_again = E.cached_unlearn("retrain", orig, split, digits_data, make_config("retrain", train=cfg))
    assert seconds_again == seconds
    assert all(torch.equal(a, b) for a, b in zip(retr.state_dict().values(), again.state_dict().values()))


def test_cached_unlearn_resumes_with_the_same_weights_and_time_and_misses_on_any_change(digits, digits_data,
                                                                                          monkeypatch):
    """experiment.cached_unlearn: a second call loads the unlearned weights and the measured time without running
    the method; another starting model (one weight changed), forget set or config is a miss."""
    import unlearnlib.experiment as E

    split = make_split(digits, "random", 40, val_size=50, seed=0, train_size=400)
    orig, _ = train_original("mlp", digits_data, split, TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False),
                             progress=False)
    before = {k: v.clone() for k, v in orig.state_dict().items()}
    out, seconds = E.cached_unlearn("grad_ascent", orig, split, digits_data, epochs=1, lr=1e-3)
    assert seconds > 0 and any(not torch.equal(a, b) for a, b in zip(out.state_dict().values(), before.values()))
    calls = []
    real = E.unlearn
    monkeypatch.setattr(E, "unlearn", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    again, seconds_again = E.cached_unlearn("grad_ascent", orig, split, digits_data, epochs=1, lr=1e-3)
    assert calls == [] and seconds_again == seconds and again is not orig and not again.training
    assert all(torch.equal(a, b) for a, b in zip(out.state_dict().values(), again.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(orig.state_dict().values(), before.values()))  # the start untouched
    E.cached_unlearn("grad_ascent", orig, split, digits_data, epochs=1, lr=2e-3)  # another config
    other = make_split(digits, "random", 40, val_size=50, seed=1, train_size=400)
    E.cached_unlearn("grad_ascent", orig, other, digits_data, epochs=1, lr=1e-3)  # another forget set
    nudged = copy.deepcopy(orig)
    with torch.no_grad():
        next(nudged.parameters()).view(-1)[0] += 1e-3
    assert E.weights_fingerprint(nudged) != E.weights_fingerprint(orig)
    E.cached_unlearn("grad_ascent", nudged, split, digits_data, epochs=1, lr=1e-3)  # another starting model
    assert calls == ["grad_ascent"] * 3


def test_a_damaged_cache_entry_is_reported_moved_aside_and_rebuilt(digits, digits_data, tmp_path):
    from unlearnlib.cache import load_entry

    split = make_split(digits, "random", 0.1, val_size=50, seed=5, train_size=300)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, augment=False)
    model, info = train_original("mlp", digits_data, split, cfg, progress=False)
    path = Path(info["path"])
    for damage in (lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b"junk" * 10):
        path.write_bytes(damage(path.read_bytes()) if path.exists() else b"")
        with pytest.warns(UserWarning, match="damaged cache entry .*moved to"):
            assert load_entry(path) is None
        assert path.with_name(path.name + ".bad").is_file() and not path.exists()
        again, info2 = train_original("mlp", digits_data, split, cfg, progress=False)
        assert not info2["cached"] and path.is_file()
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_lone_last_sample_does_not_break_batchnorm(digits_data):
    """torchvision's ResNet-18 shrinks 8x8 digits to 1x1: a batch of one sample cannot be normalised."""
    torch.manual_seed(0)
    model = create_model("resnet18_imagenet", 10, 1, 8)
    seen = []
    hist = fit(model, digits_data.x_train[:65], digits_data.y_train[:65],
               TrainConfig(epochs=1, batch_size=64, augment=False), on_batch_end=seen.append, progress=False)
    assert len(seen) == 1 and len(seen[0]) == 64 and np.isfinite(hist.epochs[0]["loss"])
    assert hist.images == 64  # the skipped sample is not counted as trained


def test_recalibrate_bn_replaces_skewed_statistics_by_the_data_average():
    """After training on a shifted batch, recalibration sets every BN layer's running statistics to
    the exact average over the given data, leaves the weights and momentum alone and ends in eval mode."""
    from unlearnlib.models import recalibrate_bn

    torch.manual_seed(0)
    model = create_model("small_cnn", 4, 3, 8)
    x = torch.randn(96, 3, 8, 8)
    model.train()
    with torch.no_grad():
        model(x + 5.0)  # a skewed batch moves the running statistics
    bn = model.body[1]
    weights = [p.clone() for p in model.parameters()]
    assert recalibrate_bn(model, x, batch_size=32) == 4
    with torch.no_grad():
        conv = model.body[0](x)
    assert torch.allclose(bn.running_mean, conv.mean((0, 2, 3)), atol=1e-5)
    # the average of three batch variances (unbiased within each batch of 32), as momentum None defines it
    var = torch.stack([conv[i:i + 32].var((0, 2, 3), unbiased=True) for i in (0, 32, 64)]).mean(0)
    assert torch.allclose(bn.running_var, var, rtol=1e-4)
    assert bn.momentum == 0.1 and not model.training
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    assert recalibrate_bn(create_model("mlp", 4, 3, 8), x) == 0


def test_cpu_bf16_is_opt_in_and_predictions_stay_fp32(digits_data):
    """TrainConfig.cpu_bf16: bf16 autocast and channels_last on a CPU, for training only; off by default."""
    from unlearnlib.train import autocast

    seen = []
    torch.manual_seed(0)
    model = create_model("small_cnn", 10, 1, 8)
    model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = digits_data.x_train[:256], digits_data.y_train[:256]
    hist = fit(model, x, y, TrainConfig(epochs=3, batch_size=64, lr=0.05, augment=False, cpu_bf16=True), progress=False)
    assert seen and all(d == torch.bfloat16 for d in seen) and hist.epochs[-1]["loss"] < hist.epochs[0]["loss"]
    assert next(model.body.parameters()).is_contiguous(memory_format=torch.channels_last)
    seen.clear()
    assert predict(model, x[:32]).dtype == torch.float32 and seen == [torch.float32]  # what attacks read: fp32
    with autocast(torch.device("cpu"), True):
        assert not torch.is_autocast_enabled("cpu")  # the default stays fp32 on a CPU


def test_cpu_bf16_warns_where_the_cpu_emulates_bf16_and_still_runs_bf16(monkeypatch):
    """On a CPU without native bf16 a cpu_bf16 run warns once per call site, naming the fix, and keeps bf16 (its
    numbers must not depend on the instruction set); with native bf16, or in float32, nothing is said."""
    import warnings

    from unlearnlib import results, train

    cpu = torch.device("cpu")
    monkeypatch.setattr(train, "native_cpu_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match=r"no native bf16.*cpu_bf16\": False"):
        with train.autocast(cpu, True, cpu=True):
            assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with train.autocast(cpu, True, cpu=False):  # float32: no bf16, nothing to say
            assert not torch.is_autocast_enabled("cpu")
        monkeypatch.setattr(train, "native_cpu_bf16", lambda: True)
        with train.autocast(cpu, True, cpu=True):
            assert torch.is_autocast_enabled("cpu")
    # the tables' metadata say which kind of CPU ran them, and its model (another model computes other floats)
    monkeypatch.setattr(results, "cpu_model", lambda: "")
    monkeypatch.setattr(results, "native_cpu_bf16", lambda: False)
    assert results.describe_device("cpu").endswith(f", {torch.backends.cpu.get_cpu_capability()}, no native bf16")
    monkeypatch.setattr(results, "native_cpu_bf16", lambda: True)
    assert results.describe_device("cpu").endswith(", native bf16")
    monkeypatch.setattr(results, "cpu_model", lambda: "AMD EPYC")
    assert results.describe_device("cpu").endswith(", native bf16, AMD EPYC")


def test_cpu_model_names_the_model_and_intels_matrix_unit(tmp_path):
    from unlearnlib.results import cpu_model

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)  Platinum 8481C CPU\n"
                    "flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert cpu_model(str(info)) == "Intel(R) Xeon(R) Platinum 8481C CPU, AMX"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512f avx512_bf16\n")
    assert cpu_model(str(info)) == "AMD EPYC"
    assert cpu_model(str(tmp_path / "absent")) == ""
    from unlearnlib.store import device_class  # a described model is its own device class, never the legacy one
    assert device_class("cpu: x86_64, 2 threads, AVX512, native bf16, AMD EPYC").endswith("AMD EPYC")
