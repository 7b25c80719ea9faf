"""GA's pace against fit's, epoch by epoch in one process (issue 39: GA at >= 90 % of fit's images/s).

The per-method benchmark compares GA's 5 short epochs with retrain's 12 long ones, timed minutes apart; here every
case is `fit` on the cpu profile's original (CIFAR-10, small_cnn, cpu_bf16, batch 256, GA's preset), each epoch timed
by `on_epoch_end`, the first epoch (warm-up) reported apart. The cases: GA on the forget set (4,500 images: 17 batches
of 256 and a partial one of 148), GA on 4,608 and on 4,352 images (full batches only), cross-entropy on 4,500 retain
images and GA on the same (the loss's sign and the data's classes), and cross-entropy on the whole retain set
(retrain's pace). Run it alone on the cores:
python scripts/ga_pace.py --scheme class --seed 2 > results/bench/ga_pace_cpu_class.json"""
import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from unlearnlib.data import load_dataset, make_split, to_device
from unlearnlib.losses import negative_cross_entropy
from unlearnlib.methods import preset_config, with_seed
from unlearnlib.models import clone
from unlearnlib.originals import train_original
from unlearnlib.results import describe_run
from unlearnlib.setting import setting
from unlearnlib.train import fit, train_config_from

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--scheme", choices=("random", "class"), default="class")
parser.add_argument("--seed", type=int, default=2)
parser.add_argument("--reps", type=int, default=2, help="rounds of the short cases")
args = parser.parse_args()

p = setting("cpu")
ds = load_dataset(p.dataset)
split = make_split(ds, args.scheme, 0.1 if args.scheme == "random" else 0, p.val_size, args.seed, p.train_size,
                   p.test_size)
data = to_device(ds, torch.device("cpu"))
train = replace(p.train, seed=args.seed)
original, _ = train_original(p.model, data, split, train, progress=False)  # from the cache when it holds it
original.to(memory_format=torch.contiguous_format)  # as the benchmark hands every method its start model
tc = train_config_from(with_seed(preset_config("grad_ascent", "cpu", train=train), args.seed), schedule="constant")
xf, yf = data.train_part(split.forget)
xr, yr = data.train_part(split.retain)


def ascent(m, xb, yb, pos):
    return negative_cross_entropy(m(xb), yb)


def timed(name, x, y, loss_fn, epochs=6):
    model, times, last = clone(original), [], [time.perf_counter()]

    def end(epoch, m):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    fit(model, x, y, replace(tc, epochs=epochs), data=data, progress=False, loss_fn=loss_fn, on_epoch_end=end)
    pace = len(x) / np.array(times[1:])
    row = {"case": name, "images": len(x), "first_epoch_s": round(times[0], 3),
           "epoch_s": round(float(np.mean(times[1:])), 3), "images_per_s": round(float(pace.mean()), 1),
           "images_per_s_sd": round(float(pace.std(ddof=1)), 1), "epochs_timed": len(times) - 1}
    print(json.dumps(row), flush=True, file=sys.stderr)  # progress; the JSON goes to stdout
    return row


rows = []
for rep in range(args.reps):
    rows += [{"round": rep, **r} for r in (
        timed("GA, forget set (last batch 148)", xf, yf, ascent),
        timed("GA, forget set + 108 retain (full batches)", torch.cat([xf, xr[:108]]), torch.cat([yf, yr[:108]]),
              ascent),
        timed("GA, first 4,352 forget images (full batches)", xf[:4352], yf[:4352], ascent),
        timed("cross-entropy, 4,500 retain images", xr[:4500], yr[:4500], None),
        timed("GA, 4,500 retain images", xr[:4500], yr[:4500], ascent))]
whole = timed("cross-entropy, whole retain set (retrain's pace)", xr, yr, None, epochs=3)
for r in rows:
    r["pct_of_whole_retain_pace"] = round(100 * r["images_per_s"] / whole["images_per_s"], 1)
print(json.dumps({**describe_run(torch.device("cpu")), "profile": "cpu", "scheme": args.scheme, "seed": args.seed,
                  "data_source": ds.source, "batch_size": tc.batch_size, "cpu_bf16": tc.cpu_bf16,
                  "cases": rows, "whole_retain": whole}, indent=1))
