"""Notebook 03, Machine Unlearning in Contrastive Learning (Wang & Chen, 2024): its config, profiles and claims.

Why each profile's sizes and recipes (measured): results/<profile>/NOTES.md and results/cpu/03_sweeps.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import pandas as pd

from ..config import ConfigError
from ..published import published
from ..setting import choices
from ..ssl import SSL_METHODS, SSL_OUTPUTS, Augment
from ..train import TrainConfig
from .base import MethodsRun, from_setting, retrain_config
from .claims import UNTESTABLE, Claim, Outcome, fmt, ms, published_rows, seeds_of

NOTEBOOK = "03_contrastive_unlearning"
PAPER = "contrastive"
TITLE = "Machine Unlearning in Contrastive Learning (Wang & Chen, 2024)"

SIGNAL_PCT = 55  # EncoderMI accuracy (%) before unlearning below which an encoder carries no membership signal
# "well above chance" before unlearning, as the paper shows it: its lowest EncoderMI accuracy before unlearning
# (Table III, unlearnlib/published/contrastive.csv)
SIGNAL_CLAIM_PCT = float(published("contrastive").query("table == 'Table III' and quantity == 'mia_acc_pct' and "
                                                        "when == 'before'").value.min())
CHANCE_PTS = 3  # EncoderMI within this many points of 50 % is at chance
UTILITY_PTS = 10  # accuracy points an unlearning may cost
TOP1_GAP = 0.03  # member minus non-member top-1 confidence at which the two have met (Table VII)


# Table VII's supervised training recipes (ContrastiveConfig.sup_recipe)
SUP_RECIPES = {"adam": dict(optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant"),
               "onecycle": dict(optimizer="sgd", lr=0.15, momentum=0.9, nesterov=True, weight_decay=5e-4,
                                schedule="onecycle", warmup=0.2)}


# notebook 03's parts (ContrastiveConfig.parts): headline, Tables II-III (every SSL method) and VII (the supervised
# model); ablation, Tables IV-V; amounts, Table VI; retrained, the base encoder retrained without the forget set;
# figures, the distributions, 3-D scatter and t-SNE of the base encoder before and after
CONTRASTIVE_PARTS = ("headline", "ablation", "amounts", "retrained", "figures")


@dataclass(frozen=True)
class ContrastiveConfig(MethodsRun):
    """Notebook 03: gradient-penalty unlearning of SSL encoders and a supervised model (Tables II-VII)."""

    # which tables run, and on which encoder the tables of one run start (their rows name it: an ssl column): not
    # what a stored row holds
    TABLE_FIELDS: ClassVar[tuple[str, ...]] = ("headline_only", "parts", "base_ssl")
    # which rows a run makes, not what a row holds: Tables II-III's rows are keyed by (seed, SSL method), so calls of
    # one SSL method each (-p SSL_METHODS '["moco"]', then '["simclr"]', ...: the paper profile's plan, one encoder
    # per GPU call) fill one table, as notebook 02's calls of one scheme do
    ROW_FIELDS: ClassVar[dict[str, str]] = {"ssl_methods": "ssl"}

    ssl_methods: tuple[str, ...] = ("moco", "simclr", "byol")  # Tables II-III's encoders
    # the encoder the other tables (ablation, amounts, retrained, figures) start from; a run that makes one of them
    # must train it (in ssl_methods), so that a call of another encoder (-p SSL_METHODS '["byol"]') cannot rebuild
    # them on that one by accident (-p BASE_SSL byol, to build them on it)
    base_ssl: str = "moco"
    n_members: int = 700  # training samples (members; paper 10,000)
    n_nonmembers: int = 360  # test samples (non-members; paper 10,000)
    n_val: int = 200  # held-out training samples: the attacker's known non-members
    n_forget: int | None = None  # samples forgotten; None: a fifth of the members (paper 2,000 of 10,000)
    ssl_epochs: int = 500  # SSL training epochs (paper 1,600)
    ssl_lr: float = 1e-3  # Adam learning rate (paper 0.01)
    ssl_batch: int = 128
    ssl_queue: int | None = None  # MoCo's queue of negatives; None: 4 batches, at most 4,096
    # the SSL model output EncoderMI attacks and the gradient penalty unlearns (ssl.SSL_OUTPUTS): "encoder", the
    # backbone's features, or "projector", the projector's output on them (the space the SSL loss compares views in;
    # common SimCLR code counts the projection head in the encoder). kNN and linear accuracy read the features
    output: str = "encoder"
    linear_epochs: int = 30  # linear evaluation epochs
    amounts: tuple[int, ...] = (70, 140, 350, 700)  # Table VI forget sizes
    sup_epochs: int = 30  # supervised model (Table VII) epochs
    # its recipe (SUP_RECIPES): "adam", Adam 1e-3 at a constant rate as the encoders; "onecycle", the cpu original's
    # one-cycle SGD, which ends at a rate of zero (Adam's constant rate left small_cnn's members at 47-100 % from one
    # ten epochs to the next: results/cpu/03_sweeps/README.md)
    sup_recipe: str = "adam"
    # the unlearning: gradient_penalty at its preset (methods/gradient_penalty.py: the paper's 10 epochs, weights 1 /
    # 1 / 0.1, Adam at 1e-3), changed with OVERRIDES {"gradient_penalty.lr": 2e-3} or -p GRADIENT_PENALTY.LR 2e-3
    methods: tuple[str, ...] = ("gradient_penalty",)
    views: int = 10  # EncoderMI augmented views per image
    augment: Augment | None = None  # SSL views; None: ssl.default_augment(dataset) (mild for digits and MNIST)
    # True: only the headline tables (II-III, VII), e.g. another seed's rows (-p SEED 1 -p HEADLINE_ONLY True); the
    # view shows the other tables and figures of the first seed stored (every table is drawn from the row store)
    headline_only: bool = False
    # the parts of the notebook a run makes, from CONTRASTIVE_PARTS; None: every part (only "headline" with
    # headline_only). A run without "headline" trains only the base encoder (base_ssl) and its Tables II-III
    # unlearning, which the other parts start from, so that one seed's other tables may be split over invocations
    # (-p PARTS '["ablation"]', then '["amounts", "retrained", "figures"]'), each storing its rows
    parts: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        choices("methods", self.methods, ("gradient_penalty",))
        choices("ssl_methods", self.ssl_methods, SSL_METHODS)
        choices("sup_recipe", (self.sup_recipe,), tuple(SUP_RECIPES))
        choices("output", (self.output,), SSL_OUTPUTS)
        asked = self.method_overrides.get("gradient_penalty", {}).get("output", self.output)
        if asked != self.output:
            raise ConfigError(f"gradient_penalty.output={asked!r} but the notebook's output={self.output!r}: the "
                              "unlearning acts on the output the attack reads; set OUTPUT alone")
        choices("base_ssl", (self.base_ssl,), SSL_METHODS)
        if self.parts is not None:
            choices("parts", tuple(self.parts), CONTRASTIVE_PARTS)
            if self.headline_only and set(self.parts) != {"headline"}:
                raise ConfigError(f"headline_only=True runs only the headline tables, but parts={list(self.parts)}: "
                                  "pass one of them (e.g. -p PARTS '[\"headline\"]' without HEADLINE_ONLY)")
        others = sorted(self.run_parts() - {"headline"})
        if others and self.base_ssl not in self.ssl_methods:
            only = ("-p PARTS '[\"headline\"]'" if self.parts is not None else "-p HEADLINE_ONLY True")
            raise ConfigError(
                f"parts {others} start from the base encoder {self.base_ssl!r} (base_ssl), which this run does not "
                f"train (ssl_methods={list(self.ssl_methods)}): pass {only} for this run's Tables II-III and VII "
                f"only, add {self.base_ssl!r} to SSL_METHODS, or -p BASE_SSL {self.ssl_methods[0]} to build those "
                "tables on that encoder")

    def run_parts(self) -> frozenset[str]:
        """The parts this run makes: `parts`, else every part, or only "headline" when headline_only."""
        if self.parts is not None:
            return frozenset(self.parts)
        return frozenset({"headline"} if self.headline_only else CONTRASTIVE_PARTS)

    def unlearning_config(self, n_forget: int):
        """The gradient-penalty config of this notebook: its preset and overrides, the run's seed, and batches of a
        quarter of the forget set (at most 256) unless a batch size is given."""
        cfg = replace(self.method_config("gradient_penalty"), seed=self.seed, output=self.output)
        if "batch_size" not in self.method_overrides.get("gradient_penalty", {}):
            cfg = replace(cfg, batch_size=min(256, max(2, n_forget // 4)))
        return cfg

    def runs(self) -> tuple[str, ...]:
        """The registered methods this notebook runs: `methods` (gradient_penalty) and retrain, Table VII's reference."""
        return (*self.methods, "retrain")

    def supervised_retrain_config(self):
        """Table VII's retrained reference: retrain with the supervised model's schedule (`supervised_train`), then the
        user's overrides of retrain."""
        return retrain_config(self, self.supervised_train())

    def supervised_unlearning_config(self, n_forget: int):
        """Table VII's unlearning: `unlearning_config`, acting on the classifier's logits (its only output)."""
        return replace(self.unlearning_config(n_forget), output="encoder")

    def ssl_queue_size(self) -> int:
        return self.ssl_queue or min(4096, 4 * self.ssl_batch)

    def supervised_train(self) -> TrainConfig:
        """Table VII's supervised model: `sup_epochs` epochs of `sup_recipe` on the members, batch `ssl_batch`, no
        augmentation (it should fit its members, as the paper's does), the profile's CPU bf16 setting."""
        return TrainConfig(epochs=self.sup_epochs, batch_size=self.ssl_batch, augment=False,
                           cpu_bf16=self.train.cpu_bf16, seed=self.seed, **SUP_RECIPES[self.sup_recipe])
 

