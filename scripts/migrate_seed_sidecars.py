"""One-off (already run; the seeds/ folders it reads have since moved into the row store, see
migrate_seeds_to_store.py): restate notebooks 02's and 03's per-seed sidecars (seeds/<table>/seed<N>.json) in the config shape of
method presets.

Before the paper rooms (issue 35), notebook 02's config flattened the methods' hyper-parameters into its own fields
(dau_alpha, fisher_samples, ...), and notebook 03's its gradient penalty's (gp_alpha, unlearn_lr, ...); now each
method's config comes from its preset, and a seed's fingerprint covers every method's resolved config. This rewrites
each sidecar's "config" from the flat fields, mapped exactly as the old code mapped them (notebook 02:
`experiment.method_configs`; notebook 03: its setup cell, less the batch size derived from the forget set), keeps
the flat one under "config_flat" and recomputes "fingerprint"; the rows (CSV files) are untouched. Run from the
repository root:

    python scripts/migrate_seed_sidecars.py results/*/02_* results/*/03_contrastive_unlearning

It prints, for the sidecars at the top of each seeds/<table>/ folder, whether their fingerprint equals the present
config's at that profile (they merge with a new run's seeds).
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from unlearnlib.methods import make_config
from unlearnlib.papers import notebook_config
from unlearnlib.store import _fingerprint, config_fingerprint
from unlearnlib.train import TrainConfig

FLAT = ("ft_epochs", "dau_iterations", "dau_pretrain", "dau_alpha", "dau_lambda", "dau_lr", "dau_max_grad_norm",
        "dau_sensitivity_draws", "dau_class_off", "dau_bn_from_retain", "dau_bn_recalibrate", "fisher_alpha",
        "fisher_samples", "influence_alpha", "influence_form", "ga_lr")
ROW_FIELDS = ("schemes", "sparsities")
FLAT_03 = ("gp_alpha", "gp_beta", "gp_gamma", "gp_form", "unlearn_epochs", "unlearn_lr")
TABLE_FIELDS_03 = ("headline_only", "parts")


def flat_to_methods(c: dict) -> dict:
    """The methods' configs the flat fields stood for (the old experiment.method_configs, graves_epochs 1)."""
    train = TrainConfig(**{**c["train"], "milestones": tuple(c["train"]["milestones"])})
    bf16 = train.cpu_bf16
    configs = {
        "retrain": make_config("retrain", train=train),
        "finetune": make_config("finetune", epochs=c["ft_epochs"], cpu_bf16=bf16),
        "grad_ascent": make_config("grad_ascent", lr=c["ga_lr"], cpu_bf16=bf16),
        "fisher": make_config("fisher", alpha=c["fisher_alpha"], max_samples=c["fisher_samples"]),
        "influence": make_config("influence", alpha=c["influence_alpha"], form=c["influence_form"]),
        "dau": make_config("dau", iterations=c["dau_iterations"], alpha=c["dau_alpha"], lam=c["dau_lambda"],
                           lr=c["dau_lr"], max_grad_norm=c["dau_max_grad_norm"], pretrain_iters=c["dau_pretrain"],
                           bn_from_retain=c["dau_bn_from_retain"], bn_recalibrate=c["dau_bn_recalibrate"],
                           class_off=c["dau_class_off"], sensitivity_draws=c["dau_sensitivity_draws"], cpu_bf16=bf16),
    }
    return {name: asdict(configs[name]) for name in c["methods"]}


def migrate(side: Path) -> str | None:
    info = json.loads(side.read_text())
    c = info.get("config")
    if isinstance(c, dict) and "dau_alpha" in c:
        new = {k: v for k, v in c.items() if k not in FLAT}
        new["method_configs"] = flat_to_methods(c)
        skip = set(ROW_FIELDS)
    elif isinstance(c, dict) and "gp_alpha" in c:
        new = {k: v for k, v in c.items() if k not in FLAT_03}
        new["methods"] = ["gradient_penalty"]
        gp = make_config("gradient_penalty", alpha=c["gp_alpha"], beta=c["gp_beta"], gamma=c["gp_gamma"],
                         form=c["gp_form"], epochs=c["unlearn_epochs"], lr=c["unlearn_lr"])
        new["method_configs"] = {"gradient_penalty": asdict(gp)}
        skip = set(TABLE_FIELDS_03)
    else:
        return None
    new = json.loads(json.dumps(new, sort_keys=True, default=str))
    info.update(config=new, config_flat=c, fingerprint=_fingerprint(new, skip))
    side.write_text(json.dumps(info, indent=1, default=str))
    return info["fingerprint"]


def main(folders: list[str]) -> None:
    for folder in map(Path, folders):
        profile = folder.parent.name
        notebook = "03_contrastive_unlearning" if folder.name.startswith("03") else "02_discriminative_adversarial_unlearning"
        present = config_fingerprint(notebook_config(notebook, profile))[0]
        for side in sorted(folder.glob("seeds/**/seed*.json")):
            fp = migrate(side)
            if fp is not None and side.parent.parent.name == "seeds":
                print(f"{side}: {fp} ({'the present' if fp == present else 'not the present'} {profile} config)")


if __name__ == "__main__":
    main(sys.argv[1:])
