"""Gradient-penalty unlearning variants on a digits MLP MoCo encoder against a fixed and a refitted EncoderMI
attacker (results in README.md). python gp_variants.py (2 CPU threads, about 2 minutes). The split and encoder
are notebook 03's at the quick profile (700 members, 500 MoCo epochs, digit views); each row: MIA accuracy (%)
of the attacker fitted on the original ("fixed") and of one refitted on the unlearned encoder, both fitted on
retain vs validation and evaluated on forget vs test, the refitted attacker's AUC, and kNN accuracy (%).
"""
import json, numpy as np, torch
from dataclasses import replace
from unlearnlib import load_dataset, make_split, to_device, unlearn
from unlearnlib.attacks import EncoderMIAttack, cosine_features
from unlearnlib.methods import make_config
from unlearnlib.ssl import SSLConfig, train_ssl, embed, knn_accuracy, default_augment
torch.set_num_threads(2)
ds = load_dataset("digits"); data = to_device(ds, torch.device("cpu"))
split = make_split(ds, "random", 140, 200, 0, 900, 360)
enc, _ = train_ssl(data, split.train, "mlp", SSLConfig(method="moco", epochs=500, lr=1e-3, batch_size=128, queue_size=512, bf16=False, augment=default_augment("digits")), progress=False)
xr,_=data.train_part(split.retain); xv,_=data.train_part(split.val); xf,_=data.train_part(split.forget); xt,yt=data.test_part(split.test); xm,ym=data.train_part(split.train)
def cf(m, x):
    return cosine_features(m, x, 10, generator=torch.Generator().manual_seed(0))
def ev(m, att0):
    n=min(len(xr),len(xv)); k=min(len(xf),len(xt))
    att=EncoderMIAttack.fit(cf(m,xr[:n]), cf(m,xv[:n]))
    ff, ft = cf(m,xf[:k]), cf(m,xt[:k])
    return dict(fixed=att0.evaluate(ff,ft)["accuracy_pct"], refit=att.evaluate(ff,ft)["accuracy_pct"], auc=round(att.evaluate(ff,ft)["auc"],3),
                knn=knn_accuracy(embed(m,xm),ym,embed(m,xt),yt,10))
n=min(len(xr),len(xv)); att0=EncoderMIAttack.fit(cf(enc,xr[:n]), cf(enc,xv[:n]))
print(json.dumps({"variant": "before", **ev(enc, att0)}), flush=True)
base = make_config("gradient_penalty", epochs=10, lr=1e-3, batch_size=35)
for kw in [dict(), dict(epochs=30), dict(beta=10.0), dict(lr=1e-2), dict(epochs=30, beta=10.0), dict(variant="simplified"), dict(form="squared_norm"), dict(form="norm_minus_one")]:
    m,_ = unlearn("gradient_penalty", enc, split, data, replace(base, **kw))
    print(json.dumps({"variant": kw or "notebook default", **ev(m, att0)}), flush=True)