PROFILES = {
    "smoke": from_setting("smoke", ContrastiveConfig, n_members=300, n_nonmembers=200, n_val=100, ssl_epochs=5,
                          linear_epochs=5, amounts=(30, 60), sup_epochs=3),
    "quick": from_setting("quick", ContrastiveConfig, model="mlp"),
    # encoders that memorise at a CPU budget (issue 36; results/cpu/03_sweeps/README.md, "The projector's output carries
    # the signal"): 250 members (a fifth forgotten), as many held-out training images for the attacker, MoCo's queue
    # half the members, 600 epochs of Adam 1e-3 in bf16, attacked and unlearned at the projector's output, where
    # EncoderMI-T read 82 % on MoCo's original (the backbone: chance). The paper's sizes (10,000 members, 30 epochs:
    # no signal) stay as evidence in results/cpu/03_sweeps. Table VII's supervised model on the one-cycle recipe
    "cpu": from_setting("cpu", ContrastiveConfig, n_members=250, n_nonmembers=10000, n_val=250, ssl_epochs=600,
                        ssl_lr=1e-3, ssl_batch=125, ssl_queue=125, output="projector", linear_epochs=30,
                        amounts=(25, 50, 125, 250), sup_epochs=40, sup_recipe="onecycle"),
    "paper": from_setting("paper", ContrastiveConfig, n_members=10000, n_nonmembers=10000, n_val=2000, ssl_epochs=400,
                          ssl_batch=512, linear_epochs=100, amounts=(1000, 2000, 4000, 6000, 8000, 10000),
                          sup_epochs=100),
}


