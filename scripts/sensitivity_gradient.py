"""Where DAU's defender gradient through the attacker's sensitivity token points (issue 37, reading 3).

    python scripts/sensitivity_gradient.py [TRAIN_IMAGES [EPOCHS]] > results/cpu/02_sweeps/sensitivity_gradient.json

The cpu profile's data and model (CIFAR-10, small_cnn), a class-wise split of class 0 (seed 0), and an original
trained on the first TRAIN_IMAGES retain + forget images (default 10,000) for EPOCHS (default 4) with the cpu
recipe, in float32 (the tokens are float32 in DAU either way; the float32 original keeps this runnable at the same
digits on a CPU without native bf16). Then DAU's cpu game (`preset_config("dau", "cpu")`: pair batches of 64, 2
sensitivity draws, sigma 1e-3, the attacker pre-trained 50 updates) and, on 8 fresh forget / validation pairs, the
defender's gradient of the attacker's term (-CE(attacker(tokens), membership)) with the sensitivity token computed as
Yuan & Zhang's finite difference ("difference") and as its sigma -> 0 limit by forward-mode AD ("derivative"), and
with the sensitivity detached (only the probabilities carry gradient). Reported per pair: each gradient's norm, the
cosines between them, and how far the two tokens' values are apart (median relative difference).
"""
import json
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from unlearnlib.attacks.transformer import attack_tokens
from unlearnlib import load_dataset, make_split, to_device, train_original
from unlearnlib.methods import preset_config
from unlearnlib.methods.dau import Game, pretrain_attacker
from unlearnlib.results import describe_device
from unlearnlib.setting import SETTINGS

torch.set_num_threads(2)
n_train = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 4
t0 = time.time()
setting = SETTINGS["cpu"]
ds = load_dataset(setting.dataset)
data = to_device(ds, torch.device("cpu"))
split = make_split(ds, "class", 0, val_size=setting.val_size, seed=0)
rng = np.random.default_rng(0)
train = rng.permutation(np.concatenate([split.retain, split.forget]))[:n_train]
recipe = replace(setting.train, epochs=epochs, cpu_bf16=False)
sub = replace(split, retain=np.sort(train[~np.isin(train, split.forget)]), forget=np.sort(train[np.isin(train, split.forget)]))
model, _ = train_original(setting.model, data, sub, recipe, cache=False, progress=False)
model.eval()
x_eval, y_eval = data.train_part(sub.retain[:2000])
xf_eval, yf_eval = data.train_part(sub.forget[:1000])
with torch.no_grad():
    fit = {"retain_acc": float((model(x_eval).argmax(1) == y_eval).float().mean()),
           "forget_acc": float((model(xf_eval).argmax(1) == yf_eval).float().mean())}
trained_s = time.time() - t0

cfg = preset_config("dau", "cpu", overrides={"cpu_bf16": False})
game = Game(model, sub, data, cfg)
pre = pretrain_attacker(game, cfg)
defender, params = game.defender, [p for p in game.defender.parameters() if p.requires_grad]
defender.eval()
game.attacker.eval()


def adversarial_grad(pair, sensitivity, detach, seed):
    bxf, byf, bxv, byv = pair
    gen = torch.Generator().manual_seed(seed)
    t = attack_tokens(defender, torch.cat([bxf, bxv]), torch.cat([byf, byv]), game.num_classes,
                      cfg.sensitivity_draws, cfg.sensitivity_sigma, gen, detach_sensitivity=detach,
                      sensitivity=sensitivity)
    member = torch.cat([torch.ones(len(byf)), torch.zeros(len(byv))]).long()
    loss = -F.cross_entropy(game.attacker(t), member)  # the defender's adversarial term (alpha 1)
    g = torch.autograd.grad(loss, params)
    return torch.cat([v.flatten() for v in g]), t[..., 1].detach()


def cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


rows = []
for k in range(8):
    pair = game.pair()
    g_diff, s_diff = adversarial_grad(pair, "difference", False, 100 + k)
    g_der, s_der = adversarial_grad(pair, "derivative", False, 100 + k)
    g_p, _ = adversarial_grad(pair, "difference", True, 100 + k)
    rows.append({"pair": k, "norm_difference": float(g_diff.norm()), "norm_derivative": float(g_der.norm()),
                 "norm_probabilities_only": float(g_p.norm()), "cos_difference_derivative": cos(g_diff, g_der),
                 "cos_difference_probabilities_only": cos(g_diff, g_p), "cos_derivative_probabilities_only": cos(g_der, g_p),
                 "token_median_relative_difference": float(((s_diff - s_der).abs() / s_der.abs().clamp_min(1e-12)).median())})

summary = {k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1))]
           for k in rows[0] if k != "pair"}
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
print(json.dumps({"what": "defender gradient of DAU's adversarial term, sensitivity as difference / derivative / detached",
                  "command": "python scripts/sensitivity_gradient.py " + " ".join(sys.argv[1:]),
                  "git_commit": commit, "device": describe_device("cpu"), "torch": torch.__version__,
                  "dataset": setting.dataset, "source": ds.source, "model": setting.model, "scheme": "class",
                  "forget_class": 0, "seed": 0,
                  "train_images": int(len(train)), "epochs": epochs, "original_fit": fit, "train_seconds": round(trained_s, 1),
                  "dau": {"pair_batch_size": cfg.pair_batch_size, "sensitivity_draws": cfg.sensitivity_draws,
                          "sensitivity_sigma": cfg.sensitivity_sigma, "pretrain_steps": pre["steps"],
                          "pretrain_last_acc": float(pre["last"][1])},
                  "mean_sd_over_pairs": summary, "pairs": rows, "seconds": round(time.time() - t0, 1)}, indent=1))
