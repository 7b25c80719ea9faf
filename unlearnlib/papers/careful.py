"""Notebook 04, beyond the papers: every method scored by population and per-example attacks over shadows trained
and unlearned by the pipeline (Hayes et al. 2024; the NeurIPS 2023 competition's score). Config, profiles, claims.

Each method runs at its profile's preset (`unlearnlib/methods/`), the same as in notebook 02, so a `-p DAU.ALPHA`
override reaches both. Why each profile's sizes (measured): results/cpu/NOTES.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..config import ConfigError
from .base import MethodsRun, from_setting
from .dau import BEYOND
from .claims import UNTESTABLE, Claim, Outcome

NOTEBOOK = "04_careful_evaluation"
PAPER = "careful"
TITLE = "Beyond the papers: per-example attacks on every method (Hayes et al. 2024; the NeurIPS 2023 competition)"

PRIVATE_MARGIN = 0.05  # |AUC - 0.5| within this of retrained models' is private (and a sane sanity check)
SANITY_PARTLY = 0.1  # retrained models this far from chance: the sanity check holds only partly
STRONGER_BY = 0.02  # per-example |AUC - 0.5| above population's by this is "clearly stronger"
F_BELOW_FLOOR = 0.1  # forgetting quality this far below retrained models' tells a method's models apart


@dataclass(frozen=True)
class CarefulEvalConfig(MethodsRun):
    """Notebook 04: the methods of notebooks 01 and 02 on random forgetting, scored by population and per-example
    attacks over shadows trained and unlearned by the pipeline (`unlearnlib.unlearned_shadows`, `careful`)."""

    methods: tuple[str, ...] = ("retrain", "finetune", "grad_ascent", "fisher", "influence", "random_label",
                                "amnesiac", "dau")
    # random label and amnesiac: one repair epoch (Graves et al.: one epoch removes membership)
    method_overrides: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"random_label": {"epochs": 1}, "amnesiac": {"epochs": 1}})
    pool_size: int | None = None  # training samples the shadows draw from (None: the whole training part)
    n_targets: int = 400  # target examples: each shadow trains on and then forgets a random half of them
    n_val: int = 100  # validation samples, never trained on (the methods' known non-members)
    n_population: int = 300  # test samples: RMIA's population and the SVC attack's non-members
    n_shadows: int = 24  # shadow models (each: an original, then every method)
    n_ref: int = 4  # RMIA's reference models (retrained, from other shadows)
    rmia_a: float = 0.3  # RMIA's offline a (ml_privacy_meter's default)
    global_variance: bool = True  # U-LiRA: one pooled variance per side (Carlini et al.'s advice below ~64 shadows)
    ray_address: str | None = None  # a Ray cluster for the shadow jobs; None: RAY_ADDRESS, else in-process
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        if "retrain" not in self.methods:
            raise ConfigError("methods must include 'retrain': the reference of RMIA, the forgetting score and the "
                              "sanity check")
        if self.n_shadows < 3 or not 1 <= self.n_ref < self.n_shadows:
            raise ConfigError(f"need n_shadows >= 3 and 1 <= n_ref < n_shadows, got {self.n_shadows} and {self.n_ref}")


PROFILES = {
    # the 2023-2024 baselines (BEYOND) beside the papers' methods at every profile (cpu: rerun with them, issue 40)
    "smoke": from_setting("smoke", CarefulEvalConfig, methods=("retrain", "finetune", "grad_ascent", "amnesiac", "dau",
                                                              *BEYOND),
                          pool_size=600, n_targets=80, n_val=40, n_population=100, n_shadows=4, n_ref=2),
    # digits with notebook 02's quick MLP; the whole training part as the pool; 12 shadows
    "quick": from_setting("quick", CarefulEvalConfig, model="mlp", n_targets=400, n_val=100, n_population=300,
                          n_shadows=12, methods=(*CarefulEvalConfig.methods, *BEYOND)),
    # CIFAR-10, small_cnn in bf16: a 5,000-sample pool, 8 shadows (an hour on 2 cores)
    "cpu": from_setting("cpu", CarefulEvalConfig, pool_size=5000, n_targets=1000, n_val=500, n_population=1000,
                        n_shadows=8, methods=(*CarefulEvalConfig.methods, *BEYOND)),
    "paper": from_setting("paper", CarefulEvalConfig, pool_size=None, n_targets=5000, n_val=5000, n_population=5000,
                          n_shadows=64, n_ref=8, global_variance=False, methods=(*CarefulEvalConfig.methods, *BEYOND)),
}


def attacks(r) -> pd.DataFrame | None:
    """Notebook 04's attacks_all table indexed by model, or None."""
    t = r.table("attacks_all")
    return None if t is None else t.set_index("model")


