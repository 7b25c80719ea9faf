"""Benchmarks: training throughput per model and time to train the original model per profile.

    python -m unlearnlib.bench                       # throughput of every model, smoke + quick profiles
    python -m unlearnlib.bench --profiles paper      # CIFAR-10 ResNet-18 recipe (needs the data and a GPU)
    python -m unlearnlib.bench --epochs 12 18 24     # the paper recipe at several lengths
    python -m unlearnlib.bench --profiles --models --recording resnet18_imagenet mnist

Prints a table and writes JSON with --out. Benchmarks, not tests: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import torch
import torch.nn.functional as F

from .data import load_dataset, make_split, to_device
from .models import count_parameters, create_model, list_models
from .config import ConfigError, apply_overrides, parse_assignments
from .setting import setting
from .results import describe_run
from .originals import train_original
from .train import TrainConfig, accuracy, autocast, prepare_model, resolve_device


def throughput(name: str, device: torch.device, batch_size: int = 512, steps: int = 30, warmup: int = 5,
               bf16: bool = True, image_size: int = 32, channels: int = 3, num_classes: int = 10) -> float:
    """Training images/s (forward, backward, SGD step) on synthetic data of CIFAR's shape."""
    model = prepare_model(create_model(name, num_classes, channels, image_size).to(device))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch_size, channels, image_size, image_size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        with autocast(device, bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def profile_run(profile: str, device: torch.device, train: dict | None = None, seed: int = 0) -> dict:
    """Train the profile's original model from scratch (no cache) and report time and accuracy."""
    p = setting(profile, train={**(train or {}), "seed": seed})
    ds = load_dataset(p.dataset)
    split = make_split(ds, "random", 0.1, p.val_size, seed, p.train_size, p.test_size)
    data = to_device(ds, device)
    model, info = train_original(p.model, data, split, p.train, cache=False, progress=False)
    x_te, y_te = data.test_part(split.test)
    n = len(split.train) * p.train.epochs
    # retrain from scratch on the retain set, the reference every unlearning method is timed against
    from .methods import unlearn
    from .methods.retrain import RetrainConfig

    retrained, retrain_s = unlearn("retrain", model, split, data, RetrainConfig(train=p.train))
    return {"profile": profile, "dataset": p.dataset, "model": p.model, "epochs": p.train.epochs,
            "train_samples": len(split.train), "original_s": round(info["seconds"], 2),
            "images_per_s": round(n / info["seconds"], 1), "original_test_acc_pct": round(accuracy(model, x_te, y_te), 2),
            "retrain_samples": len(split.retain), "retrain_s": round(retrain_s, 2),
            "retrain_test_acc_pct": round(accuracy(retrained, x_te, y_te), 2), "train_config": asdict(p.train)}


def full_train_run(profile: str, device: torch.device, train: dict | None = None, seed: int = 0) -> dict:
    """The profile's recipe from scratch on the whole training part, scored on the whole test part."""
    from .train import fit

    p = setting(profile, train={**(train or {}), "seed": seed})
    ds = load_dataset(p.dataset)
    data = to_device(ds, device)
    torch.manual_seed(seed)
    model = create_model(p.model, data.num_classes, data.in_channels, data.image_size).to(device)
    hist = fit(model, data.x_train, data.y_train, p.train, data=data, progress=False)
    return {"profile": profile, "dataset": p.dataset, "model": p.model, "epochs": p.train.epochs,
            "train_samples": len(data.y_train), "train_s": round(hist.seconds, 2),
            "images_per_s": round(hist.images_per_s, 1),
            "test_acc_pct": round(accuracy(model, data.x_test, data.y_test), 2), "train_config": asdict(p.train)}


def recording_overhead(model_name: str, dataset: str, device: torch.device, n_requests: int = 20,
                       batch_size: int = 64, epochs: int = 1) -> dict:
    """Seconds per epoch of Amnesiac ML's schedule (Adam, batch 64) with and without recording
    amnesiac updates for one class plus n_requests - 1 random 10-sample requests."""
    import numpy as np

    from .recording import AmnesiacRecorder
    from .train import fit

    ds = load_dataset(dataset)
    split = make_split(ds, "class", 3, 0.1, 0)
    data = to_device(ds, device)
    x, y = data.train_part(split.train)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3, weight_decay=0.0,
                      schedule="constant", augment=False)
    row = {"model": model_name, "dataset": dataset, "batch_size": batch_size, "requests": n_requests}
    for mode in ("plain", "recording"):
        torch.manual_seed(0)
        model = create_model(model_name, data.num_classes, data.in_channels, data.image_size).to(device)
        hooks = {}
        if mode == "recording":
            rng = np.random.default_rng(0)
            reqs = {"class": split.forget, **{f"r{i}": rng.choice(split.train, 10, replace=False)
                                              for i in range(n_requests - 1)}}
            rec = AmnesiacRecorder(model, split.train, reqs)
            hooks = {"on_batch_start": rec.before, "on_batch_end": rec.after}
        hist = fit(model, x, y, cfg, data=data, progress=False, **hooks)
        row[f"{mode}_s_per_epoch"] = round(hist.seconds / epochs, 2)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="*", default=None, help="models for the throughput table (default all)")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--profiles", nargs="*", default=["smoke", "quick"])
    ap.add_argument("--epochs", nargs="*", type=int, default=[None], help="override the profile's epochs")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="override TrainConfig fields of the profile, e.g. lr=0.2 label_smoothing=0")
    ap.add_argument("--full-train", action="store_true",
                    help="also train each profile's recipe on the whole training part (no split)")
    ap.add_argument("--recording", nargs=2, metavar=("MODEL", "DATASET"),
                    help="time an epoch of Amnesiac ML's schedule with and without recording updates")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    try:  # the one override parser: unknown fields, unparsable values and wrong types stop here
        overrides = parse_assignments(args.set, "--set")
        apply_overrides(TrainConfig(), overrides)
    except ConfigError as exc:
        raise SystemExit(f"--set: {exc}") from None
    report = {"run": describe_run(device), "throughput": [], "profiles": [], "full_train": []}
    print(f"device: {report['run']['device']}")
    models = args.models if args.models is not None else list_models()
    for name in models:
        steps = 30 if device.type == "cuda" else 3
        bs = args.batch_size if device.type == "cuda" else 64
        ips = throughput(name, device, batch_size=bs, steps=steps, warmup=5 if device.type == "cuda" else 1)
        params = count_parameters(create_model(name, 10, 3, 32))
        row = {"model": name, "parameters": params, "batch_size": bs,
               "bf16": device.type == "cuda", "images_per_s": round(ips, 1)}
        report["throughput"].append(row)
        print(f"throughput {name:18s} {params / 1e6:6.2f}M params  batch {bs}: {ips:10.1f} images/s")
    for profile in args.profiles:
        for ep in args.epochs:
            train = {**overrides, "epochs": ep}
            row = profile_run(profile, device, train)
            report["profiles"].append(row)
            print(f"profile {profile:6s} {row['dataset']}/{row['model']} {row['epochs']} epochs: original "
                  f"{row['original_s']} s ({row['images_per_s']} img/s) test {row['original_test_acc_pct']} %; "
                  f"retrain {row['retrain_s']} s test {row['retrain_test_acc_pct']} %")
            if args.full_train:
                row = full_train_run(profile, device, train)
                report["full_train"].append(row)
                print(f"full train {profile:6s} {row['dataset']}/{row['model']} {row['epochs']} epochs on "
                      f"{row['train_samples']}: {row['train_s']} s ({row['images_per_s']} img/s) "
                      f"test {row['test_acc_pct']} %")
    if args.recording:
        row = recording_overhead(args.recording[0], args.recording[1], device)
        report["recording"] = row
        print(f"amnesiac recording, {row['model']} on {row['dataset']} at batch {row['batch_size']}: "
              f"{row['plain_s_per_epoch']} s/epoch plain, {row['recording_s_per_epoch']} s/epoch recording "
              f"{row['requests']} requests")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
