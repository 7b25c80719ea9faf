"""Issue 36, notebook 03 at cpu: how few members must a CPU-sized encoder train on, in the paper's regime, before
EncoderMI reads membership? (results/cpu/03_sweeps/memorise.jsonl)

    UNLEARNLIB_DATA=../shared/data python scripts/ssl_memorise_sweep.py [MEMBERS:LR ...] [epochs=N] [mid=N] \
        [method=moco|simclr|byol] [seed=N] >> results/cpu/03_sweeps/memorise.jsonl

The paper overfits its encoders (1,600 epochs, Adam at lr 0.01, 10,000 members); at 10,000 members and 30-150 CPU
epochs the attack sees nothing (03_sweeps/README.md). Here the member count shrinks instead: MoCo v2 (notebook 03's
base method) on small_cnn in bf16, CIFAR-10 with notebook 03's views, seed 0, a fifth of the members forgotten, as
many held-out training images (validation) as members, batches of half the members. Every EVERY epochs (a monitor:
nothing is cached) one JSON line: the AUC of EncoderMI's statistic (mean pairwise cosine similarity of 10 views) on
all members against the validation images and against as many test images, and EncoderMI-T's accuracy as notebook
03 runs it (threshold fitted on retain vs validation, scored on forget vs test), each on the backbone's features (what
notebook 03 attacks) and, keys prefixed `proj_`, on the projector's output. A setting whose AUC against
validation is below FLOOR at MID epochs on both representations stops there ("shows nothing by mid-way"). Run it
alone on the cores.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from unlearnlib import load_dataset, make_split, to_device
from unlearnlib.attacks.encodermi import EncoderMIAttack
from unlearnlib.evaluation import EncoderProbe
from unlearnlib.ssl import SSLConfig, default_augment, train_ssl

torch.set_num_threads(2)
RUNS = [(250, 1e-2), (500, 1e-2), (250, 1e-3)]  # (members, Adam lr): the paper's rate first
# measured on these 2 cores: about 1 s an epoch at 250 members, 20 s a measurement; 600 epochs fit a session
EPOCHS, EVERY, MID, FLOOR = 600, 100, 300, 0.55


class Projected(torch.nn.Module):
    """The SSL model seen through its projector: EncoderMI's views embedded by projector(backbone(x))."""

    def __init__(self, enc):
        super().__init__()
        self.enc, self.augment = enc, enc.augment

    def forward(self, x):
        return self.enc.projector(self.enc.encode(x))


class NoSignal(Exception):
    """Raised by the monitor to stop a setting that shows nothing by mid-way."""


def measure_both(enc, probe: EncoderProbe) -> dict:
    """measure() on the backbone's features, and on the projector's output (keys prefixed proj_)."""
    return {**measure(enc, probe), **{f"proj_{k}": v for k, v in measure(Projected(enc), probe).items()}}


def measure(enc, probe: EncoderProbe) -> dict:
    members = torch.cat([probe.xr, probe.xf])
    sm = probe.similarities(enc, members).mean(1)
    sv = probe.similarities(enc, probe.xv).mean(1)
    st = probe.similarities(enc, probe.xt[:len(members)]).mean(1)

    def auc(neg):
        return round(float(roc_auc_score(np.r_[np.ones(len(sm)), np.zeros(len(neg))], np.r_[sm, neg])), 3)

    fit_m, fit_v = probe.similarities(enc, probe.xr), probe.similarities(enc, probe.xv)
    attack = EncoderMIAttack.fit(fit_m, fit_v, "threshold")
    forget, test = probe.similarities(enc, probe.xf), probe.similarities(enc, probe.xt[:len(probe.xf)])
    return dict(auc_vs_val=auc(sv), auc_vs_test=auc(st), member_sim=round(float(sm.mean()), 4),
                val_sim=round(float(sv.mean()), 4), encodermi_t_pct=round(attack.evaluate(forget, test)["accuracy_pct"], 2))


def main(runs, method: str = "moco", seed: int = 0) -> None:
    ds = load_dataset("cifar10")
    data = to_device(ds, torch.device("cpu"))
    for n, lr in runs:
        split = make_split(ds, "random", n // 5, n, seed, 2 * n, 10000)
        probe = EncoderProbe.from_split(data, split, views=10, seed=seed)
        batch = min(256, n // 2)
        cfg = SSLConfig(method=method, epochs=EPOCHS, lr=lr, batch_size=batch, queue_size=max(batch, n // 2),
                        bf16=False, cpu_bf16=True, seed=seed, augment=default_augment("cifar10"))
        t0 = time.perf_counter()
        epoch = [0]

        def monitor(enc):
            epoch[0] += EVERY
            row = {"method": method, "seed": seed, "members": n, "lr": lr, "epoch": min(epoch[0], EPOCHS),
                   **measure_both(enc, probe),
                   "seconds": round(time.perf_counter() - t0, 1)}
            print(json.dumps(row), flush=True)
            if epoch[0] >= MID and max(row["auc_vs_val"], row["proj_auc_vs_val"]) < FLOOR:
                raise NoSignal(row)
            return {}

        try:
            train_ssl(data, split.train, "small_cnn", cfg, monitor=monitor, monitor_every=EVERY, progress=False)
        except NoSignal:
            print(json.dumps({"method": method, "seed": seed, "members": n, "lr": lr, "stopped_at_epoch": epoch[0],
                              "why": f"AUC against validation below {FLOOR} at epoch {MID} or later, on the "
                                     "backbone and on the projector"}), flush=True)


if __name__ == "__main__":
    settings = dict(x.split("=", 1) for x in sys.argv[1:] if "=" in x)  # epochs=N, mid=N (a longer run, a later stop)
    EPOCHS, MID = int(settings.get("epochs", EPOCHS)), int(settings.get("mid", MID))
    chosen = [(int(a), float(b)) for a, b in (x.split(":") for x in sys.argv[1:] if ":" in x)] or RUNS
    main(chosen, settings.get("method", "moco"), int(settings.get("seed", 0)))