def distances(t: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per model (t indexed by model), each kind's strength: the larger |AUC - 0.5| of its two attacks (population:
    threshold and SVC; per-example: U-LiRA and RMIA); an AUC below 0.5 separates too."""
    d = (t[["threshold_auc", "svc_auc", "ulira_auc", "rmia_auc"]] - 0.5).abs()
    return d[["threshold_auc", "svc_auc"]].max(axis=1), d[["ulira_auc", "rmia_auc"]].max(axis=1)


def findings(summary: pd.DataFrame) -> pd.DataFrame:
    """Per method (not the original, not retrain): each attack kind's distance from chance, MIA-Efficacy, forgetting
    quality, and whether each kind finds it private: no further from chance than retrained models are (their
    distance is the run's noise) plus PRIVATE_MARGIN. `summary`: notebook 04's attacks_all table."""
    s = summary.set_index("model")
    population, per_example = distances(s)
    methods_only = [n for n in s.index if n not in ("original", "retrain")]
    f = pd.DataFrame({"method": methods_only, "population_auc_distance": population[methods_only].to_numpy(),
                      "per_example_auc_distance": per_example[methods_only].to_numpy(),
                      "mia_efficacy_pct": s.loc[methods_only, "mia_efficacy_pct"].to_numpy(),
                      "forgetting_quality": s.loc[methods_only, "forgetting_quality"].to_numpy()})
    f["looks_private_to_population"] = f.population_auc_distance <= population["retrain"] + PRIVATE_MARGIN
    f["private_to_per_example"] = f.per_example_auc_distance <= per_example["retrain"] + PRIVATE_MARGIN
    return f


def powerless(t: pd.DataFrame) -> bool:
    """No membership signal in the original (t: attacks_all indexed by model): its per-example distance from chance
    within PRIVATE_MARGIN of retrained models'. "Private" after unlearning then tests nothing."""
    _, per = distances(t)
    return "original" in per.index and per["original"] <= per["retrain"] + PRIVATE_MARGIN


def method_verdict(m, no_signal: bool) -> str:
    """A findings row's verdict in words: does the method's privacy survive the per-example attacks?"""
    if no_signal and m.private_to_per_example:
        return "untested: the original is as private as this (no membership signal to remove)"
    if m.looks_private_to_population and not m.private_to_per_example:
        if no_signal:  # nothing of membership to leave behind: the per-example attacks see the unlearning itself
            return "the per-example attacks detect the unlearning itself (the original leaks no membership to them)"
        return "**false sense of privacy**: private to the population attacks, not to the per-example ones"
    if m.private_to_per_example:
        return "survives the per-example attacks" + ("" if m.looks_private_to_population else
                                                     " (though a population attack sees it)")
    return "not private to either kind"


def careful_sanity(r) -> Outcome | None:
    t = attacks(r)
    if t is None or "retrain" not in t.index:
        return None
    re = t.loc["retrain"]
    worst = max(abs(re.ulira_auc - 0.5), abs(re.rmia_auc - 0.5), abs(re.threshold_auc - 0.5), abs(re.svc_auc - 0.5))
    verdict = "reproduced" if worst <= PRIVATE_MARGIN else "partly" if worst <= SANITY_PARTLY else "not reproduced"
    return Outcome(f"retrained models: U-LiRA AUC {re.ulira_auc:.3f}, RMIA {re.rmia_auc:.3f}, threshold {re.threshold_auc:.3f}, "
                   f"SVC {re.svc_auc:.3f}; forgetting quality {re.forgetting_quality:.3f} (noise floor, {int(re.n_shadows)} "
                   f"shadows)", verdict, r.where("attacks_all"))


def _no_signal(t: pd.DataFrame) -> str:
    _, per = distances(t)
    return (f"; untestable: the per-example attacks find no membership in the original (|AUC - 0.5| "
            f"{per['original']:.3f}, within {PRIVATE_MARGIN} of retrained models' {per['retrain']:.3f}; needs more)")


def careful_stronger(r) -> Outcome | None:
    t = attacks(r)
    if t is None or "original" not in t.index:
        return None
    pop, per = distances(t)
    methods = [m for m in t.index if m not in ("original", "retrain")]
    noise = per.get("retrain", 0.0) + PRIVATE_MARGIN  # retrained models' distance from chance is this run's noise

    def clearly_stronger(m):
        return per[m] > pop[m] + STRONGER_BY and per[m] > noise

    stronger = [m for m in methods if clearly_stronger(m)]
    on_original = clearly_stronger("original")
    verdict = ("reproduced" if on_original and len(stronger) * 2 >= len(methods) else
               "partly" if on_original or stronger else "not reproduced")
    value = (f"|AUC - 0.5|, population vs per-example: original {pop['original']:.3f} vs {per['original']:.3f}; "
             + ", ".join(f"{m} {pop[m]:.3f} vs {per[m]:.3f}" for m in methods)
             + f"; clearly stronger (by {STRONGER_BY}, and beyond retrained models' {noise - PRIVATE_MARGIN:.3f} + {PRIVATE_MARGIN}) on "
             "the original: "
             f"{'yes' if on_original else 'no'}, on {len(stronger)} of {len(methods)} methods")
    if "retrain" in t.index and powerless(t):
        return Outcome(value + _no_signal(t), UNTESTABLE, r.where("attacks_all"))
    return Outcome(value, verdict, r.where("attacks_all"))


def careful_false_privacy(r) -> Outcome | None:
    """Some method looks private to the population attacks but not to the per-example ones, where the original did not
    look private to the population attacks (so the look is the method's doing: an untouched model earns nothing)."""
    f, t = r.table("findings"), attacks(r)
    if f is None or t is None:
        return None
    fooled = f[f.looks_private_to_population & ~f.private_to_per_example].method.tolist()
    private = f[f.private_to_per_example].method.tolist()
    parts = [f"{m.method}: |AUC - 0.5| population {m.population_auc_distance:.3f} / per-example "
             f"{m.per_example_auc_distance:.3f} / F {m.forgetting_quality:.3f}" for m in f.itertuples()]
    value = (f"look private to the population attack but not to per-example ones: {fooled or 'none'}; private to "
             f"both (within {PRIVATE_MARGIN} of retrained models' distance from chance): {private or 'none'}. " + "; ".join(parts))
    if powerless(t):
        return Outcome(value + _no_signal(t), UNTESTABLE, r.where("findings"))
    pop, _ = distances(t)
    if pop["original"] <= pop["retrain"] + PRIVATE_MARGIN:
        return Outcome(value + f"; untestable: the original already looks private to the population attacks (|AUC - 0.5| "
                       f"{pop['original']:.3f}, within {PRIVATE_MARGIN} of retrained models' {pop['retrain']:.3f}), so no "
                       "method's look of privacy is its own doing", UNTESTABLE, r.where("findings"))
    return Outcome(value, "reproduced" if fooled else "not reproduced", r.where("findings"))


def signal(r) -> str | None:
    """The per-example attacks' strength on the original against retrained models' (the privacy claims'
    precondition), in words."""
    t = attacks(r)
    if t is None or not {"original", "retrain"} <= set(t.index):
        return None
    _, per = distances(t)
    return (f"per-example |AUC - 0.5| on the original {per['original']:.3f}, on retrained models {per['retrain']:.3f} "
            f"(needs a gap above {PRIVATE_MARGIN}: {'absent' if powerless(t) else 'present'})")


def claims() -> list[Claim]:
    return [
        Claim("careful", "Sanity check: retrained models score at chance under every attack", "AUC 0.5 by construction",
              careful_sanity, null_exempt="a claim about retrained models, the reference, not a method"),
        Claim("careful", "Per-example attacks (U-LiRA, RMIA) are stronger than population attacks, on the original and on "
              "most unlearned models", "Hayes et al. 2024",
              careful_stronger, null_exempt="a claim about the attacks' strength, whatever the models"),
        Claim("careful", "Some methods that look private to a population attack are not private to per-example attacks",
              "Hayes et al. 2024: inexact methods give a false sense of privacy", careful_false_privacy),
    ]
