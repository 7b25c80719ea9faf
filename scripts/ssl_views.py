"""EncoderMI signal of a digits MLP encoder against the SSL views it was trained with (results in README.md).

python scripts/ssl_views.py > results/quick/03_sweeps/views.jsonl  (2 CPU threads; about 3 minutes). 300 members, 300 validation and 300 test images of the
embedded digits; SSL training with Adam, batch 128, no weight decay; AUC of the mean pairwise cosine
similarity of 10 views, members against validation + test images.
"""
import json
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from unlearnlib import load_dataset, make_split, to_device
from unlearnlib.evaluation import EncoderProbe
from unlearnlib.ssl import DIGIT_AUGMENT, Augment, SSLConfig, embed, knn_accuracy, train_ssl

torch.set_num_threads(2)
ds = load_dataset("digits")
data = to_device(ds, torch.device("cpu"))
n = 300
split = make_split(ds, "random", n // 5, n, 0, 2 * n, n)
xm, ym = data.train_part(split.train)
xv, _ = data.train_part(split.val)
xt, yt = data.test_part(split.test)
runs = [("simclr_views", Augment(), "simclr", e) for e in (300, 1500, 3000)]
runs += [("digit_views", DIGIT_AUGMENT, "simclr", e) for e in (300, 1500)]
runs += [("digit_views", DIGIT_AUGMENT, m, 800) for m in ("moco", "byol")]
for views, aug, method, epochs in runs:
    t0 = time.perf_counter()
    cfg = SSLConfig(method=method, epochs=epochs, lr=1e-3, batch_size=128, queue_size=512, weight_decay=0.0,
                    bf16=False, seed=0, augment=aug)
    enc, info = train_ssl(data, split.train, "mlp", cfg, progress=False)

    probe = EncoderProbe.from_split(data, split, views=10, seed=0)
    fm = probe.similarities(enc, xm).mean(1)
    non = np.concatenate([probe.similarities(enc, xv).mean(1), probe.similarities(enc, xt).mean(1)])
    auc = roc_auc_score(np.r_[np.ones(len(fm)), np.zeros(len(non))], np.r_[fm, non])
    print(json.dumps(dict(views=views, method=method, epochs=epochs, final_loss=round(info["history"][-1]["loss"], 3),
                          auc=round(auc, 3), member_sim=round(float(fm.mean()), 3),
                          nonmember_sim=round(float(non.mean()), 3),
                          knn_pct=round(knn_accuracy(embed(enc, xm), ym, embed(enc, xt), yt, data.num_classes), 1),
                          seconds=round(time.perf_counter() - t0, 1))), flush=True)