def _ssl_rows(r) -> pd.DataFrame | None:
    return r.seed_rows("table2_3_ssl_methods")


def _silent(t: pd.DataFrame) -> list[str]:
    """The SSL methods whose encoders the attack could not read before unlearning (mean EncoderMI < SIGNAL_PCT)."""
    before = t[t.model == "before"].groupby("ssl", sort=False).mia_acc_pct.mean()
    return [s for s, m in before.items() if m < SIGNAL_PCT]


def contrastive_before(r) -> Outcome | None:
    t = _ssl_rows(r)
    if t is None:
        return None
    b = t[t.model == "before"]
    means = b.groupby("ssl", sort=False).mia_acc_pct
    ok = [m >= SIGNAL_CLAIM_PCT for m in means.mean()]
    parts = [f"{s} {ms(g)}" for s, g in means]
    verdict = "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"
    return Outcome("EncoderMI accuracy before: " + ", ".join(parts) + f" ({seeds_of(b)})", verdict,
                   r.where("table2_3_ssl_methods_seeds"))


def contrastive_after(r) -> Outcome | None:
    t = _ssl_rows(r)
    if t is None:
        return None
    parts, ok, silent = [], [], _silent(t)
    for s, g in t.groupby("ssl", sort=False):
        b, a = g[g.model == "before"].set_index("seed"), g[g.model == "after"].set_index("seed")
        loss = (b.knn_acc_pct - a.knn_acc_pct).dropna()
        # an encoder the attack could not read before shows nothing by being at chance after: its "near 50" does not count
        near = s not in silent and abs(a.mia_acc_pct.mean() - 50) <= CHANCE_PTS
        ok.append((near, loss.mean() <= UTILITY_PTS))
        parts.append(f"{s}: MIA {ms(b.mia_acc_pct)} -> {ms(a.mia_acc_pct)}, kNN accuracy lost {ms(loss)} points")
    # keeping accuracy is no achievement without the attack's defeat (the original keeps it): partly needs one method
    # at chance; a method without signal before cannot show it, and one untested method leaves the claim "for each
    # SSL method" at most partly
    verdict = ("reproduced" if not silent and all(a and b for a, b in ok) else "partly" if any(a for a, _ in ok)
               else "not reproduced")
    note = (f"; no membership signal before unlearning on {', '.join(silent)} (EncoderMI < {SIGNAL_PCT} %; needs at "
            f"least {SIGNAL_PCT} %), so being at chance after shows nothing there" if silent else "")
    if silent and len(silent) == len(ok):
        verdict = UNTESTABLE  # nothing was there to remove
    return Outcome("; ".join(parts) + f" ({seeds_of(t)})" + note, verdict, r.where("table2_3_ssl_methods_seeds"))


