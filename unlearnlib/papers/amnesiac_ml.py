"""Notebook 01, Amnesiac Machine Learning (Graves, Nagisetty & Ganesh, AAAI 2021): its config, profiles and claims.

The schedule is Graves et al.'s (lmgraves/AmnesiacML notebooks): Adam at lr 1e-3, batch 64, no weight decay, no
schedule, no augmentation, 10 epochs. Why each profile's sizes: results/<profile>/NOTES.md.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd

from ..config import ConfigError
from ..setting import Setting
from ..train import TrainConfig
from .base import from_setting
from .claims import UNTESTABLE, Claim, Outcome, fmt, ms, published_rows, seeds_of

NOTEBOOK = "01_amnesiac_unlearning"
PAPER = "amnesiac_ml"
TITLE = "Amnesiac Machine Learning (Graves, Nagisetty & Ganesh, AAAI 2021)"
# results of a profile kept under other folder names, read after the notebook's own
EXTRA_FOLDERS = {"paper": ("01_amnesiac_unlearning_cifar10_mlp",)}
CHANCE_AUC = 0.6  # the shadow attack's AUC on the original at or below which it finds no membership (untestable)
RECALL_HIGH, RECALL_LOW = 0.8, 0.1  # Table 1's "near 1" and "near 0" membership recall
RECALL_STILL = 0.5  # naive retraining still exposes the class: recall at least this after the last epoch shown
FORGOT_SHARE = 0.5  # the class counts as forgotten when its accuracy falls to at most this share of the original's
CLOSE_ACC_PTS = 3  # test accuracy (other classes) within this many points of the original's

# Graves et al.'s training schedule; the run's seed is applied at run time from the config's `seed`
AMNESIAC_TRAIN = TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant",
                             augment=False)


@dataclass(frozen=True)
class AmnesiacMLConfig(Setting):
    """Notebook 01: naive retraining, random-label and amnesiac unlearning of a class and of individual samples,
    followed epoch by epoch; shadow-model MIA (Table 1), model inversion, test accuracy against the share of batches
    removed."""

    TABLE_FIELDS: ClassVar[tuple[str, ...]] = ("headline_only",)  # which tables run, not what a row holds (seeds.py)

    train: TrainConfig = AMNESIAC_TRAIN  # the original's schedule (also the shadows' and retrain's)
    target_class: int | None = None  # class forgotten; None: the paper's, CIFAR-100 class 81, else 3 (their MNIST digit)
    n_forget_samples: int = 16  # individual training samples forgotten (the sample scheme; this project's sizes)
    unlearn_epochs: int = 5  # epochs after the removal step (Table 1: epochs 1-5)
    n_shadow: int = 10  # shadow models (their MIA notebook's num_shadow_models = 20; fewer below paper for time)
    shadow_data: str = "train"  # train: halves of the target's training pool (their notebook) | test: halves of the test part
    attack_max_per_class: int | None = None  # cap on each class's attack training set; None: all shadow outputs (theirs)
    request_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # forget-request sizes of the batches-removed curve
    repeats: int = 3  # random requests per size (mean and spread)
    inversion: str = "paper"  # paper: their inversion notebook | project: this project's earlier variant
    inversion_steps: int = 1000  # model-inversion iterations (their inversion notebook's num_iters = 1000)
    # True: only the headline table (Table 1's recalls over seeds), e.g. another seed's rows (-p SEED 1 -p HEADLINE_ONLY
    # True): no retrain from scratch, no inversion variants, no figures; run_all keeps those of the run that made them
    headline_only: bool = False
    seed: int = 0  # split, training, shadow and attack seed

    def __post_init__(self):
        for name, allowed in (("shadow_data", ("train", "test")), ("inversion", ("paper", "project"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} takes one of {list(allowed)}, got {getattr(self, name)!r}")

    @property
    def forget_class(self) -> int:
        """The class forgotten: target_class, or the paper's (CIFAR-100 class 81; digit 3 elsewhere)."""
        if self.target_class is not None:
            return self.target_class
        return 81 if self.dataset == "cifar100" else 3


PROFILES = {
    # validation: 10 % of the training set on digits (smoke and quick), 5,000 samples on MNIST
    "smoke": from_setting("smoke", AmnesiacMLConfig, train=replace(AMNESIAC_TRAIN, epochs=2), val_size=0.1,
                          n_forget_samples=8, n_shadow=1, request_sizes=(1, 4), inversion_steps=10),
    "quick": from_setting("quick", AmnesiacMLConfig, train=AMNESIAC_TRAIN, val_size=0.1),
    # full MNIST, small_cnn as the CPU stand-in for their ResNet-18, their schedule in bf16 + channels_last
    "cpu": from_setting("cpu", AmnesiacMLConfig, dataset="mnist", train=replace(AMNESIAC_TRAIN, cpu_bf16=True),
                        mia_max_per_side=None, n_forget_samples=64, n_shadow=6,
                        request_sizes=(1, 3, 10, 30, 100, 300)),
    # MNIST offline (the paper's CIFAR-100 needs a download: OVERRIDES {"dataset": "cifar100"}); the torchvision
    # ResNet-18 with the ImageNet stem, as their notebooks
    "paper": from_setting("paper", AmnesiacMLConfig, dataset="mnist", model="resnet18_imagenet", train=AMNESIAC_TRAIN,
                          n_forget_samples=64, n_shadow=20, request_sizes=(1, 3, 10, 30, 100, 300)),
}


def _amnesiac_rows(r) -> pd.DataFrame | None:
    return r.seed_rows("table1_mia_recall", dtype={"epoch": str})


