"""One-off: restate notebook 02's per-seed sidecars (seeds/<table>/seed<N>.json) in the config shape of method presets.

Before the paper rooms (issue 35), notebook 02's config flattened the methods' hyper-parameters into its own fields
(dau_alpha, fisher_samples, ...); now each method's config comes from its preset, and a seed's fingerprint covers
every method's resolved config. This rewrites each sidecar's "config" from the flat fields, mapped exactly as the
old `experiment.method_configs` mapped them, keeps the flat one under "config_flat" and recomputes "fingerprint";
the rows (CSV files) are untouched. Run from the repository root:

    python scripts/migrate_seed_sidecars.py results/*/02_*

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
from unlearnlib.seeds import _fingerprint, config_fingerprint
from unlearnlib.train import TrainConfig

FLAT = ("ft_epochs", "dau_iterations", "dau_pretrain", "dau_alpha", "dau_lambda", "dau_lr", "dau_max_grad_norm",
        "dau_sensitivity_draws", "dau_class_off", "dau_bn_from_retain", "dau_bn_recalibrate", "fisher_alpha",
        "fisher_samples", "influence_alpha", "influence_form", "ga_lr")
ROW_FIELDS = ("schemes", "sparsities")


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
    if not isinstance(c, dict) or "dau_alpha" not in c:
        return None
    new = {k: v for k, v in c.items() if k not in FLAT}
    new["method_configs"] = flat_to_methods(c)
    new = json.loads(json.dumps(new, sort_keys=True, default=str))
    info.update(config=new, config_flat=c, fingerprint=_fingerprint(new, set(ROW_FIELDS)))
    side.write_text(json.dumps(info, indent=1, default=str))
    return info["fingerprint"]


def main(folders: list[str]) -> None:
    for folder in map(Path, folders):
        profile = folder.parent.name
        present = config_fingerprint(notebook_config("02_discriminative_adversarial_unlearning", profile))[0]
        for side in sorted(folder.glob("seeds/**/seed*.json")):
            fp = migrate(side)
            if fp is not None and side.parent.parent.name == "seeds":
                print(f"{side}: {fp} ({'the present' if fp == present else 'not the present'} {profile} config)")


if __name__ == "__main__":
    main(sys.argv[1:])