def contrastive_supervised(r) -> Outcome | None:
    t = r.seed_rows("table7_supervised")
    if t is None:
        return None
    w = t.pivot_table(index="seed", columns="method", values=["member_top1", "nonmember_top1", "ta_pct",
                                                               "mia_efficacy_pct"])
    gap_b = w["member_top1"]["before"] - w["nonmember_top1"]["before"]
    gap_a = w["member_top1"]["after"] - w["nonmember_top1"]["after"]
    loss = w["ta_pct"]["before"] - w["ta_pct"]["after"]
    gb, ga, lo = gap_b.mean(), gap_a.mean(), loss.mean()
    verdict = ("reproduced" if abs(ga) <= TOP1_GAP and lo <= UTILITY_PTS else
               "partly" if abs(ga) < abs(gb) else "not reproduced")
    note = ""
    if gb <= TOP1_GAP:  # members and non-members already meet on the original: nothing to close
        verdict = UNTESTABLE
        note = (f"; untestable: the original's member and non-member top-1 already differ by at most {TOP1_GAP} "
                f"(needs more)")
    return Outcome(f"top-1 member - non-member {ms(gap_b, 3)} -> {ms(gap_a, 3)}; test accuracy "
                   f"{ms(w['ta_pct']['before'])} -> {ms(w['ta_pct']['after'])} %; MIA-Efficacy "
                   f"{ms(w['mia_efficacy_pct']['before'])} -> {ms(w['mia_efficacy_pct']['after'])} ({seeds_of(t)}){note}",
                   verdict, r.where("table7_supervised"))


def _ablation(r):
    """Table IV of the last run, indexed by (mnorm, gp, mloss), or None."""
    t = r.table("table4_ablation_full")
    return None if t is None else t.set_index(["mnorm", "gp", "mloss"])


