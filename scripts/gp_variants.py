"""Gradient-penalty unlearning variants on a digits MLP MoCo encoder against a fixed and a refitted EncoderMI
attacker (results in results/quick/03_sweeps/README.md).
python scripts/gp_variants.py > results/quick/03_sweeps/gp_variants.jsonl (2 CPU threads, about 2 minutes). The split and encoder
are notebook 03's at the quick profile (700 members, 500 MoCo epochs, digit views); each row: MIA accuracy (%)
of the attacker fitted on the original ("fixed") and of one refitted on the unlearned encoder, both fitted on
retain vs validation and evaluated on forget vs test, the refitted attacker's AUC, and kNN accuracy (%).
"""
import json
from dataclasses import replace

import torch

from unlearnlib import load_dataset, make_split, to_device, unlearn
from unlearnlib.evaluation import EncoderProbe, assess_encoder, fit_encoder_attack
from unlearnlib.methods import make_config
from unlearnlib.ssl import SSLConfig, default_augment, train_ssl

torch.set_num_threads(2)
ds = load_dataset("digits")
data = to_device(ds, torch.device("cpu"))
split = make_split(ds, "random", 140, 200, 0, 900, 360)  # notebook 03, quick: 700 members (140 forgotten)
cfg = SSLConfig(method="moco", epochs=500, lr=1e-3, batch_size=128, queue_size=512, bf16=False,
                augment=default_augment("digits"))
enc, _ = train_ssl(data, split.train, "mlp", cfg, progress=False)
probe = EncoderProbe.from_split(data, split, views=10, seed=0)  # notebook 03's assessment


def assess(model, fixed):
    """MIA accuracy of the fixed and of a refitted EncoderMI-T attacker, the refitted one's AUC, kNN accuracy."""
    with_fixed, refit = assess_encoder(model, probe, fixed), assess_encoder(model, probe, None)
    return {"fixed": with_fixed["mia_acc_pct"], "refit": refit["mia_acc_pct"], "auc": round(refit["mia_auc"], 3),
            "knn": refit["knn_acc_pct"]}


fixed = fit_encoder_attack(enc, probe)
print(json.dumps({"variant": "before", **assess(enc, fixed)}), flush=True)
base = make_config("gradient_penalty", epochs=10, lr=1e-3, batch_size=35)  # the notebook's
variants = [{}, {"epochs": 30}, {"beta": 10.0}, {"lr": 1e-2}, {"epochs": 30, "beta": 10.0}, {"variant": "simplified"},
            {"form": "squared_norm"}, {"form": "norm_minus_one"}]
for kw in variants:
    model, _ = unlearn("gradient_penalty", enc, split, data, replace(base, **kw))
    print(json.dumps({"variant": kw or "notebook default", **assess(model, fixed)}), flush=True)
