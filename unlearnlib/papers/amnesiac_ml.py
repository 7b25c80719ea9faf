"""Notebook 01, Amnesiac Machine Learning (Graves, Nagisetty & Ganesh, AAAI 2021): its config, profiles and claims.

The schedule is Graves et al.'s (lmgraves/AmnesiacML notebooks): Adam at lr 1e-3, batch 64, no weight decay, no
schedule, no augmentation, 10 epochs. Why each profile's sizes: results/<profile>/NOTES.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pandas as pd

from ..config import ConfigError
from ..setting import Setting
from ..train import TrainConfig
from .base import check_method_overrides, from_setting, overrides_of, retrain_config
from .claims import UNTESTABLE, Claim, Outcome, fmt, ms, published_rows, seeds_of

NOTEBOOK = "01_amnesiac_unlearning"
PAPER = "amnesiac_ml"
TITLE = "Amnesiac Machine Learning (Graves, Nagisetty & Ganesh, AAAI 2021)"
CHANCE_AUC = 0.6  # the shadow attack's AUC on the original at or below which it finds no membership (untestable)
RECALL_HIGH, RECALL_LOW = 0.8, 0.1  # Table 1's "near 1" and "near 0" membership recall
RECALL_STILL = 0.5  # naive retraining still exposes the class: recall at least this after the last epoch shown
FORGOT_SHARE = 0.5  # the class counts as forgotten when its accuracy falls to at most this share of the original's
CLOSE_ACC_PTS = 3  # test accuracy (other classes) within this many points of the original's
JUDGE_RECOGNISES = 0.5  # the judge's probability of the class for the original's inversion, at least (else untestable)
INVERSION_DROP = 0.5  # the inversion stops resembling the class: the judge's probability falls to at most this share

# Graves et al.'s training schedule; the run's seed is applied at run time from the config's `seed`
AMNESIAC_TRAIN = TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant",
                             augment=False)


@dataclass(frozen=True)
class AmnesiacMLConfig(Setting):
    """Notebook 01: naive retraining, random-label and amnesiac unlearning of a class and of individual samples,
    followed epoch by epoch; shadow-model MIA (Table 1), model inversion, test accuracy against the share of batches
    removed."""

    # fields that do not act on Table 1's recalls: which tables a run makes, and what its tables of one run hold (the
    # inversions and their judge, the batches-removed curve's requests: keyed by TABLE_KEYS). Checked: the smoke
    # profile's Table 1 is the same to the digit with other inversion steps and variant, no judge, other requests
    # (whose recording retrains the original: its cache key holds them)
    TABLE_FIELDS: ClassVar[tuple[str, ...]] = ("headline_only", "judge", "inversion", "inversion_steps", "request_sizes",
                                               "repeats")
    # the table fields that key a table of one run's stored rows (the figures' rows; unlearnlib.store._skipped): its
    # inversions by their settings and judge, the record's cost and the batches-removed curve by their requests
    TABLE_KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "accuracy_over_epochs": ("judge", "inversion", "inversion_steps"),
        "inversion_grid": ("inversion", "inversion_steps"),
        "inversion_variants": ("inversion_steps",),
        "amnesiac_record_cost": ("request_sizes", "repeats"),
        "batches_removed": ("request_sizes", "repeats")}

    train: TrainConfig = AMNESIAC_TRAIN  # the original's schedule (also the shadows' and retrain's)
    target_class: int | None = None  # class forgotten; None: the paper's, CIFAR-100 class 81, else 3 (their MNIST digit)
    # the class-wise request (data.keep_of_class): None, the whole class (every training sample of it, forgotten);
    # a count, that many of the class's training samples stay in training and are forgotten, the rest leave the
    # training data (their MNIST notebook keeps 100 threes); a share in (0, 1), the class is that share of the
    # training data (their CIFAR-100 notebooks: a class is 1 %)
    class_keep: int | float | None = None
    n_forget_samples: int = 16  # individual training samples forgotten (the sample scheme; this project's sizes)
    unlearn_epochs: int = 5  # epochs after the removal step (Table 1: epochs 1-5)
    n_shadow: int = 10  # shadow models (their MIA notebook's num_shadow_models = 20; fewer below paper for time)
    # shadows' data: pool, random halves of the target's training data and its held-out validation part together,
    # so with val_size 0.5 each shadow is the target's size and the validation half is the target's non-members
    # (their MIA notebook); train, halves of the target's training data; test, halves of the test part
    shadow_data: str = "train"
    # an independent judge of model inversion: a classifier (the same architecture and schedule) trained on the
    # validation part, which no target saw, rates each inversion; a model rating its own inversion proves nothing
    judge: bool = True
    attack_max_per_class: int | None = None  # cap on each class's attack training set; None: all shadow outputs (theirs)
    request_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # forget-request sizes of the batches-removed curve
    repeats: int = 3  # random requests per size (mean and spread)
    inversion: str = "paper"  # paper: their inversion notebook | project: this project's earlier variant
    inversion_steps: int = 1000  # model-inversion iterations (their inversion notebook's num_iters = 1000)
    # True: only the headline table (Table 1's recalls over seeds), e.g. another seed's rows (-p SEED 1 -p HEADLINE_ONLY
    # True): no retrain from scratch, no inversions, no figures; the view shows those of the first seed stored
    headline_only: bool = False
    seed: int = 0  # split, training, shadow and attack seed
    # per-method field overrides on top of the protocol (method_config), e.g. {"random_label": {"lr": 0.01}}; run_all's
    # -p RANDOM_LABEL.LR 0.01 lands here, as it does in every notebook that runs the method
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        super().__post_init__()
        if self.target_class is not None:
            self.check_class("target_class", self.target_class)
        for name, allowed in (("shadow_data", ("pool", "train", "test")), ("inversion", ("paper", "project"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} takes one of {list(allowed)}, got {getattr(self, name)!r}")
        check_method_overrides(self, self.runs(), "notebook 01 runs")

    # the methods notebook 01 follows epoch by epoch (the paper's Table 1 columns)
    METHODS: ClassVar[tuple[str, ...]] = ("naive_retrain", "random_label", "amnesiac")
    # the protocol gives each method the run's seed: the row store keys a method seed equal to it as the row's seed
    METHOD_SEEDS_FOLLOW_RUN: ClassVar[bool] = True

    def runs(self) -> tuple[str, ...]:
        """The registered methods this notebook runs: the ones a `-p METHOD.FIELD` override reaches (Table 1's three,
        and retrain, the reference of its methods table)."""
        return (*self.METHODS, "retrain")

    def method_config(self, name: str, **fields):
        """Method `name`'s config in this notebook: its defaults (GravesSchedule: the authors' Adam, lr 1e-3, batch
        64), then the protocol of Graves et al.'s Table 1, which keeps training after the removal at the original's
        rate and batch (and its CPU bf16 switch) for `unlearn_epochs`, with this run's seed; then the user's
        `method_overrides[name]`; then `fields` (the amnesiac record and request, a per-epoch hook). Not a
        MethodsRun's preset: the protocol ties the methods' schedule to the original's, and the rows stored under
        this config's fingerprint stay its."""
        from ..methods import preset_config

        if name == "retrain" and not fields:  # the reference: the original's schedule with this run's seed
            return retrain_config(self, replace(self.train, seed=self.seed))
        if name not in self.METHODS:
            raise ConfigError(f"notebook 01 follows {list(self.METHODS)} (and retrain, the reference), got {name!r}")
        t = self.train
        protocol = {"epochs": self.unlearn_epochs, "lr": t.lr, "batch_size": t.batch_size, "seed": self.seed}
        return preset_config(name, train=t, overrides={**protocol, **overrides_of(self, name), **fields})

    def method_configs(self) -> list[tuple[str, Any]]:
        """(name, config) of the three methods as this run resolves them (`method_config`, without the per-run record,
        request and hook): what the row store keys Table 1's rows by, so an override that resolves to the protocol's
        value keys the same rows and a change of a method's defaults keys new ones. A method's seed that is the run's
        (the protocol's) is keyed as the row's seed (`METHOD_SEEDS_FOLLOW_RUN`), so another seed's rows join them
        and a method seed overridden to another value does not."""
        return [(name, self.method_config(name)) for name in self.METHODS]

    @property
    def forget_class(self) -> int:
        """The class forgotten: target_class, or the paper's (CIFAR-100 class 81; digit 3 elsewhere)."""
        if self.target_class is not None:
            return self.target_class
        return 81 if self.dataset == "cifar100" else 3