def contrastive_ablation_attack(r) -> Outcome | None:
    """Table IV's attack columns: every combination with GP leaves EncoderMI at chance, MNorm + MLoss without GP
    does not (the paper: 94 %)."""
    t = _ablation(r)
    if t is None:
        return None
    dist = (t.after_mia_acc_pct - 50).abs()
    gp_on = t.index.get_level_values("gp") == 1
    with_gp = dist[gp_on]
    no_gp = dist.get((1, 0, 1))
    checks = [len(with_gp) > 0 and bool((with_gp <= CHANCE_PTS).all()),  # GP, with any other term, disables the attack
              no_gp is not None and no_gp > CHANCE_PTS]  # without GP (MNorm + MLoss) the attack still works
    # the attack still working without GP is what an untouched encoder shows too: partly needs the GP part
    verdict = "reproduced" if all(checks) else "partly" if checks[0] else "not reproduced"
    before = float(t.before_mia_acc_pct.iloc[0]) if "before_mia_acc_pct" in t else None
    note = ""
    if before is not None and before < SIGNAL_PCT:
        verdict = UNTESTABLE
        note = (f"; untestable: no membership signal before unlearning (EncoderMI {before:.2f} %, needs at least "
                f"{SIGNAL_PCT} %), so no term can show an effect on it")
    gp_rows = ", ".join(f"{_terms(k)} {v:.2f}" for k, v in t.after_mia_acc_pct[gp_on].items())
    return Outcome(f"EncoderMI after, with GP: {gp_rows}; without GP, MNorm + MLoss {fmt(t.after_mia_acc_pct.get((1, 0, 1)))}"
                   f" (before {fmt(before)}; one seed, the first stored){note}", verdict, r.where("table4_ablation_full"))


def contrastive_ablation_utility(r) -> Outcome | None:
    """Table IV's accuracy columns: the member loss keeps accuracy (GP + MLoss above GP, all three above MNorm + GP)
    and MNorm alone loses the most (the paper: 10 %, a collapse). Needs no membership signal."""
    t = _ablation(r)
    if t is None:
        return None
    acc = t.after_knn_acc_pct
    g = acc.get
    checks = [None not in (g((0, 1, 1)), g((0, 1, 0))) and g((0, 1, 1)) > g((0, 1, 0)),
              None not in (g((1, 1, 1)), g((1, 1, 0))) and g((1, 1, 1)) > g((1, 1, 0)),
              g((1, 0, 0)) is not None and g((1, 0, 0)) < acc.drop(index=(1, 0, 0)).min()]  # strictly the lowest
    verdict = "reproduced" if all(checks) else "partly" if any(checks) else "not reproduced"
    before = float(t.before_knn_acc_pct.iloc[0]) if "before_knn_acc_pct" in t else None
    return Outcome(f"kNN accuracy after (before {fmt(before)}): GP {fmt(g((0, 1, 0)))} -> GP + MLoss {fmt(g((0, 1, 1)))}; "
                   f"MNorm + GP {fmt(g((1, 1, 0)))} -> all three {fmt(g((1, 1, 1)))}; MNorm alone {fmt(g((1, 0, 0)))}, "
                   f"the lowest of {len(acc)} combinations: {'yes' if checks[2] else 'no'} (one seed, the first stored)",
                   verdict, r.where("table4_ablation_full"))


ABLATION_TERMS = {"mnorm": "MNorm", "gp": "GP", "mloss": "MLoss"}  # Table IV's columns, in order, and their names


def _terms(key) -> str:
    """(mnorm, gp, mloss) flags as 'MNorm + MLoss'."""
    return " + ".join(n for n, on in zip(ABLATION_TERMS.values(), key) if on)


def contrastive_refit(r) -> Outcome | None:
    """Beyond the paper: the unlearning hides membership from the attacker fitted on the original (EncoderMI within
    CHANCE_PTS of 50 %) while an attacker refitted on the unlearned encoder still separates forgotten from unseen
    samples (at least SIGNAL_PCT): the signal hidden, not removed. An untouched encoder hides nothing."""
    t = _ssl_rows(r)
    if t is None:
        return None
    a = t[t.model == "after (attack refitted)"]
    if a.empty:
        return None
    silent = _silent(t)
    parts, found = [], []
    for s, g in t.groupby("ssl", sort=False):
        fixed = g[g.model == "after"].mia_acc_pct.mean()
        refit = g[g.model == "after (attack refitted)"].mia_acc_pct
        if s not in silent:
            found.append(abs(fixed - 50) <= CHANCE_PTS and refit.mean() >= SIGNAL_PCT)
        parts.append(f"{s} {ms(refit)} (the original's attacker: {fmt(fixed)})")
    verdict = "reproduced" if found and not silent and all(found) else "partly" if any(found) else "not reproduced"
    note = ""
    if len(silent) == t[t.model == "before"].ssl.nunique():
        verdict = UNTESTABLE
        note = (f"; untestable: no membership signal before unlearning on any encoder (EncoderMI < {SIGNAL_PCT} %): "
                "nothing to hide or find")
    return Outcome("refitted EncoderMI accuracy after unlearning: " + ", ".join(parts) + f" ({seeds_of(a)}); reproduced "
                   f"= hidden from the original's attacker (within {CHANCE_PTS} points of 50 %) yet found by a refitted "
                   f"one (>= {SIGNAL_PCT} %){note}", verdict, r.where("table2_3_ssl_methods_seeds"))


