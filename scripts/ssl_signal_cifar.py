"""Does a CPU-sized CIFAR-10 encoder leak membership to EncoderMI? Members, epochs and views (results/cpu/03_sweeps).

    python scripts/ssl_signal_cifar.py > results/cpu/03_sweeps/signal.jsonl   (2 CPU threads; about 45 minutes)

Notebook 03's cpu profile (MoCo v2, small_cnn in bf16 autocast, Adam 1e-3, batch 256, queue 1024, seed 0) with
one thing varied per run: the number of members, the epochs and the views. Every `every` epochs (a monitor, so
nothing is cached) it reports the AUC of EncoderMI's statistic (the mean pairwise cosine similarity of 10
views, `EncoderProbe.similarities`) on 1,000 members against 1,000 test images (the paper's non-members) and
against 1,000 held-out training images (`auc_vs_val`: non-members of the members' own distribution), its mean on each side, the
EncoderMI-T accuracy (threshold fitted on 1,000 other members against 1,000 validation images, the notebook's
attacker) and the weighted kNN accuracy (members as the bank, the 10,000 test images as queries). The first row
is the cpu profile's own cached encoder (10,000 members, 30 epochs, SimCLR's views), read from the cache when
present. Run it alone on the cores: seconds are recorded.
"""
import json
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from unlearnlib import load_dataset, make_split, to_device
from unlearnlib.attacks.encodermi import EncoderMIAttack
from unlearnlib.evaluation import EncoderProbe
from unlearnlib.ssl import Augment, SSLConfig, embed, knn_accuracy, train_ssl

torch.set_num_threads(2)
ds = load_dataset("cifar10")
data = to_device(ds, torch.device("cpu"))
MILD = Augment(scale=(0.5, 1.0), flip=True, jitter=0.2, grayscale_p=0.0)
# (label, members, views, epochs, monitor every); the cpu profile's encoder first (a cache hit when present)
RUNS = [("cpu profile", 10000, Augment(), 30, 0),
        ("mild views", 10000, MILD, 30, 10),
        ("2k members", 2000, Augment(), 150, 50),
        ("mild views, 2k members", 2000, MILD, 150, 50)]
only = set(sys.argv[1:])  # labels to run (default: all)


def measure(enc, probe: EncoderProbe, members: torch.Tensor) -> dict:
    k = 1000
    sm, st = probe.similarities(enc, members[:k]), probe.similarities(enc, probe.xt[:k])
    fit_m, fit_v = probe.similarities(enc, members[k:2 * k]), probe.similarities(enc, probe.xv[:k])
    attack = EncoderMIAttack.fit(fit_m, fit_v, "threshold")
    sv = probe.similarities(enc, probe.xv[k:2 * k])  # held-out training images: non-members of the same distribution

    def auc(neg):
        return round(float(roc_auc_score(np.r_[np.ones(len(sm)), np.zeros(len(neg))], np.r_[sm.mean(1), neg.mean(1)])), 3)
    return dict(auc=auc(st), auc_vs_val=auc(sv), member_sim=round(float(sm.mean()), 4),
                nonmember_sim=round(float(st.mean()), 4), val_sim=round(float(sv.mean()), 4),
                encodermi_t_pct=round(attack.evaluate(sm, st)["accuracy_pct"], 2),
                knn_pct=round(knn_accuracy(embed(enc, probe.xm), probe.ym, embed(enc, probe.xt), probe.yt,
                                           data.num_classes), 2))


for label, n, views, epochs, every in RUNS:
    if only and label not in only:
        continue
    split = make_split(ds, "random", n // 5, 2000, 0, n + 2000, 10000)
    probe = EncoderProbe.from_split(data, split, views=10, seed=0)
    members = probe.xm[torch.randperm(len(probe.xm), generator=torch.Generator().manual_seed(0))]
    cfg = SSLConfig(method="moco", epochs=epochs, lr=1e-3, batch_size=256, queue_size=1024, bf16=False, cpu_bf16=True,
                    seed=0, augment=views)
    t0 = time.perf_counter()
    base = dict(run=label, members=n, views=str(views), epochs=epochs)
    if not every:  # the profile's encoder: cached by notebook 03 (trained here if not)
        enc, info = train_ssl(data, split.train, "small_cnn", cfg, progress=False)
        print(json.dumps({**base, "epoch": epochs, **measure(enc, probe, members), "train_seconds": round(info["seconds"], 1),
                          "cached": info["cached"]}), flush=True)
        continue

    def monitor(enc, state={"epoch": 0}):
        state["epoch"] += every
        row = {**base, "epoch": min(state["epoch"], epochs), **measure(enc, probe, members),
               "seconds_so_far": round(time.perf_counter() - t0, 1)}
        print(json.dumps(row), flush=True)
        enc.train()
        return {}

    enc, info = train_ssl(data, split.train, "small_cnn", cfg, monitor=monitor, monitor_every=every, progress=False)