# the authors' protocol (lmgraves/AmnesiacML): the target trains on a random half of the pool and the other half are
# its non-members (val_size 0.5), shadows on random halves of the same pool, the class a small share of the data
AUTHORS = dict(val_size=0.5, shadow_data="pool", class_keep=0.01)

PROFILES = {
    # 5 epochs: at 2 the original has not learnt the class from its few kept samples
    "smoke": from_setting("smoke", AmnesiacMLConfig, train=replace(AMNESIAC_TRAIN, epochs=5),
                          **{**AUTHORS, "class_keep": 0.08}, n_forget_samples=8, n_shadow=1, request_sizes=(1, 4),
                          inversion_steps=10),
    "quick": from_setting("quick", AmnesiacMLConfig, train=AMNESIAC_TRAIN, **{**AUTHORS, "class_keep": 0.02}),
    # CIFAR-10, the offline stand-in for their CIFAR-100, without augmentation so that the original overfits as
    # theirs does; a 10,000-image pool (5,000 to train on, 5,000 non-members) and 8 shadows, scaled from their 50,000
    # images and 20 shadows to a seed's CPU budget; small_cnn for their ResNet-18, trained 30 epochs, not their 10, at
    # which it underfits and never predicts the kept class (the measurements: results/cpu/NOTES.md, 2026-12-04)
    "cpu": from_setting("cpu", AmnesiacMLConfig, dataset="cifar10",
                        train=replace(AMNESIAC_TRAIN, epochs=30, cpu_bf16=True), train_size=10000, **AUTHORS,
                        n_forget_samples=64, n_shadow=8, request_sizes=(1, 3, 10, 30, 100)),
    # MNIST offline (the paper's CIFAR-100 needs a download: OVERRIDES {"dataset": "cifar100"}), 100 threes as their
    # MNIST notebook; the torchvision ResNet-18 with the ImageNet stem, as their notebooks
    "paper": from_setting("paper", AmnesiacMLConfig, dataset="mnist", model="resnet18_imagenet", train=AMNESIAC_TRAIN,
                          **{**AUTHORS, "class_keep": 100}, n_forget_samples=64, n_shadow=20,
                          request_sizes=(1, 3, 10, 30, 100, 300)),
}
# the whole-class request and the MNIST setting of the earlier cpu runs stay one override away:
# OVERRIDES {"class_keep": None} (every training sample of the class) or {"dataset": "mnist", "class_keep": 100}


