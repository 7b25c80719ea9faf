"""Training throughput of CIFAR-shaped batches on this CPU: fp32, channels_last, and bf16 autocast +
channels_last (TrainConfig.cpu_bf16), per model. python scripts/cpu_bf16_throughput.py > results/bench/cpu_bf16.json
Synthetic data (32x32x3, batch 256); 3 warm-up and 10 timed steps (3 for resnet18) of forward, backward and SGD step.

--gradient-penalty: the step of gradient-penalty unlearning instead (cross-entropy, the penalty at interpolates with
its double backward, 0.1 x the logits' norm; methods/gradient_penalty.py), in each layout with and without bf16,
after one warm-up step, half as many timed steps:
python scripts/cpu_bf16_throughput.py --gradient-penalty > results/bench/cpu_bf16_gradient_penalty.json"""
import argparse
import json
import platform
import time

import torch
import torch.nn.functional as F

from unlearnlib.losses import gradient_penalty, interpolate
from unlearnlib.models import create_model
from unlearnlib.results import describe_run
from unlearnlib.train import autocast

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--gradient-penalty", action="store_true", help="time gradient-penalty unlearning's step")
args = parser.parse_args()
MODES = (("fp32", False, False), ("channels_last", True, False), ("bf16 + channels_last", True, True))
if args.gradient_penalty:
    MODES = MODES[:2] + (("bf16", False, True),) + MODES[2:]


def loss_of(model, x, y):
    if not args.gradient_penalty:
        return F.cross_entropy(model(x), y)
    # as the method's loop: the member loss, the penalty, and the norm on a forward of its own
    return (F.cross_entropy(model(x), y) + gradient_penalty(model, interpolate(x, x.flip(0)))
            + 0.1 * model(x).float().norm(dim=1).mean())


device = torch.device("cpu")
rows = []
for name in ("small_cnn", "resnet18"):
    for label, channels_last, bf16 in MODES:
        torch.manual_seed(0)
        model = create_model(name, 10, 3, 32)
        x, y = torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))
        if channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model.train()
        steps = (10 if name == "small_cnn" else 3) // (2 if args.gradient_penalty else 1)
        warm = 1 if args.gradient_penalty else 3
        for i in range(warm + steps):
            if i == warm:
                start = time.perf_counter()
            with autocast(device, True, cpu=bf16):
                loss = loss_of(model, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rows.append({"model": name, "mode": label, "images_per_s": round(256 * steps / (time.perf_counter() - start), 1)})
        print(json.dumps(rows[-1]), flush=True)
print(json.dumps({"run": describe_run(device), "cpu": platform.processor(),
                  "step": "gradient_penalty" if args.gradient_penalty else "cross_entropy", "rows": rows}, default=str))