def _published_contrastive(quantity: str, when: str) -> str:
    p = published_rows("contrastive", table="Table III", quantity=quantity, when=when)
    return ", ".join(f"{m} {v:g}" for m, v in zip(p.model, p.value))


def _published_ablation(quantity: str) -> str:
    p = published_rows("contrastive", table="Table IV", quantity=quantity)
    before = p[p.when == "before"].value
    after = p[p.when == "after"]
    return (f"Table IV ({'ACC' if quantity == 'acc_pct' else 'MIA'}, MoCo CIFAR-10): before {before.iloc[0]:g}; after "
            + ", ".join(f"{' + '.join(ABLATION_TERMS[x] for x in k.split('+'))} {v:g}" for k, v in zip(after.terms, after.value)))


def signal(r) -> str | None:
    """EncoderMI accuracy on each encoder before unlearning (the attack claims' precondition), in words."""
    t = _ssl_rows(r)
    if t is None:
        return None
    b = t[t.model == "before"].groupby("ssl", sort=False).mia_acc_pct
    read = sorted(set(t.output.dropna())) if "output" in t else []  # rows of older runs: the encoder's features
    at = f" at the {' and '.join(read)} output" if read and read != ["encoder"] else ""
    return (f"EncoderMI accuracy{at} before unlearning {', '.join(f'{s} {ms(g, 1)}' for s, g in b)} % "
            f"(needs >= {SIGNAL_PCT}: {'absent for ' + ', '.join(_silent(t)) if _silent(t) else 'present'}; "
            f"{seeds_of(t[t.model == 'before'])})")


def claims() -> list[Claim]:
    return [
        Claim("contrastive", f"EncoderMI is well above chance (>= {SIGNAL_CLAIM_PCT:g} %, the paper's lowest) on the SSL encoders before unlearning",
              "Table III: " + _published_contrastive("mia_acc_pct", "before"), contrastive_before,
              "the paper trains 1,600 epochs to overfit; its EncoderMI variant is described in words only",
              sweeps="03_sweeps", null_exempt="a claim about the original encoders' signal, the precondition of the others"),
        Claim("contrastive", f"After gradient-penalty unlearning EncoderMI is within {CHANCE_PTS} points of 50 % with at most {UTILITY_PTS} points "
              "of accuracy lost, for each SSL method", "Table III: " + _published_contrastive("mia_acc_pct", "after"),
              contrastive_after),
        Claim("contrastive", "The supervised model's member and non-member top-1 confidences meet after unlearning, at "
              "little cost in test accuracy (Table VII)", "Table VII (CIFAR-10 ResNet-18)", contrastive_supervised),
        Claim("contrastive", "Ablation (Table IV): the gradient penalty is what disables the attack: every combination "
              f"with GP leaves EncoderMI within {CHANCE_PTS} points of 50 %, MNorm + MLoss without it does not",
              _published_ablation("mia_acc_pct"), contrastive_ablation_attack),
        Claim("contrastive", "Ablation (Table IV): the member loss keeps accuracy (GP + MLoss above GP alone, all three "
              "above MNorm + GP) and MNorm alone loses the most", _published_ablation("acc_pct"),
              contrastive_ablation_utility),
        Claim("contrastive", "Beyond the paper: unlearning hides membership from the original's attacker, yet an attacker "
              "refitted on the unlearned encoder still separates forgotten from unseen samples", "not examined by the paper", contrastive_refit),
    ]