def _attack_auc(r, rows: pd.DataFrame | None = None) -> float | None:
    """The shadow attack's AUC on the original: the mean over the seeds of `rows` (Table 1's per-seed rows from
    `Results.seed_rows`, which carry it), else the last run's shadow_attack_quality table (one seed)."""
    if rows is not None and "attack_auc" in rows and rows.attack_auc.notna().any():
        return float(rows.groupby("seed").attack_auc.first().mean())
    q = r.table("shadow_attack_quality", first=True)
    return None if q is None else float(q.auc.iloc[0])


def _auc_note(auc):
    return f"; shadow attack AUC on the original {auc:.3f}" if auc is not None else ""


def _no_signal(auc) -> str:
    return (f"; untestable: the shadow attack's AUC on the original is {auc:.3f}, at or below {CHANCE_AUC}, so it finds "
            f"no membership to remove and recall tracks correct classification (needs an AUC above {CHANCE_AUC})")


def amnesiac_recall(r) -> Outcome | None:
    t = _amnesiac_rows(r)
    if t is None:
        return None
    c = t[t.scheme == "class"]
    e0, e1 = c[c.epoch == "0"].amnesiac, c[c.epoch == "0'"].amnesiac
    if e0.empty or e1.empty:
        return None
    auc = _attack_auc(r, c)
    value = f"recall {ms(e0, 3)} at epoch 0 -> {ms(e1, 3)} at 0' ({seeds_of(c)})"
    evidence = r.where("table1_mia_recall") + r.where("shadow_attack_quality")
    if auc is not None and auc <= CHANCE_AUC:
        return Outcome(value + _no_signal(auc), UNTESTABLE, evidence)
    ok = e0.mean() >= RECALL_HIGH and e1.mean() <= RECALL_LOW
    return Outcome(value + _auc_note(auc), "reproduced" if ok else "not reproduced", evidence)


def amnesiac_test_acc(r) -> Outcome | None:
    """Right after the update, the class is forgotten (its forget accuracy at most FORGOT_SHARE of the original's) and
    test accuracy on the other classes within CLOSE_ACC_PTS of the original's. Accuracy kept by an update that forgot
    nothing, or regained only by repair epochs, does not count."""
    t = r.table("accuracy_over_epochs", first=True)
    if t is None:
        return None
    t = t.assign(epoch=t.epoch.astype(str))
    a = t[(t.scheme == "class") & (t.method == "amnesiac")].set_index("epoch")
    before, after, repaired = a.test_acc_pct["0"], a.test_acc_pct["0'"], a.test_acc_pct.get("1", np.nan)
    f0, f1 = a.forget_acc_pct["0"], a.forget_acc_pct["0'"]
    forgot = f1 <= FORGOT_SHARE * f0
    verdict = "reproduced" if forgot and before - after <= CLOSE_ACC_PTS else "not reproduced"
    return Outcome(f"test accuracy (other classes) {before:.2f} -> {after:.2f} % right after the removal, while the "
                   f"forgotten class's accuracy went {f0:.2f} -> {f1:.2f} % ({'forgotten' if forgot else 'not forgotten'}); "
                   f"{fmt(repaired)} % after one repair epoch, which does not count (one seed: the last full run's)",
                   verdict, r.where("accuracy_over_epochs"))


def amnesiac_others_slower(r) -> Outcome | None:
    t = _amnesiac_rows(r)
    if t is None:
        return None
    c = t[t.scheme == "class"]
    last = max((e for e in c.epoch.unique() if e.isdigit()), key=int, default=None)
    at = {e: c[c.epoch == e] for e in ("0'", "1", last)}
    if last is None or any(v.empty for v in at.values()):
        return None
    am, rl1, nr_last = at["0'"].amnesiac.mean(), at["1"].random_label.mean(), at[last].naive_retrain.mean()
    value = (f"recall: amnesiac {fmt(am, 3)} right after the removal; random label {fmt(rl1, 3)} after one epoch; "
             f"naive retraining {fmt(nr_last, 3)} after {last} epochs ({seeds_of(c)})")
    auc = _attack_auc(r, c)
    if auc is not None and auc <= CHANCE_AUC:
        return Outcome(value + _no_signal(auc), UNTESTABLE, r.where("table1_mia_recall"))
    checks = [am <= RECALL_LOW, rl1 <= RECALL_LOW, nr_last >= RECALL_STILL]  # at once, after one epoch, not yet
    # naive retraining keeping membership is no achievement on its own: partly needs one of the two forgetting parts
    verdict = "reproduced" if all(checks) else "partly" if any(checks[:2]) else "not reproduced"
    return Outcome(value + _auc_note(auc), verdict, r.where("table1_mia_recall"))


def amnesiac_inversion(r) -> Outcome | None:
    t = r.table("accuracy_over_epochs", first=True)
    if t is None or "inversion_confidence" not in t:
        return None
    t = t.assign(epoch=t.epoch.astype(str))
    a = t[(t.scheme == "class") & (t.method == "amnesiac")].set_index("epoch").inversion_confidence
    last, before, after = a.index[-1], a["0"], a["0'"]
    verdict = "reproduced" if before >= 0.5 and after < 0.5 * before else "partly" if a[last] < before else "not reproduced"
    figs = r.figure("inversion_grid")
    return Outcome(f"class probability of the model's own inversion {before:.3f} (original) -> {after:.3f} after the "
                   f"removal, {a[last]:.3f} at epoch {last} (a proxy; the images are in the figure)", verdict,
                   r.where("accuracy_over_epochs") + figs)


def _published_recall() -> str:
    p = published_rows("amnesiac_ml", table="Table 1", method="amnesiac").set_index("epoch").value
    before, after = p["0"], p["0'"]
    return f"CIFAR-100: {before:.3f} at epoch 0 -> {after:.3f} at 0'"


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
