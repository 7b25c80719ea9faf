"""Training throughput of CIFAR-shaped batches on this CPU: fp32, channels_last, and bf16 autocast +
channels_last (TrainConfig.cpu_bf16), per model. python scripts/cpu_bf16_throughput.py > results/bench/cpu_bf16.json
Synthetic data (32x32x3, batch 256); 3 warm-up and 10 timed steps of forward, backward and SGD step."""
import json
import platform
import time

import torch
import torch.nn.functional as F

from unlearnlib.models import create_model
from unlearnlib.results import describe_run
from unlearnlib.train import autocast

device = torch.device("cpu")
rows = []
for name in ("small_cnn", "resnet18"):
    for label, channels_last, bf16 in (("fp32", False, False), ("channels_last", True, False),
                                        ("bf16 + channels_last", True, True)):
        torch.manual_seed(0)
        model = create_model(name, 10, 3, 32)
        x, y = torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))
        if channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model.train()
        steps = 10 if name == "small_cnn" else 3
        for i in range(3 + steps):
            if i == 3:
                start = time.perf_counter()
            with autocast(device, True, cpu=bf16):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rows.append({"model": name, "mode": label, "images_per_s": round(256 * steps / (time.perf_counter() - start), 1)})
        print(json.dumps(rows[-1]), flush=True)
print(json.dumps({"run": describe_run(device), "cpu": platform.processor(), "rows": rows}, default=str))
