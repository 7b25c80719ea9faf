"""How far TF32 arithmetic (a GPU's default for float32 convolutions) would move DAU's sensitivity token, measured on a
CPU by emulating it: each convolution's input and weight rounded to TF32's 10-bit mantissa (round to nearest even),
then multiplied and summed in float32, as tensor cores do.

The model is the cpu profile's original (CIFAR-10, small_cnn, from the cache when it holds it), in eval mode as DAU
queries it; 256 of its training images, `--draws` noisy copies at sigma 1e-3, tokens as `attack_tokens` makes them.
Each form's sensitivity token against a float64 computation of the same finite difference: relative L1 error,
correlation, and the ratio of the means. The derivative (the difference's sigma -> 0 limit) is shown for scale.
`--untrained resnet18` adds the paper profile's model, randomly initialised (no trained one exists on a CPU), its
BatchNorm statistics estimated on 2,048 training images, on 64 of the images (float64 ResNet-18 is slow on 2 cores).
python scripts/tf32_tokens.py --seed 1 --untrained resnet18 > results/bench/tf32_tokens_cpu.json"""
import argparse
import copy
import json
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from unlearnlib.attacks.transformer import _tokens
from unlearnlib.data import load_dataset, make_split, to_device
from unlearnlib.models import create_model, recalibrate_bn
from unlearnlib.originals import train_original
from unlearnlib.results import describe_run
from unlearnlib.setting import setting

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--seed", type=int, default=1, help="the original's seed (its class-wise split, class 0)")
parser.add_argument("--draws", type=int, default=10, help="noisy copies (10: Yuan & Zhang and the paper preset)")
parser.add_argument("--images", type=int, default=256)
parser.add_argument("--untrained", nargs="*", default=[], metavar="MODEL", help="models to add, randomly initialised")
args = parser.parse_args()


def to_tf32(t: torch.Tensor) -> torch.Tensor:
    """float32 -> the nearest value with a 10-bit mantissa (ties to even), still stored as float32."""
    bits = t.contiguous().view(torch.int32)
    return ((bits + 0x0FFF + ((bits >> 13) & 1)) & ~0x1FFF).view(torch.float32).view(t.shape)


class TF32Convolutions(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.conv2d and args[0].dtype == torch.float32:
            args = (to_tf32(args[0]), to_tf32(args[1]), *args[2:])
        return func(*args, **(kwargs or {}))


p = setting("cpu")
ds = load_dataset(p.dataset)
split = make_split(ds, "class", 0, p.val_size, args.seed, p.train_size, p.test_size)
data = to_device(ds, torch.device("cpu"))
model, _ = train_original(p.model, data, split, replace(p.train, seed=args.seed), progress=False)
model = model.to(memory_format=torch.contiguous_format).eval()
g = torch.Generator().manual_seed(0)
x, y = data.train_part(split.retain)
pick = torch.randperm(len(x), generator=g)[:args.images]
x, y = x[pick], y[pick]


def compare(model, x, y):
    """Each form's sensitivity token against float64's: relative L1, correlation, ratio of the means."""
    noise = torch.randn((args.draws, *x.shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = _tokens(copy.deepcopy(model).double(), x.double(), y, data.num_classes, noise.double(), 1e-3,
                            "difference").float()
        forms = {"float32": _tokens(model, x, y, data.num_classes, noise, 1e-3, "difference")}
        with TF32Convolutions():
            forms["tf32 (emulated)"] = _tokens(model, x, y, data.num_classes, noise, 1e-3, "difference")
        forms["derivative, float32"] = _tokens(model, x, y, data.num_classes, noise, 1e-3, "derivative")
    s = reference[..., 1]
    rows = {}
    for name, t in forms.items():
        e = t[..., 1]
        corr = torch.corrcoef(torch.stack([e.flatten(), s.flatten()]))[0, 1]
        rows[name] = {"sensitivity_rel_l1": round(float((e - s).abs().sum() / s.abs().sum()), 6),
                      "sensitivity_corr": round(float(corr), 6),
                      "sensitivity_mean_ratio": round(float(e.mean() / s.mean()), 6),
                      "probabilities_max_abs_error": float((t[..., 0] - reference[..., 0]).abs().max())}
    return rows


models = [{"model": p.model, "weights": f"the cpu original, seed {args.seed}", "images": args.images,
           "forms": compare(model, x, y)}]
for name in args.untrained:
    torch.manual_seed(0)
    m = create_model(name, data.num_classes, data.in_channels, data.image_size)
    recalibrate_bn(m, data.train_part(split.retain[:2048])[0])
    models.append({"model": name, "weights": "random, BatchNorm statistics of 2,048 training images", "images": 64,
                   "forms": compare(m.eval(), x[:64], y[:64])})
print(json.dumps({**describe_run(torch.device("cpu")), "profile": "cpu", "seed": args.seed, "data_source": ds.source,
                  "draws": args.draws, "sigma": 1e-3, "reference": "float64", "models": models}, indent=1))
