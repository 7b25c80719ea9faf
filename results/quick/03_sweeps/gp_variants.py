"""Gradient-penalty unlearning variants on a digits MLP MoCo encoder against a fixed and a refitted EncoderMI
attacker (results in README.md). python gp_variants.py (2 CPU threads, about 2 minutes). The split and encoder
are notebook 03's at the quick profile (700 members, 500 MoCo epochs, digit views); each row: MIA accuracy (%)
of the attacker fitted on the original ("fixed") and of one refitted on the unlearned encoder, both fitted on
retain vs validation and evaluated on forget vs test, the refitted attacker's AUC, and kNN accuracy (%).
"""
import json
from dataclasses import replace

import torch

from unlearnlib import load_dataset, make_split, to_device, unlearn
from unlearnlib.attacks import EncoderMIAttack, cosine_features
from unlearnlib.methods import make_config
from unlearnlib.ssl import SSLConfig, default_augment, embed, knn_accuracy, train_ssl

torch.set_num_threads(2)
ds = load_dataset("digits")
data = to_device(ds, torch.device("cpu"))
split = make_split(ds, "random", 140, 200, 0, 900, 360)  # notebook 03, quick: 700 members (140 forgotten)
cfg = SSLConfig(method="moco", epochs=500, lr=1e-3, batch_size=128, queue_size=512, bf16=False,
                augment=default_augment("digits"))
enc, _ = train_ssl(data, split.train, "mlp", cfg, progress=False)
xr, _ = data.train_part(split.retain)
xv, _ = data.train_part(split.val)
xf, _ = data.train_part(split.forget)
xt, yt = data.test_part(split.test)
xm, ym = data.train_part(split.train)


def cos_feats(model, x):
    return cosine_features(model, x, 10, generator=torch.Generator().manual_seed(0))


def fit(model):
    n = min(len(xr), len(xv))
    return EncoderMIAttack.fit(cos_feats(model, xr[:n]), cos_feats(model, xv[:n]))


def assess(model, fixed):
    k = min(len(xf), len(xt))
    ff, ft = cos_feats(model, xf[:k]), cos_feats(model, xt[:k])
    refit = fit(model).evaluate(ff, ft)
    return {"fixed": fixed.evaluate(ff, ft)["accuracy_pct"], "refit": refit["accuracy_pct"],
            "auc": round(refit["auc"], 3),
            "knn": knn_accuracy(embed(model, xm), ym, embed(model, xt), yt, data.num_classes)}


fixed = fit(enc)
print(json.dumps({"variant": "before", **assess(enc, fixed)}), flush=True)
base = make_config("gradient_penalty", epochs=10, lr=1e-3, batch_size=35)  # the notebook's
variants = [{}, {"epochs": 30}, {"beta": 10.0}, {"lr": 1e-2}, {"epochs": 30, "beta": 10.0}, {"variant": "simplified"},
            {"form": "squared_norm"}, {"form": "norm_minus_one"}]
for kw in variants:
    model, _ = unlearn("gradient_penalty", enc, split, data, replace(base, **kw))
    print(json.dumps({"variant": kw or "notebook default", **assess(model, fixed)}), flush=True)