def _amnesiac_rows(r) -> pd.DataFrame | None:
    return r.seed_rows("table1_mia_recall", dtype={"epoch": str})


def _attack_auc(r, rows: pd.DataFrame | None = None) -> float | None:
    """The shadow attack's AUC on the original: the mean over the seeds of `rows` (Table 1's per-seed rows from
    `Results.seed_rows`, which carry it), else the shadow_attack_quality table (one seed, the first stored)."""
    if rows is not None and "attack_auc" in rows and rows.attack_auc.notna().any():
        return float(rows.groupby("seed").attack_auc.first().mean())
    q = r.table("shadow_attack_quality")
    return None if q is None else float(q.auc.iloc[0])


def _auc_note(auc):
    return f"; shadow attack AUC on the original {auc:.3f}" if auc is not None else ""


def _no_signal(auc) -> str:
    return (f"; untestable: the shadow attack's AUC on the original is {auc:.3f}, at or below {CHANCE_AUC}, so it finds "
            f"no membership to remove and recall tracks correct classification (needs an AUC above {CHANCE_AUC})")


def _left_out(seeds: list[int], why: str) -> str:
    """The note naming the seeds a claim leaves out as untestable, and why."""
    return f"; seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} left out, untestable: {why}"


def _seeds_with_a_class_to_forget(c: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Table 1's class-wise rows of the seeds whose original the attack finds members of the class in (recall above
    RECALL_LOW at epoch 0, before any method ran), and a note naming the other seeds: an original that never learnt
    its few kept samples of the class leaves nothing to remove, so that seed cannot test the claim."""
    if "seed" not in c:
        return c, ""
    e0 = c[c.epoch == "0"].groupby("seed").amnesiac.first()
    empty = sorted(int(s) for s, v in e0.items() if v <= RECALL_LOW)
    if not empty:
        return c, ""
    recalls = ", ".join(fmt(e0[s], 3) for s in empty)
    note = _left_out(empty, f"the original's recall of the class at epoch 0 is {recalls} (at or below {RECALL_LOW}; it "
                     f"did not learn the class's kept samples, so there is no membership to remove)")
    return c[~c.seed.isin(empty)], note


def amnesiac_recall(r) -> Outcome | None:
    t = _amnesiac_rows(r)
    if t is None:
        return None
    c, left_out = _seeds_with_a_class_to_forget(t[t.scheme == "class"])
    evidence = r.where("table1_mia_recall") + r.where("shadow_attack_quality")
    if c.empty:
        return Outcome(left_out.lstrip("; "), UNTESTABLE, evidence)
    e0, e1 = c[c.epoch == "0"].amnesiac, c[c.epoch == "0'"].amnesiac
    if e0.empty or e1.empty:
        return None
    auc = _attack_auc(r, c)
    value = f"recall {ms(e0, 3)} at epoch 0 -> {ms(e1, 3)} at 0' ({seeds_of(c)}){left_out}"
    if auc is not None and auc <= CHANCE_AUC:
        return Outcome(value + _no_signal(auc), UNTESTABLE, evidence)
    ok = e0.mean() >= RECALL_HIGH and e1.mean() <= RECALL_LOW
    return Outcome(value + _auc_note(auc), "reproduced" if ok else "not reproduced", evidence)


def _amnesiac_epochs(r) -> tuple[pd.DataFrame | None, str]:
    """The amnesiac method's class-wise rows of accuracy_over_epochs, every stored seed (`Results.seed_rows`'s
    every_seed), with the seeds whose original never learnt the class left out by Table 1's rule
    (`_seeds_with_a_class_to_forget`), and the note naming them; (None, "") without the table."""
    t = r.seed_rows("accuracy_over_epochs", every_seed=True, dtype={"epoch": str})
    if t is None:
        return None, ""
    a = t[(t.scheme == "class") & (t.method == "amnesiac")]
    recalls = _amnesiac_rows(r)
    if recalls is None or "seed" not in recalls:
        return a, ""
    recalls = recalls[(recalls.scheme == "class") & recalls.seed.isin(a.seed.unique())]  # the seeds a has
    kept, note = _seeds_with_a_class_to_forget(recalls)
    out = set(recalls.seed) - set(kept.seed)
    return a[~a.seed.isin(out)], note


def _over(a: pd.DataFrame) -> str:
    """How many seeds a value is the mean of; one is a provisional verdict and says so."""
    n = a.seed.nunique()
    return "1 seed: provisional" if n == 1 else seeds_of(a)


def _at(a: pd.DataFrame, column: str, epoch: str) -> pd.Series:
    """`column` at `epoch`, one value per seed (indexed by seed)."""
    return a[a.epoch == epoch].groupby("seed")[column].first()


def amnesiac_test_acc(r) -> Outcome | None:
    """Right after the update, the class is forgotten (its forget accuracy at most FORGOT_SHARE of the original's) and
    test accuracy on the other classes within CLOSE_ACC_PTS of the original's, on the mean over the seeds stored (a
    seed whose original never learnt the class is left out, as in Table 1). Accuracy kept by an update that forgot
    nothing, or regained only by repair epochs, does not count."""
    a, left_out = _amnesiac_epochs(r)
    if a is None:
        return None
    if a.empty:
        return Outcome(left_out.lstrip("; ") or "no class-wise amnesiac rows", UNTESTABLE,
                       r.where("accuracy_over_epochs"))
    before, after, repaired = (_at(a, "test_acc_pct", e) for e in ("0", "0'", "1"))
    f0, f1 = _at(a, "forget_acc_pct", "0"), _at(a, "forget_acc_pct", "0'")
    forgot = f1.mean() <= FORGOT_SHARE * f0.mean()
    verdict = "reproduced" if forgot and before.mean() - after.mean() <= CLOSE_ACC_PTS else "not reproduced"
    cost = r.seed_rows("amnesiac_record_cost", every_seed=True)
    share = (cost[(cost.request == "class") & cost.seed.isin(a.seed.unique())].share_of_batches_pct
             if cost is not None and "request" in cost else pd.Series(dtype=float))
    removed = f"{ms(share)} % of the training batches removed (the paper: under 1 %); " if not share.empty else ""
    return Outcome(f"{removed}test accuracy (other classes) {ms(before)} -> {ms(after)} % right after the removal, "
                   f"while the forgotten class's accuracy went {ms(f0)} -> {ms(f1)} % "
                   f"({'forgotten' if forgot else 'not forgotten'}); {ms(repaired)} % after one repair epoch, which "
                   f"does not count ({_over(a)}){left_out}", verdict, r.where("accuracy_over_epochs"))


def amnesiac_others_slower(r) -> Outcome | None:
    t = _amnesiac_rows(r)
    if t is None:
        return None
    c, left_out = _seeds_with_a_class_to_forget(t[t.scheme == "class"])
    if c.empty:
        return Outcome(left_out.lstrip("; "), UNTESTABLE, r.where("table1_mia_recall"))
    last = max((e for e in c.epoch.unique() if e.isdigit()), key=int, default=None)
    at = {e: c[c.epoch == e] for e in ("0'", "1", last)}
    if last is None or any(v.empty for v in at.values()):
        return None
    am, rl1, nr_last = at["0'"].amnesiac.mean(), at["1"].random_label.mean(), at[last].naive_retrain.mean()
    value = (f"recall: amnesiac {fmt(am, 3)} right after the removal; random label {fmt(rl1, 3)} after one epoch; "
             f"naive retraining {fmt(nr_last, 3)} after {last} epochs ({seeds_of(c)}){left_out}")
    auc = _attack_auc(r, c)
    if auc is not None and auc <= CHANCE_AUC:
        return Outcome(value + _no_signal(auc), UNTESTABLE, r.where("table1_mia_recall"))
    checks = [am <= RECALL_LOW, rl1 <= RECALL_LOW, nr_last >= RECALL_STILL]  # at once, after one epoch, not yet
    # naive retraining keeping membership is no achievement on its own: partly needs one of the two forgetting parts
    verdict = "reproduced" if all(checks) else "partly" if any(checks[:2]) else "not reproduced"
    return Outcome(value + _auc_note(auc), verdict, r.where("table1_mia_recall"))


def amnesiac_inversion(r) -> Outcome | None:
    """Judged by an independent classifier (trained on held-out data, `judge`), never by the inverted model: its
    own probability for its own inversion is high by construction. On the mean over the seeds stored whose judge
    recognises the original's inversion as the class; a seed whose judge does not has nothing to remove and is left
    out, and with no such seed left, or where no judge ran, the claim is untestable."""
    t = r.seed_rows("accuracy_over_epochs", every_seed=True, dtype={"epoch": str})
    if t is None or "inversion_confidence" not in t:
        return None
    a = t[(t.scheme == "class") & (t.method == "amnesiac")]
    where = r.where("accuracy_over_epochs") + r.figure("inversion_grid")
    if "inversion_judge_prob" not in a or a.inversion_judge_prob.isna().all():
        own0, own1 = _at(a, "inversion_confidence", "0"), _at(a, "inversion_confidence", "0'")
        return Outcome(f"only the inverted model's own probability was measured ({ms(own0, 3)} original -> "
                       f"{ms(own1, 3)} after the removal): circular, since the image was optimised for that model; no "
                       f"independent judge ran", UNTESTABLE, where)
    last = max((e for e in a.epoch.unique() if e.isdigit()), key=int)
    before, after, at_last = (_at(a, "inversion_judge_prob", e) for e in ("0", "0'", last))
    value = (f"an independent judge's probability of the class for the inversion: {ms(before, 3)} (original) -> "
             f"{ms(after, 3)} after the removal, {ms(at_last, 3)} at epoch {last} ({_over(a)}; judge: trained on "
             f"held-out data)")
    blind = sorted(int(s) for s, v in before.items() if v < JUDGE_RECOGNISES)
    if len(blind) == len(before):
        return Outcome(value + f"; the judge does not recognise the original's inversion as the class (below "
                       f"{JUDGE_RECOGNISES}), so there is no resemblance to remove", UNTESTABLE, where)
    if blind:
        kept = ~before.index.isin(blind)
        before, after, at_last = before[kept], after[kept], at_last[kept]
        value += _left_out(blind, f"the judge does not recognise that original's inversion as the class (below "
                                  f"{JUDGE_RECOGNISES}); over the other {len(before)}: {ms(before, 3)} -> "
                                  f"{ms(after, 3)}, {ms(at_last, 3)} at epoch {last}")
    verdict = ("reproduced" if after.mean() <= INVERSION_DROP * before.mean() else
               "partly" if at_last.mean() <= INVERSION_DROP * before.mean() else "not reproduced")
    return Outcome(value, verdict, where)


def _published_recall() -> str:
    p = published_rows("amnesiac_ml", table="Table 1", method="amnesiac").set_index("epoch").value
    before, after = p["0"], p["0'"]
    return f"CIFAR-100: {before:.3f} at epoch 0 -> {after:.3f} at 0'"


def signal(r) -> str | None:
    """The membership signal in the original, before unlearning (the privacy claims' precondition), in words."""
    rows = _amnesiac_rows(r)
    auc = _attack_auc(r, rows)
    if auc is None:
        return None
    fit = ""
    if rows is not None and {"original_train_pct", "original_test_pct"} <= set(rows):
        f = rows.groupby("seed")[["original_train_pct", "original_test_pct"]].first()
        fit = (f"; the original fits train {ms(f.original_train_pct, 1)} / test {ms(f.original_test_pct, 1)} % "
               f"({len(f)} seed{'s' if len(f) > 1 else ''})")
    return (f"shadow-attack AUC on the original {auc:.3f} (needs > {CHANCE_AUC}: "
            f"{'present' if auc > CHANCE_AUC else 'absent'}){fit}")


def claims() -> list[Claim]:
    return [
        Claim("amnesiac_ml", "Membership recall on the forgotten class falls from near 1 to near 0 right after the amnesiac "
              "update", _published_recall(), amnesiac_recall,
              "the shadow attack's size and training are taken from the authors' notebook; the paper's MNIST numbers are not in the stored text"),
        Claim("amnesiac_ml", "Test accuracy stays near the original's right after the amnesiac update (class-wise)",
              "stated (no figure in the stored text)", amnesiac_test_acc),
        Claim("amnesiac_ml", "Amnesiac unlearning removes membership at once, random-label unlearning after one epoch, naive "
              "retraining not within the epochs shown", "random label: recall low from epoch 1; naive retraining: still "
              "high after 10 epochs",
              amnesiac_others_slower),
        Claim("amnesiac_ml", "Model inversion of the forgotten class stops resembling it after amnesiac unlearning",
              "figures only", amnesiac_inversion, "no numeric measure of resemblance in the paper"),
    ]
