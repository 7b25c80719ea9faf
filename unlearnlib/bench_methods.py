"""Per-method benchmark: every registered unlearning method on one profile's setting, its run time split into phases.

    python -m unlearnlib.bench_methods --profile cpu                 # every method, random forgetting, dense
    python -m unlearnlib.bench_methods --profile smoke --methods finetune dau --scheme class
    python -m unlearnlib.bench_methods --profile cpu --methods retrain dau --variant dau detach_sensitivity=True

Each method runs at its profile's preset (`preset_config`, as notebook 02 runs it) on the profile's original
(cached) and split (with `--sparsity`, on the sparse original notebook 02 makes: pruned, then tuned with its masks,
`experiment.prune_and_tune`; the tuning is not timed), contiguous however it was made (the layout every committed
benchmark row started from), and is timed by phase with exclusive accounting (a phase's time excludes the phases
nested in it, except the absorbing ones, which keep everything inside them):

    forward      the model's forward passes (a global forward hook on the top-level model; a call of its
                 `features` alone, as DAU's Barlow Twins term makes, is not seen and counts as other)
    backward     Tensor.backward and torch.autograd.grad
    optimiser    SGD and Adam steps
    curvature    Hessian, Fisher and per-sample gradient estimates (unlearnlib.gradients; absorbing)
    tokens       DAU's attack tokens: 1 + draws forward passes per sample (absorbing)
    attacker     the transformer attacker's forward passes (absorbing)
    other        the rest (data movement, batching, masks, host syncs)

and evaluation (UA, MIA-Efficacy, RA, TA) is timed after the method, apart. Reported beside each method: images
forwarded per second (the top-level model's forward samples over the method's time), the share of retrain's time,
and retrain's own images per second (its `fit`, the fast path) on the same device. Writes
results/bench/methods_<profile>_<device>.json (with the methods' names when `--methods` names them, and the variants')
and a figure of the phases. A variant (`--variant METHOD FIELD=VALUE ...`) is one more row: the method at its preset
with those fields changed, named `method[field=value]`, timed in the same run as the preset's row. A benchmark, not a
test: nothing asserts a time. On CUDA every phase boundary synchronises the device (so each kernel is charged to its
phase), which slows the run a little: the phases' shares, not the total, are the point there.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import gradients
from .data import load_dataset, make_split, to_device
from .experiment import prune_and_tune, tune_config
from .models import is_pruned
from .originals import train_original
from .results import describe_run, save_figure
from .setting import setting
from .train import resolve_device

PHASES = ("forward", "backward", "optimiser", "curvature", "tokens", "attacker", "other")
ABSORBING = {"curvature", "tokens", "attacker"}
CURVATURE = ("expected_fisher_diag", "squared_sample_grads", "mean_loss_grad", "batch_loss_grads", "sample_loss_grads",
             "mean_squared_batch_grads",
             "woodfisher_ihvp")


class PhaseTimer:
    """Exclusive time per phase: entering a phase charges the time so far to the phase it interrupts; inside an
    absorbing phase, nested phases are not entered (their time stays with it)."""

    def __init__(self, sync: bool = False, clock=time.perf_counter):
        self.clock = clock  # seconds, monotonic (a test passes a fake one)
        self.sync = sync  # CUDA: wait for the device at every phase boundary, or kernels are charged where they end
        self.totals: dict[str, float] = defaultdict(float)
        self.stack: list[list] = []  # [phase, start of its current stretch]
        self.images = 0
        self.started = None

    def enter(self, phase: str) -> bool:
        if self.stack and self.stack[-1][0] in ABSORBING:
            return False
        if self.sync:
            torch.cuda.synchronize()
        now = self.clock()
        if self.stack:
            self.totals[self.stack[-1][0]] += now - self.stack[-1][1]
        self.stack.append([phase, now])
        return True

    def exit(self) -> None:
        if self.sync:
            torch.cuda.synchronize()
        now = self.clock()
        phase, start = self.stack.pop()
        self.totals[phase] += now - start
        if self.stack:
            self.stack[-1][1] = now

    def wrap(self, phase: str, fn):
        def timed(*args, **kwargs):
            entered = self.enter(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                if entered:
                    self.exit()
        timed.__wrapped__ = fn
        return timed

    @contextlib.contextmanager
    def measure(self, model_types: tuple[type, ...]):
        """Time everything inside by phase (the run itself is phase 'other')."""
        from .attacks.transformer import TransformerAttacker
        from .methods import dau as dau_mod

        patches = [(torch.Tensor, "backward", "backward"), (torch.autograd, "grad", "backward"),
                   (torch.optim.SGD, "step", "optimiser"), (torch.optim.Adam, "step", "optimiser"),
                   (TransformerAttacker, "forward", "attacker"), (dau_mod, "attack_tokens", "tokens")]
        # curvature estimates, where they are defined and where methods imported them by name
        import importlib
        import pkgutil

        from . import methods as methods_pkg
        consumers = [gradients] + [importlib.import_module(f"{methods_pkg.__name__}.{m.name}")
                                   for m in pkgutil.iter_modules(methods_pkg.__path__)]
        patches += [(mod, name, "curvature") for mod in consumers for name in CURVATURE if hasattr(mod, name)]
        saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
        for (obj, name, phase), (_, _, orig) in zip(patches, saved):
            setattr(obj, name, self.wrap(phase, orig))

        def pre(module, args):
            if isinstance(module, model_types):
                if args and torch.is_tensor(args[0]):
                    self.images += len(args[0])
                module._bench_entered = self.enter("forward")

        def post(module, args, output):
            if isinstance(module, model_types) and getattr(module, "_bench_entered", False):
                module._bench_entered = False
                self.exit()

        h1 = nn.modules.module.register_module_forward_pre_hook(pre)
        h2 = nn.modules.module.register_module_forward_hook(post)
        self.enter("other")
        try:
            yield self
        finally:
            while self.stack:
                self.exit()
            h1.remove()
            h2.remove()
            for obj, name, orig in saved:
                setattr(obj, name, orig)


def _model_types() -> tuple[type, ...]:
    from . import models
    return tuple(c for c in vars(models).values() if isinstance(c, type) and issubclass(c, nn.Module)
                 and c.__module__ == models.__name__ and c.__name__ in ("CifarResNet", "TorchvisionResNet", "SmallCNN",
                                                                          "MLP"))


def bench_methods(profile: str, methods: list[str] | None = None, scheme: str = "random", sparsity: float = 0.0,
                  device: str = "auto", seed: int = 0, evaluate_rows: bool = True, on_row=None,
                  variants: list[tuple[str, dict]] = (), prune_tune_epochs: int | None = None) -> dict:
    """Every method (or `methods`) on `profile`'s setting: seconds, phases, images/s, share of retrain's time.
    variants: (method, {field: value}) rows after the methods', each the method's preset with those fields changed.
    on_row(result): called after each method with the result so far ("complete" False until the last method), so
    a run cut by a time limit keeps the methods it timed. prune_tune_epochs: notebook 02's field of that name (None,
    every profile's: a quarter of the original's epochs), the epochs that tune the sparse original."""
    from .config import ConfigError, apply_overrides
    from .evaluation import evaluate
    from .methods import list_methods, preset_config, unlearn, with_seed
    from .methods.amnesiac import AmnesiacConfig

    known = list_methods()
    for name, fields in variants:  # checked before anything trains
        if name not in known:
            raise ConfigError(f"--variant names an unknown method {name!r}; registered: {known}")
        if not fields:
            raise ConfigError(f"--variant {name} changes no field; give FIELD=VALUE pairs (it would repeat {name})")
        apply_overrides(preset_config(name, profile), fields, prefix=f"{name}.")

    dev = resolve_device(device)
    p = setting(profile)
    # the sparse original as notebook 02 makes it (DAUPaperConfig.tune_config: the profile's schedule for
    # prune_tune_epochs, -p PRUNE_TUNE_EPOCHS there); checked before anything trains
    tune = tune_config(p.train, prune_tune_epochs)
    ds = load_dataset(p.dataset)
    split = make_split(ds, scheme, 0.1 if scheme == "random" else 0, p.val_size, seed, p.train_size, p.test_size)
    data = to_device(ds, dev)
    train = replace(p.train, seed=seed)
    names = [m for m in (methods or known) if not (sparsity and m == "amnesiac")]  # a record is of the dense
    t0 = time.perf_counter()
    original, info = train_original(p.model, data, split, train, progress=False,
                                    record_requests={"forget": split.forget} if "amnesiac" in names else None)
    print(f"{'original':>16}: ready in {time.perf_counter() - t0:.1f} s (trained, or read from the cache)", flush=True)
    start, tuned = prune_and_tune(original, data, split, sparsity, tune, progress=False) if sparsity else (original, {})
    # every method starts contiguous, the layout every committed row started from (a cache entry now keeps fit's
    # channels_last at cpu_bf16, models.set_layout): a method that keeps its start model's layout (the gradient
    # penalty in float32) would otherwise time and round differently from them
    start.to(memory_format=torch.contiguous_format)
    if sparsity:
        print(f"{'sparse original':>16}: pruned and tuned ({tune.epochs} epochs) in {tuned['seconds']:.1f} s",
              flush=True)
    if "retrain" in names:
        names = ["retrain", *[m for m in names if m != "retrain"]]  # the reference first
    types = _model_types()
    head = {**describe_run(dev), "profile": profile, "dataset": p.dataset, "data_source": ds.source, "model": p.model,
            "scheme": scheme, "sparsity": sparsity, "pruned": is_pruned(start),
            "tune_epochs": tune.epochs if sparsity else 0, "seed": seed, "forget": len(split.forget),
            "retain": len(split.retain)}  # the run and its setting (the data by file name and digest: Dataset.source)
    rows = []
    runs = [(name, {}) for name in names] + [(name, dict(fields)) for name, fields in variants]
    for name, fields in runs:
        cfg = with_seed(apply_overrides(preset_config(name, profile, train=train), fields), seed)
        if isinstance(cfg, AmnesiacConfig):
            cfg = replace(cfg, record=info["amnesiac"])  # the original's recorded updates of the forget set
        timer = PhaseTimer(sync=dev.type == "cuda")
        with timer.measure(types):
            model, seconds = unlearn(name, start, split, data, cfg)
        phases = {ph: round(timer.totals.get(ph, 0.0), 3) for ph in PHASES}
        label = f"{name}[{', '.join(f'{k}={v}' for k, v in fields.items())}]" if fields else name
        row = {"method": label, **({"changed": {k: repr(v) for k, v in fields.items()}} if fields else {}),
               "seconds": round(seconds, 3), "phases_s": phases,
               "images_forwarded": timer.images, "images_per_s": round(timer.images / seconds, 1) if seconds else None}
        if evaluate_rows:
            t0 = time.perf_counter()
            r = evaluate(model, data, split, method=label, runtime_s=seconds, mia_max_per_side=p.mia_max_per_side,
                         seed=seed)
            row.update(evaluation_s=round(time.perf_counter() - t0, 3),
                       **{k: round(float(r[k]), 2) for k in ("ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct")})
        rows.append(row)
        print(f"{label:>16}: {seconds:8.2f} s  " + "  ".join(f"{k} {v:.2f}" for k, v in phases.items() if v >= 0.005),
              flush=True)  # a long run under nohup shows each method as it lands
        if on_row is not None and len(rows) < len(runs):
            on_row(_result(head, rows, complete=False))
    return _result(head, rows, complete=True)


def _result(head: dict, rows: list[dict], complete: bool) -> dict:
    """The benchmark's record: the run's description and setting (`head`), and the methods timed so far."""
    rows = [dict(r) for r in rows]
    retrain = next((r for r in rows if r["method"] == "retrain"), None)
    for r in rows:
        r["share_of_retrain_pct"] = round(100 * r["seconds"] / retrain["seconds"], 1) if retrain else None
    return {**head, "fit_images_per_s": retrain["images_per_s"] if retrain else None, "complete": complete,
            "methods": rows}


def phase_figure(result: dict):
    """A stacked bar per method: seconds by phase (and evaluation apart, hatched)."""
    import matplotlib.pyplot as plt

    rows = result["methods"]
    fig, ax = plt.subplots(figsize=(max(3.0, 1.0 + 0.75 * len(rows)) + 1.9, 4.0))  # the legend sits right of the bars
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for i, ph in enumerate(PHASES):
        v = np.array([r["phases_s"][ph] for r in rows])
        ax.bar(x, v, bottom=bottom, label=ph, color=f"C{i}")
        bottom += v
    ev = np.array([r.get("evaluation_s", 0.0) for r in rows])
    ax.bar(x, ev, bottom=bottom, label="evaluation (apart)", color="0.85", hatch="//", edgecolor="0.5")
    ax.set_xticks(x, [r["method"] for r in rows], rotation=35, ha="right")
    ax.set_ylabel("seconds")
    ax.set_title(f"{result['dataset']} / {result['model']} ({result['profile']}, {result['scheme']}, "
                 f"sparsity {result['sparsity']})\non {result['device']}", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--methods", nargs="*", default=None, help="registered method names (default: all)")
    ap.add_argument("--scheme", default="random", choices=["random", "class"])
    ap.add_argument("--sparsity", type=float, default=0.0,
                    help="prune the original to this sparsity and tune it, as notebook 02's sparse tables (0: dense)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-evaluate", action="store_true", help="skip the evaluation of each unlearned model")
    ap.add_argument("--out", default=None, help="folder of the JSON and figure (default results/bench)")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar=("METHOD", "FIELD=VALUE"),
                    help="one more row: METHOD at its preset with these fields changed (repeatable)")
    ap.add_argument("--prune-tune-epochs", type=int, default=None, metavar="N",
                    help="with --sparsity: epochs tuning the pruned original, as notebook 02's -p PRUNE_TUNE_EPOCHS "
                         "(default: its profile's, a quarter of the original's epochs)")
    args = ap.parse_args(argv)
    from .config import ConfigError, parse_assignments
    variants = []
    for method, *pairs in args.variant:
        try:  # FIELD=VALUE pairs after the method, each field once (checked against its config in bench_methods)
            variants.append((method, parse_assignments(pairs, f"--variant {method}")))
        except ConfigError as exc:
            ap.error(str(exc))
    from .paths import repo_root
    out = Path(args.out) if args.out else repo_root() / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    kind = "cuda" if resolve_device(args.device).type == "cuda" else "cpu"
    # a run of some methods has a file of its own, so it never overwrites a run of every method
    stem = (f"methods_{args.profile}_{kind}" + (f"_{args.scheme}" if args.scheme != "random" else "")
            + (f"_sparse{args.sparsity:g}" if args.sparsity else "")
            + (f"_tune{args.prune_tune_epochs}" if args.sparsity and args.prune_tune_epochs is not None else "")
            + ("_" + "-".join(args.methods) if args.methods else "")
            + "".join("_" + re.sub(r"[^A-Za-z0-9._-]+", "", "-".join(v)) for v in args.variant))

    def write(result: dict) -> None:  # after every method: a cut run keeps what it timed ("complete": false)
        (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")

    try:
        result = bench_methods(args.profile, args.methods, args.scheme, args.sparsity, args.device, args.seed,
                               not args.no_evaluate, on_row=write, variants=variants,
                               prune_tune_epochs=args.prune_tune_epochs)
    except ConfigError as exc:
        ap.error(str(exc))
    write(result)
    save_figure(phase_figure(result), out / stem)
    print(f"wrote {out / stem}.json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
