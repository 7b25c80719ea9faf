"""How closely does notebook 03's supervised model (Table VII) fit its members at the cpu profile? (results/cpu/03_sweeps)

    python scripts/supervised_fit_cifar.py [EPOCHS [adam|sgd]] >> results/cpu/03_sweeps/supervised_fit.jsonl   (2 CPU threads)

Notebook 03's Table VII trains `small_cnn` on the 10,000 members of the cpu profile's split (seed 0) with
`adam`: the notebook's supervised schedule before this measurement (Adam 1e-3, constant, batch 256), or `sgd`: the
cpu original's one-cycle recipe (SGD lr 0.15, Nesterov momentum 0.9, weight decay 5e-4, batch 256); both without
augmentation, in bf16 autocast with channels_last.
Every 10 epochs (a monitor, so nothing is cached) it reports the accuracy on the members, on the 2,000 forget
members, on the 10,000 test images, and the mean top-1 softmax confidence of forget members and of as many test
images (Table VII's MTop1 / NMTop1). Gradient-penalty unlearning keeps a member training loss (the paper's
L_MEMtrain) that assumes the model already fits its members; this measures how many epochs that takes here.
Run it alone on the cores: seconds are recorded.
"""
import json
import sys
import time

import torch

from unlearnlib import load_dataset, make_split, to_device, train_original
from unlearnlib.evaluation import top1_confidence
from unlearnlib.papers import notebook_config
from unlearnlib.train import TrainConfig, accuracy

torch.set_num_threads(2)
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
recipe = sys.argv[2] if len(sys.argv) > 2 else "adam"
cfg = notebook_config("03_contrastive_unlearning", "cpu")
ds = load_dataset(cfg.dataset)
data = to_device(ds, torch.device("cpu"))
n_forget = cfg.n_forget or cfg.n_members // 5
split = make_split(ds, "random", n_forget, cfg.n_val, cfg.seed, cfg.n_members + cfg.n_val, min(cfg.n_nonmembers, len(ds.y_test)))
xm, ym = data.train_part(split.train)
xf, yf = data.train_part(split.forget)
xt, yt = data.test_part(split.test)
RECIPES = {"adam": dict(optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant"),
           "sgd": dict(optimizer="sgd", lr=0.15, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="onecycle",
                       warmup=0.2)}
sup_cfg = TrainConfig(epochs=epochs, batch_size=cfg.ssl_batch, augment=False, cpu_bf16=cfg.train.cpu_bf16, seed=cfg.seed,
                      **RECIPES[recipe])
start = time.perf_counter()


def monitor(epoch, model):
    if epoch % 10 == 0 or epoch == epochs:
        model.eval()
        row = {"epoch": epoch, "members_acc_pct": accuracy(model, xm, ym), "forget_acc_pct": accuracy(model, xf, yf),
               "test_acc_pct": accuracy(model, xt, yt), "member_top1": top1_confidence(model, xf),
               "nonmember_top1": top1_confidence(model, xt[:len(xf)]), "seconds": round(time.perf_counter() - start, 1),
               "recipe": recipe, "epochs": epochs, "members": len(xm), "seed": cfg.seed}
        print(json.dumps(row), flush=True)
        model.train()


train_original(cfg.model, data, split, sup_cfg, on_epoch_end=monitor, progress=False)
