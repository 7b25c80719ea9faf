"""Whether DAU's float32 token passes could run faster on a CPU without a change of reading: one pass of the cpu preset
(a forget and a validation batch of 64, their clean copies and 2 noisy ones: 384 images of small_cnn, eval mode,
channels_last as DAU's defender runs at cpu), timed without gradient (the attacker's update, the detached token) and
with a backward pass through the finite difference (the defender's step), in four forms: eager (what DAU runs),
BatchNorm folded into each convolution's weights (the same function in eval mode: a convolution with
w * gamma / sqrt(var + eps) and a bias, computed differentiably each call), and each under `torch.compile` (inductor's
C++ backend), whose compile time is reported too. The logits' largest difference from eager and the sensitivity
token's relative L1 difference show that each form computes the same thing to float32 round-off.
Timings need the cores to themselves.
python scripts/token_pass_paths.py --reps 20 > results/bench/token_pass_paths_cpu.json"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from unlearnlib.models import create_model
from unlearnlib.results import describe_run

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--pair", type=int, default=64, help="forget and validation batch size (DAUConfig.pair_batch_size)")
parser.add_argument("--draws", type=int, default=2, help="noisy copies (the cpu preset's 2)")
parser.add_argument("--reps", type=int, default=10)
parser.add_argument("--no-compile", action="store_true")
args = parser.parse_args()
torch.manual_seed(0)
model = create_model("small_cnn", 10, 3, 32).to(memory_format=torch.channels_last)
with torch.no_grad():  # BatchNorm statistics and affine parameters away from their initial 0 / 1
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
model.eval()
n, sigma = 2 * args.pair, 1e-3
x = torch.randn(n, 3, 32, 32)
batch = torch.cat([x.unsqueeze(0), x.unsqueeze(0) + sigma * torch.randn(args.draws, *x.shape)])
batch = batch.reshape(-1, 3, 32, 32).contiguous(memory_format=torch.channels_last)


def eager(m, b):
    return m(b)


def folded(m, b):
    """small_cnn's forward with each convolution-BatchNorm pair as one convolution (eval mode)."""
    mods, h, i = list(m.body), b, 0
    while i < len(mods):
        if isinstance(mods[i], nn.Conv2d) and isinstance(mods[i + 1], nn.BatchNorm2d):
            conv, bn = mods[i], mods[i + 1]
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            h = F.conv2d(h, conv.weight * scale.view(-1, 1, 1, 1), bn.bias - bn.running_mean * scale, conv.stride,
                         conv.padding)
            i += 2
        else:
            h = mods[i](h)
            i += 1
    return m.head(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def sensitivity(logits):
    p = F.softmax(logits.float(), 1).reshape(args.draws + 1, n, -1)
    return p, (p[1:] - p[0]).abs().mean(0) / sigma


def timed(fn, grad):
    def once():
        if grad:
            model.zero_grad(set_to_none=True)
            p, s = sensitivity(fn(model, batch))
            (s.sum() + p[0].sum()).backward()
        else:
            with torch.no_grad():
                fn(model, batch)
    once(), once()
    t = time.perf_counter()
    for _ in range(args.reps):
        once()
    return (time.perf_counter() - t) / args.reps


forms = {"eager": eager, "folded": folded}
compile_s = {}
if not args.no_compile:
    for name in ("eager", "folded"):
        t = time.perf_counter()
        forms[f"compiled {name}"] = c = torch.compile(forms[name])
        with torch.no_grad():
            c(model, batch)
        p, s = sensitivity(c(model, batch))
        (s.sum() + p[0].sum()).backward()
        compile_s[f"compiled {name}"] = round(time.perf_counter() - t, 1)
with torch.no_grad():
    ref = eager(model, batch)
    _, s_ref = sensitivity(ref)
rows = []
for name, fn in forms.items():
    with torch.no_grad():
        out = fn(model, batch)
    _, s = sensitivity(out)
    rows.append({"form": name, "no_grad_s": round(timed(fn, False), 4), "fwd_bwd_s": round(timed(fn, True), 4),
                 "compile_s": compile_s.get(name), "logits_max_abs_diff": float((out - ref).abs().max()),
                 "sensitivity_rel_l1_diff": float((s - s_ref).abs().sum() / s_ref.abs().sum())})
base = rows[0]
for r in rows:
    r["no_grad_speedup"] = round(base["no_grad_s"] / r["no_grad_s"], 2)
    r["fwd_bwd_speedup"] = round(base["fwd_bwd_s"] / r["fwd_bwd_s"], 2)
print(json.dumps({**describe_run(torch.device("cpu")), "images_per_pass": len(batch), "reps": args.reps,
                  "rows": rows}, indent=1, default=str))
