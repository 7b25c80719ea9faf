"""The reproduction report: each claim of the three papers checked against the committed results.

    python run_all.py --report    # writes results/REPRODUCTION.md and results/<profile>/README.md

Nothing here is typed by hand: every figure is read from the results folders (tables and their
per-seed rows, params.json) and every verdict follows from a rule written beside its claim. A
verdict is one of VERDICTS; "not run" when the profile has no result for the claim. Where a claim
fails, the row links its evidence and names what the paper leaves unspecified.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .published import PAPERS, published, source
from .seeds import pm

PROFILES = ("quick", "cpu", "paper")
VERDICTS = ("reproduced", "partly", "not reproduced", "not run")
TITLES = {"amnesiac_ml": "Amnesiac Machine Learning (Graves, Nagisetty & Ganesh, AAAI 2021)",
          "dau": "Discriminative Adversarial Unlearning (Sharma, Zhou, Ji & Chen, 2024)",
          "contrastive": "Machine Unlearning in Contrastive Learning (Wang & Chen, 2024)",
          "careful": "Beyond the papers: per-example attacks on every method (Hayes et al. 2024; the NeurIPS 2023 competition)"}
NOTEBOOKS = {"amnesiac_ml": "01_amnesiac_unlearning", "dau": "02_discriminative_adversarial_unlearning",
             "contrastive": "03_contrastive_unlearning", "careful": "04_careful_evaluation"}
# results of a profile kept under other folder names (partial or variant runs), read after the notebook's own.
# Notebook 02 at the paper profile: the runs at the profile's present DAU settings (defender lr 0.003) only; the
# earlier lr-0.01 folders (02_class_scheme_h100, 02_random_scheme_h200, 02_random_scheme_sparse_h200) stay as records.
ALIASES = {("paper", "01_amnesiac_unlearning"): ("01_amnesiac_unlearning_cifar10_mlp",),
           ("paper", "02_discriminative_adversarial_unlearning"): ("02_class_scheme_h200_lr003",
                                                                       "02_random_scheme_h200_lr003")}
CHANCE_AUC = 0.6  # a membership attack with AUC at or below this on the original is "near chance"


@dataclass
class Outcome:
    """One profile's result for one claim."""

    value: str
    verdict: str
    evidence: list[str]  # result files (relative to the results root)


@dataclass
class Claim:
    paper: str  # amnesiac_ml | dau | contrastive
    text: str
    published: str  # the paper's figure (from unlearnlib/published) or its words
    check: Callable[["Results"], Outcome | None]  # None: not run at this profile
    unspecified: str = ""  # what the paper leaves open (shown where the claim fails)
    sweeps: str = ""  # folder of results/<profile>/ holding the sweeps tried for it, linked where the claim fails


class Results:
    """The result folders of one notebook at one profile (its own folder, then ALIASES)."""

    def __init__(self, root: Path, profile: str, notebook: str):
        self.root, self.profile, self.notebook = root, profile, notebook
        names = (notebook, *ALIASES.get((profile, notebook), ()))
        self.folders = [root / profile / n for n in names if (root / profile / n).is_dir()]

    def table(self, name: str, first: bool = False) -> pd.DataFrame | None:
        """`name`.csv from the folders (concatenated, or the first found with first=True); None if absent."""
        parts = []
        for f in self.folders:
            p = f / f"{name}.csv"
            if p.exists():
                parts.append(pd.read_csv(p).assign(_folder=str(f.relative_to(self.root))))
                if first:
                    break
        return pd.concat(parts, ignore_index=True) if parts else None

    def seed_rows(self, name: str, **read_kw) -> pd.DataFrame | None:
        """Per-seed rows of table `name` (seeds/<name>/seed*.csv) from the first folder that has them, else its
        single-seed `name`.csv (as seed 0); None if no folder has either."""
        for f in self.folders:
            d = f / "seeds" / name
            files = sorted(d.glob("seed*.csv")) if d.is_dir() else []
            if files:
                return pd.concat([pd.read_csv(p, **read_kw) for p in files], ignore_index=True)
            if (f / f"{name}.csv").exists():
                return pd.read_csv(f / f"{name}.csv", **read_kw).assign(seed=0)
        return None

    def where(self, name: str) -> list[str]:
        return [str((f / f"{name}.csv").relative_to(self.root)) for f in self.folders if (f / f"{name}.csv").exists()]

    def runs(self) -> list[dict]:
        out = []
        for f in self.folders:
            p = f / "params.json"
            if p.exists():
                d = json.loads(p.read_text())
                out.append({"folder": str(f.relative_to(self.root)), **d})
        return out


def _fmt(x, digits=2):
    return "n/a" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def _ms(series: pd.Series, digits=2) -> str:
    s = series.dropna()
    return pm(s.mean(), s.std(ddof=1) if len(s) > 1 else np.nan, digits)


def _n_seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _seeds(df: pd.DataFrame) -> str:
    return _n_seeds(df.seed.nunique()) if "seed" in df else "1 seed"


# --------------------------------------------------------------------------- Amnesiac ML (notebook 01)


def _amnesiac_rows(r: Results) -> pd.DataFrame | None:
    return r.seed_rows("table1_mia_recall", dtype={"epoch": str})


def _attack_auc(r: Results, rows: pd.DataFrame | None = None) -> float | None:
    """The shadow attack's AUC on the original: the mean over the seeds of `rows` (Table 1's per-seed rows from
    `Results.seed_rows`, which carry it), else the last run's shadow_attack_quality table (one seed)."""
    if rows is not None and "attack_auc" in rows and rows.attack_auc.notna().any():
        return float(rows.groupby("seed").attack_auc.first().mean())
    q = r.table("shadow_attack_quality", first=True)
    return None if q is None else float(q.auc.iloc[0])


def _auc_note(auc):
    return (f"; shadow attack AUC on the original {auc:.3f}" + (" (near chance: recall tracks correct classification)"
                                                                if auc <= CHANCE_AUC else "")) if auc is not None else ""


def amnesiac_recall(r: Results) -> Outcome | None:
    t = _amnesiac_rows(r)
    if t is None:
        return None
    c = t[t.scheme == "class"]
    e0, e1 = c[c.epoch == "0"].amnesiac, c[c.epoch == "0'"].amnesiac
    if e0.empty or e1.empty:
        return None
    auc = _attack_auc(r, c)
    ok = e0.mean() >= 0.8 and e1.mean() <= 0.1
    verdict = ("reproduced" if auc is None or auc > CHANCE_AUC else "partly") if ok else "not reproduced"
    return Outcome(f"recall {_ms(e0, 3)} at epoch 0 -> {_ms(e1, 3)} at 0' ({_seeds(c)}){_auc_note(auc)}", verdict,
                   r.where("table1_mia_recall") + r.where("shadow_attack_quality"))


def amnesiac_test_acc(r: Results) -> Outcome | None:
    t = r.table("accuracy_over_epochs", first=True)
    if t is None:
        return None
    t = t.assign(epoch=t.epoch.astype(str))
    a = t[(t.scheme == "class") & (t.method == "amnesiac")].set_index("epoch").test_acc_pct
    before, after, repaired = a["0"], a["0'"], a.get("1", np.nan)
    verdict = "reproduced" if before - after <= 3 else "partly" if before - repaired <= 3 else "not reproduced"
    return Outcome(f"test accuracy (other classes) {before:.2f} -> {after:.2f} % right after the removal, {_fmt(repaired)} % "
                   f"after one repair epoch (one seed: the last full run's); partly = near the original only after repair",
                   verdict, r.where("accuracy_over_epochs"))


def amnesiac_others_slower(r: Results) -> Outcome | None:
    t = _amnesiac_rows(r)
    if t is None:
        return None
    c = t[t.scheme == "class"]
    last = max((e for e in c.epoch.unique() if e.isdigit()), key=int, default=None)
    at = {e: c[c.epoch == e] for e in ("0'", "1", last)}
    if last is None or any(v.empty for v in at.values()):
        return None
    am, rl1, nr_last = at["0'"].amnesiac.mean(), at["1"].random_label.mean(), at[last].naive_retrain.mean()
    checks = [am <= 0.1, rl1 <= 0.1, nr_last >= 0.5]  # amnesiac at once, random label after one epoch, naive not yet
    verdict = "reproduced" if all(checks) else "partly" if any(checks[1:]) else "not reproduced"
    return Outcome(f"recall: amnesiac {_fmt(am, 3)} right after the removal; random label {_fmt(rl1, 3)} after one epoch; "
                   f"naive retraining {_fmt(nr_last, 3)} after {last} epochs ({_seeds(c)})" + _auc_note(_attack_auc(r, c)),
                   verdict, r.where("table1_mia_recall"))


def amnesiac_inversion(r: Results) -> Outcome | None:
    t = r.table("accuracy_over_epochs", first=True)
    if t is None or "inversion_confidence" not in t:
        return None
    t = t.assign(epoch=t.epoch.astype(str))
    a = t[(t.scheme == "class") & (t.method == "amnesiac")].set_index("epoch").inversion_confidence
    last, before, after = a.index[-1], a["0"], a["0'"]
    verdict = "reproduced" if before >= 0.5 and after < 0.5 * before else "partly" if a[last] < before else "not reproduced"
    figs = [str((f / "inversion_grid.png").relative_to(r.root)) for f in r.folders[:1] if (f / "inversion_grid.png").exists()]
    return Outcome(f"class probability of the model's own inversion {before:.3f} (original) -> {after:.3f} after the "
                   f"removal, {a[last]:.3f} at epoch {last} (a proxy; the images are in the figure)", verdict,
                   r.where("accuracy_over_epochs") + figs)


# --------------------------------------------------------------------------- DAU (notebook 02)


def _dau_rows(r: Results) -> pd.DataFrame | None:
    t = r.table("table1_seeds")
    if t is None:
        return None
    if "seed" not in t:
        t = t.assign(seed=0)
    return t.drop_duplicates(["scheme", "sparsity", "method", "seed"], keep="first")  # the notebook's own folder first


def _by_setting(t: pd.DataFrame, scheme: str):
    for sp, g in t[t.scheme == scheme].groupby("sparsity"):
        yield ("dense" if sp == 0 else f"{sp:.0%} sparse"), g


def _dense_and_sparse(r: Results, t: pd.DataFrame, scheme: str, parts: list[str], verdict: str) -> Outcome:
    """The Outcome of a claim made for dense and sparse models: a setting with no rows for `scheme` is named as not
    run, and 'reproduced' on the other alone is 'partly'."""
    sp = t[t.scheme == scheme].sparsity
    unrun = [label for label, ran in (("dense", (sp == 0).any()), ("sparse", (sp > 0).any())) if not ran]
    verdict = "partly" if unrun and verdict == "reproduced" else verdict
    return Outcome("; ".join([*parts, *(f"{label}: not run" for label in unrun)]), verdict, r.where("table1_seeds"))


def dau_class(r: Results) -> Outcome | None:
    t = _dau_rows(r)
    if t is None or not ((t.scheme == "class") & (t.method == "dau")).any():
        return None
    parts, flags = [], []
    for label, g in _by_setting(t, "class"):
        d = g[g.method == "dau"].set_index("seed")
        re = g[g.method == "retrain"].set_index("seed")
        dra, dta = (d.ra_pct - re.ra_pct).dropna(), (d.ta_pct - re.ta_pct).dropna()
        forget = d.ua_pct.mean() >= 99 and d.mia_efficacy_pct.mean() >= 99
        close = abs(dra.mean()) <= 3 and abs(dta.mean()) <= 3
        flags.append((forget, close))
        parts.append(f"{label}: UA {_ms(d.ua_pct)}, MIA-Efficacy {_ms(d.mia_efficacy_pct)}, RA-retrain {_ms(dra)}, "
                     f"TA-retrain {_ms(dta)} ({_seeds(d.reset_index())})")
    verdict = ("reproduced" if all(a and b for a, b in flags) else "partly" if any(a or b for a, b in flags)
               else "not reproduced")
    return _dense_and_sparse(r, t, "class", parts, verdict)


def dau_random(r: Results) -> Outcome | None:
    t = _dau_rows(r)
    if t is None or not ((t.scheme == "random") & (t.method == "dau")).any():
        return None
    parts, wins = [], []
    for label, g in _by_setting(t, "random"):
        means = g.groupby("method").avg_disparity.mean()
        rivals = means.reindex(["finetune", "grad_ascent", "fisher", "influence"]).dropna()
        if "dau" not in means or rivals.empty:
            continue
        wins.append(means["dau"] < rivals.min())
        parts.append(f"{label}: DAU {_ms(g[g.method == 'dau'].avg_disparity)} vs best rival {rivals.idxmin()} "
                     f"{rivals.min():.2f} ({_seeds(g)})")
    if not wins:
        return None
    verdict = "reproduced" if all(wins) else "partly" if any(wins) else "not reproduced"
    return _dense_and_sparse(r, t, "random", parts, verdict)


def dau_runtime(r: Results) -> Outcome | None:
    t = _dau_rows(r)
    if t is None or not (t.method == "dau").any():
        return None
    parts, ok = [], []
    for (scheme, sp), g in t.groupby(["scheme", "sparsity"]):
        d, re = g[g.method == "dau"].set_index("seed").runtime_s, g[g.method == "retrain"].set_index("seed").runtime_s
        share = (100 * d / re).dropna()
        if share.empty:
            continue
        ok.append(share.mean() <= 15)
        parts.append(f"{scheme} {'dense' if sp == 0 else f'{sp:.0%} sparse'}: {_ms(share, 1)} % of retrain")
    if not ok:
        return None
    verdict = "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"
    return Outcome("; ".join(parts), verdict, r.where("table1_seeds"))


def dau_barlow(r: Results) -> Outcome | None:
    t = r.table("table2_ablation")
    if t is None:
        return None

    def v(row, col):  # mean ± sd where the table has sd columns (mean_sd over seeds)
        return pm(row[col], row.get(f"{col}_sd", np.nan))

    parts, ok = [], []
    for scheme, g in t.groupby("scheme", sort=False):
        g = g.set_index("barlow_lambda")
        without, with_ = g.loc[0.0], g.drop(index=0.0).iloc[0]
        better = with_.avg_disparity < without.avg_disparity  # on the means over seeds (older tables: one seed)
        n = int(g.n_seeds.min()) if "n_seeds" in g and g.n_seeds.notna().all() else 1
        ok.append(better)
        parts.append(f"{scheme}: disparity {v(without, 'avg_disparity')} without -> {v(with_, 'avg_disparity')} with, UA "
                     f"{v(without, 'ua_pct')} -> {v(with_, 'ua_pct')}, MIA-Efficacy {v(without, 'mia_efficacy_pct')} -> "
                     f"{v(with_, 'mia_efficacy_pct')} ({_n_seeds(n)})")
    verdict = "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"
    return Outcome("; ".join(parts), verdict, r.where("table2_ablation"))


# --------------------------------------------------------------------------- contrastive (notebook 03)


def _ssl_rows(r: Results) -> pd.DataFrame | None:
    return r.seed_rows("table2_3_ssl_methods")


# EncoderMI accuracy (%) before unlearning below which an encoder carries no membership signal worth removing
SIGNAL_PCT = 55


def _silent(t: pd.DataFrame) -> list[str]:
    """The SSL methods whose encoders the attack could not read before unlearning (mean EncoderMI < SIGNAL_PCT)."""
    before = t[t.model == "before"].groupby("ssl", sort=False).mia_acc_pct.mean()
    return [s for s, m in before.items() if m < SIGNAL_PCT]


def contrastive_before(r: Results) -> Outcome | None:
    t = _ssl_rows(r)
    if t is None:
        return None
    b = t[t.model == "before"]
    means = b.groupby("ssl", sort=False).mia_acc_pct
    ok = [m >= 60 for m in means.mean()]
    parts = [f"{s} {_ms(g)}" for s, g in means]
    verdict = "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"
    return Outcome("EncoderMI accuracy before: " + ", ".join(parts) + f" ({_seeds(b)})", verdict,
                   r.where("table2_3_ssl_methods"))


def contrastive_after(r: Results) -> Outcome | None:
    t = _ssl_rows(r)
    if t is None:
        return None
    parts, ok, silent = [], [], _silent(t)
    for s, g in t.groupby("ssl", sort=False):
        b, a = g[g.model == "before"].set_index("seed"), g[g.model == "after"].set_index("seed")
        loss = (b.knn_acc_pct - a.knn_acc_pct).dropna()
        # an encoder the attack could not read before shows nothing by being at chance after: its "near 50" does not count
        near = s not in silent and abs(a.mia_acc_pct.mean() - 50) <= 3
        ok.append((near, loss.mean() <= 10))
        parts.append(f"{s}: MIA {_ms(b.mia_acc_pct)} -> {_ms(a.mia_acc_pct)}, kNN accuracy lost {_ms(loss)} points")
    verdict = ("reproduced" if all(a and b for a, b in ok) else "partly" if any(a or b for a, b in ok)
               else "not reproduced")
    if silent and len(silent) == len(ok):
        verdict = "not reproduced"  # nothing was there to remove: the claim is not shown, whatever the accuracy
    note = (f"; no membership signal before unlearning on {', '.join(silent)} (EncoderMI < {SIGNAL_PCT} %), so being at "
            "chance after shows nothing there" if silent else "")
    return Outcome("; ".join(parts) + f" ({_seeds(t)})" + note, verdict, r.where("table2_3_ssl_methods"))


def contrastive_supervised(r: Results) -> Outcome | None:
    t = r.seed_rows("table7_supervised")
    if t is None:
        return None
    w = t.pivot_table(index="seed", columns="method", values=["member_top1", "nonmember_top1", "ta_pct",
                                                               "mia_efficacy_pct"])
    gap_b = w["member_top1"]["before"] - w["nonmember_top1"]["before"]
    gap_a = w["member_top1"]["after"] - w["nonmember_top1"]["after"]
    loss = w["ta_pct"]["before"] - w["ta_pct"]["after"]
    gb, ga, lo = gap_b.mean(), gap_a.mean(), loss.mean()
    verdict = ("reproduced" if abs(ga) <= 0.03 and lo <= 10 and gb > 0.03 else
               "partly" if abs(ga) < abs(gb) else "not reproduced")
    return Outcome(f"top-1 member - non-member {_ms(gap_b, 3)} -> {_ms(gap_a, 3)}; test accuracy "
                   f"{_ms(w['ta_pct']['before'])} -> {_ms(w['ta_pct']['after'])} %; MIA-Efficacy "
                   f"{_ms(w['mia_efficacy_pct']['before'])} -> {_ms(w['mia_efficacy_pct']['after'])} ({_seeds(t)})",
                   verdict, r.where("table7_supervised"))


def _ablation(r: Results):
    """Table IV of the last run, indexed by (mnorm, gp, mloss), or None."""
    t = r.table("table4_ablation_full", first=True)
    return None if t is None else t.set_index(["mnorm", "gp", "mloss"])


def contrastive_ablation_attack(r: Results) -> Outcome | None:
    """Table IV's attack columns: every combination with GP leaves EncoderMI at chance, MNorm + MLoss without GP
    does not (the paper: 94 %)."""
    t = _ablation(r)
    if t is None:
        return None
    dist = (t.after_mia_acc_pct - 50).abs()
    gp_on = t.index.get_level_values("gp") == 1
    with_gp = dist[gp_on]
    no_gp = dist.get((1, 0, 1))
    checks = [len(with_gp) > 0 and bool((with_gp <= 3).all()),  # GP, with any other term, disables the attack
              no_gp is not None and no_gp > 3]  # without GP (MNorm + MLoss) the attack still works
    verdict = "reproduced" if all(checks) else "partly" if any(checks) else "not reproduced"
    before = float(t.before_mia_acc_pct.iloc[0]) if "before_mia_acc_pct" in t else None
    note = ""
    if before is not None and before < SIGNAL_PCT:
        verdict = "not reproduced"
        note = (f"; no membership signal before unlearning (EncoderMI {before:.2f} % < {SIGNAL_PCT} %), so no term can "
                "show an effect on it")
    gp_rows = ", ".join(f"{_terms(k)} {v:.2f}" for k, v in t.after_mia_acc_pct[gp_on].items())
    return Outcome(f"EncoderMI after, with GP: {gp_rows}; without GP, MNorm + MLoss {_fmt(t.after_mia_acc_pct.get((1, 0, 1)))}"
                   f" (before {_fmt(before)}; one seed: the last run's){note}", verdict, r.where("table4_ablation_full"))


def contrastive_ablation_utility(r: Results) -> Outcome | None:
    """Table IV's accuracy columns: the member loss keeps accuracy (GP + MLoss above GP, all three above MNorm + GP)
    and MNorm alone loses the most (the paper: 10 %, a collapse). Needs no membership signal."""
    t = _ablation(r)
    if t is None:
        return None
    acc = t.after_knn_acc_pct
    g = acc.get
    checks = [None not in (g((0, 1, 1)), g((0, 1, 0))) and g((0, 1, 1)) > g((0, 1, 0)),
              None not in (g((1, 1, 1)), g((1, 1, 0))) and g((1, 1, 1)) > g((1, 1, 0)),
              g((1, 0, 0)) is not None and g((1, 0, 0)) == acc.min()]
    verdict = "reproduced" if all(checks) else "partly" if any(checks) else "not reproduced"
    before = float(t.before_knn_acc_pct.iloc[0]) if "before_knn_acc_pct" in t else None
    return Outcome(f"kNN accuracy after (before {_fmt(before)}): GP {_fmt(g((0, 1, 0)))} -> GP + MLoss {_fmt(g((0, 1, 1)))}; "
                   f"MNorm + GP {_fmt(g((1, 1, 0)))} -> all three {_fmt(g((1, 1, 1)))}; MNorm alone {_fmt(g((1, 0, 0)))}, "
                   f"the lowest of {len(acc)} combinations: {'yes' if checks[2] else 'no'} (one seed: the last run's)",
                   verdict, r.where("table4_ablation_full"))


ABLATION_TERMS = {"mnorm": "MNorm", "gp": "GP", "mloss": "MLoss"}  # Table IV's columns, in order, and their names


def _terms(key) -> str:
    """(mnorm, gp, mloss) flags as 'MNorm + MLoss'."""
    return " + ".join(n for n, on in zip(ABLATION_TERMS.values(), key) if on)


def contrastive_refit(r: Results) -> Outcome | None:
    t = _ssl_rows(r)
    if t is None:
        return None
    a = t[t.model == "after (attack refitted)"]
    if a.empty:
        return None
    means = a.groupby("ssl", sort=False).mia_acc_pct
    ok = [m >= 55 for m in means.mean()]
    verdict = "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"
    silent = _silent(t)
    note = ""
    if silent and len(silent) == t[t.model == "before"].ssl.nunique():
        verdict = "not reproduced"
        note = f"; no membership signal before unlearning on any encoder (EncoderMI < {SIGNAL_PCT} %): nothing to find"
    return Outcome("refitted EncoderMI accuracy after unlearning: " + ", ".join(f"{s} {_ms(g)}" for s, g in means)
                   + f" ({_seeds(a)}); reproduced = the attacker still separates them (>= 55 %){note}", verdict,
                   r.where("table2_3_ssl_methods"))


# --------------------------------------------------------------------------- careful evaluation (notebook 04)


def _careful(r: Results) -> pd.DataFrame | None:
    t = r.table("attacks_all", first=True)
    return None if t is None else t.set_index("model")


def _distances(t: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per model, each kind's strength: the larger |AUC - 0.5| of its two attacks (population: threshold and SVC;
    per-example: U-LiRA and RMIA); an AUC below 0.5 separates too."""
    d = (t[["threshold_auc", "svc_auc", "ulira_auc", "rmia_auc"]] - 0.5).abs()
    return d[["threshold_auc", "svc_auc"]].max(axis=1), d[["ulira_auc", "rmia_auc"]].max(axis=1)


def careful_sanity(r: Results) -> Outcome | None:
    t = _careful(r)
    if t is None or "retrain" not in t.index:
        return None
    re = t.loc["retrain"]
    worst = max(abs(re.ulira_auc - 0.5), abs(re.rmia_auc - 0.5), abs(re.threshold_auc - 0.5), abs(re.svc_auc - 0.5))
    verdict = "reproduced" if worst <= 0.05 else "partly" if worst <= 0.1 else "not reproduced"
    return Outcome(f"retrained models: U-LiRA AUC {re.ulira_auc:.3f}, RMIA {re.rmia_auc:.3f}, threshold {re.threshold_auc:.3f}, "
                   f"SVC {re.svc_auc:.3f}; forgetting quality {re.forgetting_quality:.3f} (noise floor, {int(re.n_shadows)} "
                   f"shadows)", verdict, r.where("attacks_all"))


def careful_stronger(r: Results) -> Outcome | None:
    t = _careful(r)
    if t is None or "original" not in t.index:
        return None
    pop, per = _distances(t)
    methods = [m for m in t.index if m not in ("original", "retrain")]
    noise = per.get("retrain", 0.0) + 0.05  # retrained models' distance from chance is this run's noise

    def clearly_stronger(m):
        return per[m] > pop[m] + 0.02 and per[m] > noise

    stronger = [m for m in methods if clearly_stronger(m)]
    on_original = clearly_stronger("original")
    verdict = ("reproduced" if on_original and len(stronger) * 2 >= len(methods) else
               "partly" if on_original or stronger else "not reproduced")
    return Outcome(f"|AUC - 0.5|, population vs per-example: original {pop['original']:.3f} vs {per['original']:.3f}; "
                   + ", ".join(f"{m} {pop[m]:.3f} vs {per[m]:.3f}" for m in methods)
                   + f"; clearly stronger (by 0.02, and beyond retrained models' {noise - 0.05:.3f} + 0.05) on the original: "
                   f"{'yes' if on_original else 'no'}, on {len(stronger)} of {len(methods)} methods", verdict,
                   r.where("attacks_all"))


def careful_false_privacy(r: Results) -> Outcome | None:
    f = r.table("findings", first=True)
    if f is None:
        return None
    fooled = f[f.looks_private_to_population & ~f.private_to_per_example].method.tolist()
    private = f[f.private_to_per_example].method.tolist()
    parts = [f"{m.method}: |AUC - 0.5| population {m.population_auc_distance:.3f} / per-example "
             f"{m.per_example_auc_distance:.3f} / F {m.forgetting_quality:.3f}" for m in f.itertuples()]
    verdict = "reproduced" if fooled else "not reproduced"
    return Outcome(f"look private to the population attack but not to per-example ones: {fooled or 'none'}; private to "
                   f"both (within 0.05 of retrained models' distance from chance): {private or 'none'}. " + "; ".join(parts), verdict,
                   r.where("findings"))


# --------------------------------------------------------------------------- the claims


def _pub(paper: str, **where) -> pd.DataFrame:
    p = published(paper)
    for k, v in where.items():
        p = p[p[k] == v]
    return p


def _published_recall() -> str:
    p = _pub("amnesiac_ml", table="Table 1", method="amnesiac").set_index("epoch").value
    before, after = p["0"], p["0'"]
    return f"CIFAR-100: {before:.3f} at epoch 0 -> {after:.3f} at 0'"


def _published_dau(scheme: str) -> str:
    p = _pub("dau", table="Table 1", dataset="cifar10", scheme=scheme, quantity="avg_disparity")
    return "CIFAR-10 Avg. Disparity (dense / sparse): " + "; ".join(
        f"{m} " + " / ".join(_fmt(v) for v in g.sort_values("sparsity").value) for m, g in p.groupby("method", sort=False))


def _published_runtime() -> str:
    p = _pub("dau", table="Table 1", dataset="cifar10", quantity="runtime_min")
    d = p[p.method == "dau"].set_index("scheme").value
    re = p[p.method == "retrain"].set_index("scheme").value
    shares = [f"{s} {100 * d[s] / re[s]:.0f} %" for s in d.index if s in re.index]
    return "CIFAR-10 DAU / Retrain minutes: " + ", ".join(f"{s} {d[s]:.2f} / {re[s]:.2f}" for s in d.index if s in re.index) + \
        (f" ({', '.join(shares)})" if shares else "")


def _published_contrastive(quantity: str, when: str) -> str:
    p = _pub("contrastive", table="Table III", quantity=quantity, when=when)
    return ", ".join(f"{m} {v:g}" for m, v in zip(p.model, p.value))


def _published_ablation(quantity: str) -> str:
    p = _pub("contrastive", table="Table IV", quantity=quantity)
    before = p[p.when == "before"].value
    after = p[p.when == "after"]
    return (f"Table IV ({'ACC' if quantity == 'acc_pct' else 'MIA'}, MoCo CIFAR-10): before {before.iloc[0]:g}; after "
            + ", ".join(f"{' + '.join(ABLATION_TERMS[x] for x in k.split('+'))} {v:g}" for k, v in zip(after.terms, after.value)))


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
        Claim("dau", "Class-wise forgetting: DAU reaches UA >= 99 and MIA-Efficacy >= 99 with RA and TA within 3 points of "
              "retrain, dense and sparse", _published_dau("class"), dau_class,
              "the DAU learning rates, loss weights and attacker pre-training lost their numbers in the stored text "
              "(results/*/02_sweeps)", sweeps="02_sweeps"),
        Claim("dau", "Random forgetting: DAU has a lower Avg. Disparity than FT, GA, FF and IU, dense and sparse",
              _published_dau("random"), dau_random, "as above; IU's alpha is not given by either Wfisher source",
              sweeps="02_sweeps"),
        Claim("dau", "DAU runs in at most 15 % of retrain's time (retrain on the original's schedule)", _published_runtime(),
              dau_runtime),
        Claim("dau", "The Barlow Twins term lowers Avg. Disparity (higher UA and MIA-Efficacy) (Table 2)",
              "stated: consistently higher UA and MIA-Efficacy with it", dau_barlow),
        Claim("contrastive", "EncoderMI is well above chance (>= 60 %) on the SSL encoders before unlearning",
              "Table III: " + _published_contrastive("mia_acc_pct", "before"), contrastive_before,
              "the paper trains 1,600 epochs to overfit; its EncoderMI variant is described in words only",
              sweeps="03_sweeps"),
        Claim("contrastive", "After gradient-penalty unlearning EncoderMI is within 3 points of 50 % with at most 10 points "
              "of accuracy lost, for each SSL method", "Table III: " + _published_contrastive("mia_acc_pct", "after"),
              contrastive_after),
        Claim("contrastive", "The supervised model's member and non-member top-1 confidences meet after unlearning, at "
              "little cost in test accuracy (Table VII)", "Table VII (CIFAR-10 ResNet-18)", contrastive_supervised),
        Claim("contrastive", "Ablation (Table IV): the gradient penalty is what disables the attack: every combination "
              "with GP leaves EncoderMI within 3 points of 50 %, MNorm + MLoss without it does not",
              _published_ablation("mia_acc_pct"), contrastive_ablation_attack),
        Claim("contrastive", "Ablation (Table IV): the member loss keeps accuracy (GP + MLoss above GP alone, all three "
              "above MNorm + GP) and MNorm alone loses the most", _published_ablation("acc_pct"),
              contrastive_ablation_utility),
        Claim("careful", "Sanity check: retrained models score at chance under every attack", "AUC 0.5 by construction",
              careful_sanity),
        Claim("careful", "Per-example attacks (U-LiRA, RMIA) are stronger than population attacks, on the original and on "
              "most unlearned models", "Hayes et al. 2024",
              careful_stronger),
        Claim("careful", "Some methods that look private to a population attack are not private to per-example attacks",
              "Hayes et al. 2024: inexact methods give a false sense of privacy", careful_false_privacy),
        Claim("contrastive", "Beyond the paper: an attacker refitted on the unlearned encoder still separates forgotten "
              "from unseen samples", "not examined by the paper", contrastive_refit),
    ]


# --------------------------------------------------------------------------- writing


def _sweep_links(root: Path, profile: str, folder: str) -> str:
    """Links to the sweeps of results/<profile>/<folder> (its README, else each JSON file); '' if none."""
    d = root / profile / folder if folder else None
    if d is None or not d.is_dir():
        return ""
    files = [d / "README.md"] if (d / "README.md").exists() else sorted(d.glob("*.json"))
    return ", ".join(f"[{f.relative_to(root)}]({f.relative_to(root)})" for f in files)


def _run_line(root: Path, profile: str, notebook: str) -> str:
    """Each results folder's last invocation (params.json); when that invocation ran part of the notebook and kept
    the earlier runs' tables (`carried`), the line says so: those tables' commit and time are in their .meta.json."""
    runs = Results(root, profile, notebook).runs()

    def carried(r):
        n = len(r.get("carried") or [])
        return f"; the last of several invocations, {n} files kept from earlier ones name their own runs" if n else ""

    return "; ".join(f"[{r['folder']}]({r['folder']}/) ({r.get('device', '?')}; commit {str(r.get('git_commit', '?'))[:9]}; "
                     f"{r.get('seconds', '?')} s{carried(r)})" for r in runs) or "not run"


def build(root: Path) -> str:
    """The report's Markdown, from the results under `root`."""
    lines = ["# Reproduction report", "",
             "Generated by `python run_all.py --report` from the results folders; do not edit by hand. Verdicts: "
             "reproduced, partly, not reproduced, not run. Each profile's cell gives our figure (mean ± sd over the seeds "
             "named), its verdict and the files it comes from. Profiles: quick (8x8 digits, minutes), cpu (MNIST / CIFAR-10 "
             "with small_cnn on 2 CPU cores), paper (the papers' networks, a GPU). A verdict on one seed is provisional: "
             "one seed is not evidence, and each cell names the seeds it rests on. A claim made for dense and sparse "
             "models, checked on one of them, is at most partly reproduced. Rules behind each verdict: "
             "`unlearnlib/report.py`.", ""]
    counts = {p: dict.fromkeys(VERDICTS, 0) for p in PROFILES}
    for paper, notebook in NOTEBOOKS.items():
        lines += [f"## {TITLES[paper]}", "", (f"Published figures: {source(paper)}" if paper in PAPERS else
                                              "Claims from Hayes et al. (2024) and checks of this project's own."), "",
                  "Runs: " + " | ".join(f"{p}: {_run_line(root, p, notebook)}" for p in PROFILES), "",
                  "| claim | published | " + " | ".join(PROFILES) + " |", "| --- | --- | " + " | ".join("---" for _ in PROFILES) + " |"]
        notes = []
        for c in [c for c in claims() if c.paper == paper]:
            cells = []
            for p in PROFILES:
                r = Results(root, p, notebook)
                try:
                    o = c.check(r) if r.folders else None
                except (KeyError, IndexError, AttributeError, ValueError) as exc:  # a partial run lacks a row
                    o = Outcome(f"incomplete result ({type(exc).__name__}: {exc})", "not run", [])
                verdict = o.verdict if o else "not run"
                counts[p][verdict] += 1
                if o is None:  # no notebook result; a sweep of the claim at this profile is still evidence, linked
                    tried = _sweep_links(root, p, c.sweeps) if c.sweeps else ""
                    cells.append("**not run**" + (f" (the notebook; measured at this profile: {tried})" if tried else ""))
                    continue
                links = ", ".join(f"[{Path(e).name}]({e})" for e in o.evidence)
                cells.append(f"**{o.verdict}**: {o.value}" + (f" ({links})" if links else ""))
                if o.verdict in ("partly", "not reproduced") and (c.unspecified or c.sweeps):
                    tried = _sweep_links(root, p, c.sweeps)
                    notes.append(f"- {c.text} ({p}): " + "; ".join(
                        x for x in ((f"the paper leaves unspecified: {c.unspecified}" if c.unspecified else ""),
                                    (f"sweeps tried at this profile: {tried}" if tried else "")) if x) + ".")
            lines.append(f"| {c.text} | {c.published} | " + " | ".join(x.replace("|", "/") for x in cells) + " |")
        lines += [""] + sorted(set(notes)) + ([""] if notes else [])
    lines += ["## Verdicts per profile", "", "| profile | " + " | ".join(VERDICTS) + " |",
              "| --- | " + " | ".join("---" for _ in VERDICTS) + " |"]
    lines += [f"| {p} | " + " | ".join(str(counts[p][v]) for v in VERDICTS) + " |" for p in PROFILES]
    return "\n".join(lines) + "\n"


def profile_readme(root: Path, profile: str) -> str | None:
    """results/<profile>/README.md: each notebook's run (commit, device, seeds, time), from params.json and seeds/."""
    base = root / profile
    if not base.is_dir():
        return None
    rows, origin = [], []
    for f in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        params = f / "params.json"
        if not params.exists():
            continue
        d = json.loads(params.read_text())
        seeds = sorted({int(s.stem[4:]) for s in f.glob("seeds/*/seed*.csv")})
        rows.append(f"| [{f.name}]({f.name}/) | {d.get('status', '?')} | {str(d.get('git_commit', '?'))[:12]} | "
                    f"{d.get('device', '?')} | {seeds or d.get('parameters', {}).get('OVERRIDES', {}).get('seeds', '-')} | "
                    f"{d.get('seconds', '?')} | {d.get('end_utc', '?')} |")
        origin += [f"| [{f.name}]({f.name}/) | {commit[:12]}{' +dirty' if commit.endswith('+dirty') else ''} | {first} | "
                   f"{last} | {', '.join(items)} |" for commit, (first, last, items) in provenance(f).items()]
    if not rows:
        return None
    notes = ["", "What ran, what it cost and what was carried over, in words: [NOTES.md](NOTES.md)."] \
        if (base / "NOTES.md").exists() else []
    return "\n".join([f"# results/{profile}", "", "Generated by `python run_all.py --report` from each folder's params.json "
                      "(the last invocation) and seeds/ (every seed merged into its tables). Claims and verdicts: "
                      "[../REPRODUCTION.md](../REPRODUCTION.md).", *notes, "",
                      "| notebook | status | commit | device | seeds | seconds (last invocation) | finished (UTC) |",
                      "| --- | --- | --- | --- | --- | --- | --- |", *rows, "",
                      "## Where each table and seed row comes from", "",
                      "A notebook's folder may merge several invocations (one seed or one part each): each table's "
                      ".meta.json and each per-seed row's seeds/<table>/seed<N>.json name the commit that wrote it. +dirty: "
                      "tracked files differed from the commit; until 2026-11-27 that counted results/ too, so a run "
                      "started in a checkout where an earlier run had just published was marked +dirty.", "",
                      "| notebook | commit | first written (UTC) | last written (UTC) | what |", "| --- | --- | --- | --- | --- |",
                      *origin, ""])


def provenance(folder: Path) -> dict[str, tuple[str, str, list[str]]]:
    """The commits behind a results folder: for each, the first and last time it wrote something and what it wrote
    (tables, from their .meta.json; per-seed rows, from seeds/<table>/seed<N>.json, each of a seed's parts under its
    own commit where the sidecar lists parts), oldest commit first."""
    found: dict[str, list] = {}

    def add(meta: Path, what: str) -> None:
        try:
            d = json.loads(meta.read_text())
        except (OSError, ValueError):
            return
        parts = d.get("parts") if isinstance(d, dict) else None
        if isinstance(parts, list) and parts and all(isinstance(q, dict) and q.get("git_commit") for q in parts):
            # a seed run in parts (one sparsity or scheme each): each part under the commit that computed it
            for q in parts:
                rows = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in q.items()
                                if k not in ("git_commit", "device", "time_utc"))
                found.setdefault(str(q["git_commit"]), []).append((str(q.get("time_utc", "?")),
                                                                   f"{what} ({rows})" if rows else what))
        elif isinstance(d, dict) and d.get("git_commit"):
            found.setdefault(str(d["git_commit"]), []).append((str(d.get("time_utc", "?")), what))

    for meta in sorted(folder.glob("*.meta.json")):
        add(meta, meta.name[: -len(".meta.json")])
    for meta in sorted(folder.glob("seeds/*/seed*.json")):
        add(meta, f"{meta.parent.name} seed {meta.stem[4:]}")
    out = {}
    for commit, entries in sorted(found.items(), key=lambda kv: min(t for t, _ in kv[1])):
        times = sorted(t for t, _ in entries)
        out[commit] = (times[0], times[-1], sorted({w for _, w in entries}))
    return out


def careful_readme(root: Path, profile: str) -> str | None:
    """results/<profile>/04_careful_evaluation/README.md: notebook 04's findings in words and tables, from its
    attacks_all and findings tables and their metadata; None where the notebook has not run at this profile."""
    r = Results(root, profile, NOTEBOOKS["careful"])
    t, f = _careful(r), r.table("findings", first=True)
    if t is None or f is None or "retrain" not in t.index:
        return None
    folder = r.folders[0]
    meta = json.loads((folder / "findings.meta.json").read_text()) if (folder / "findings.meta.json").exists() else {}
    fit = t.loc["original"] if "original" in t.index else None
    sanity = careful_sanity(r)
    pop, per = _distances(t)
    f_floor = t.loc["retrain", "forgetting_quality"]

    # with no membership signal in the original, "private" after unlearning tests nothing
    powerless = "original" in per.index and per["original"] <= per["retrain"] + 0.05

    def verdict(m) -> str:
        if powerless and m.private_to_per_example:
            return "untested: the original is as private as this (no membership signal to remove)"
        if m.looks_private_to_population and not m.private_to_per_example:
            if powerless:  # nothing of membership to leave behind: the per-example attacks see the unlearning itself
                return "the per-example attacks detect the unlearning itself (the original leaks no membership to them)"
            return "**false sense of privacy**: private to the population attacks, not to the per-example ones"
        if m.private_to_per_example:
            return "survives the per-example attacks" + ("" if m.looks_private_to_population else
                                                         " (though a population attack sees it)")
        return "not private to either kind"

    def cols(row) -> str:
        return " | ".join(f"{row[c]:.3f}" for c in ("threshold_auc", "svc_auc", "ulira_auc", "ulira_tpr_1pct",
                                                     "ulira_tpr_0.1pct", "rmia_auc", "rmia_tpr_1pct",
                                                     "forgetting_quality"))
    survive = f[f.private_to_per_example].method.tolist()
    fooled = f[f.looks_private_to_population & ~f.private_to_per_example].method.tolist()
    low_f = [m for m in f.itertuples() if m.forgetting_quality < f_floor - 0.1]
    lines = [f"# Notebook 04 at {profile}: population against per-example attacks", "",
             "Generated by `python run_all.py --report` from this folder's `attacks_all.csv`, `findings.csv` and their "
             "metadata; do not edit by hand. The executed notebook: "
             "[04_careful_evaluation.ipynb](04_careful_evaluation.ipynb).", "",
             "## What ran", "",
             f"- {meta.get('dataset', '?')} ({meta.get('source', '?')}), model {meta.get('model', '?')}, profile {profile}, "
             f"design seed {meta.get('seeds', '?')}",
             f"- {int(t.loc['retrain', 'n_shadows'])} shadows, each trained on the {meta.get('always_trained', '?')} always-"
             f"trained samples and {meta.get('forget_per_shadow', '?')} of the {meta.get('targets', '?')} targets, then "
             f"forgetting those targets with every method; {meta.get('validation', '?')} validation samples (never trained "
             f"on), {meta.get('population', '?')} population samples from the test part",
             f"- the shadows' training: `{meta.get('train', '?')}`",
             f"- commit {str(meta.get('git_commit', '?'))[:12]}, {meta.get('device', '?')}, {meta.get('runner', '?')}, "
             f"this invocation's shadow cell {meta.get('shadow_seconds', '?')} s, finished {meta.get('time_utc', '?')}"]
    if "shadow_compute_seconds" in meta:
        lines.append(f"- the shadows' training and unlearning, as measured when each was computed (cached ones keep their "
                     f"times): {meta['shadow_compute_seconds']} s in all, {meta.get('seconds_per_shadow', '?')} s per shadow")
    if fit is not None:
        lines.append(f"- how well the originals fit their training data (the source of membership signal): retain "
                     f"sample {fit.retain_acc_pct:.2f} %, population (test) {fit.test_acc_pct:.2f} %, a gap of "
                     f"{fit.retain_acc_pct - fit.test_acc_pct:.1f} points")
    lines += ["", "## Sanity check", "", f"{sanity.value}: **{sanity.verdict}** (retrained models never saw a target, so "
              "every attack should be at chance, AUC 0.5; their distance from it is this run's noise floor).", "",
              "## Every model, population and per-example attacks side by side", "",
              "AUC 0.5 and a TPR equal to the FPR are chance. Forgetting quality F is the competition's score (1: no "
              f"target told apart from retrained models; retrained models' own F, {f_floor:.3f}, is the estimate's floor "
              "at this number of shadows). Run time: mean seconds per shadow.", "",
              "| model | threshold AUC | SVC AUC | U-LiRA AUC | U-LiRA TPR@1% | U-LiRA TPR@0.1% | RMIA AUC | RMIA TPR@1% | "
              "F | MIA-Efficacy | forget / retain / test acc. (%) | run time (s) |",
              "| --- | " + " | ".join("---" for _ in range(11)) + " |"]
    lines += [f"| {m} | {cols(row)} | {row.mia_efficacy_pct:.1f} | {row.forget_acc_pct:.1f} / {row.retain_acc_pct:.1f} / "
              f"{row.test_acc_pct:.1f} | {row.runtime_s:.1f} |" for m, row in t.iterrows()]
    lines += ["", "## Does each method's privacy claim survive the stronger attack?", "",
              f"Rule (the notebook's): a kind of attack (population: threshold and SVC; per-example: U-LiRA and RMIA) "
              f"finds a method private when its larger |AUC - 0.5| is within 0.05 of retrained models' "
              f"(population {pop['retrain']:.3f}, per-example {per['retrain']:.3f}).", "",
              "| method | population: larger abs(AUC - 0.5) | per-example: larger abs(AUC - 0.5) | F | verdict |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {m.method} | {m.population_auc_distance:.3f} | {m.per_example_auc_distance:.3f} | "
              f"{m.forgetting_quality:.3f} | {verdict(m)} |" for m in f.itertuples()]
    lines += ["", "In short:",
              f"- Before unlearning, the original: population {pop['original']:.3f} from chance, per-example "
              f"{per['original']:.3f}" + (" (within the noise: the per-example attacks find no membership in the "
                                          "original either, so no privacy claim is tested at this profile)." if powerless
                                          else ".") if "original" in pop else None,
              (f"- Methods within the per-example attacks' noise: {', '.join(survive) or 'none'} (untested, as above)."
               if powerless else f"- Methods whose privacy survives the per-example attacks: {', '.join(survive) or 'none'}."),
              f"- Methods that look private only to the population attacks: {', '.join(fooled) or 'none'}.",
              "- Methods whose outputs on the forgotten targets the competition's score tells apart from retrained "
              f"models' (F more than 0.1 below retrained models' {f_floor:.3f}): "
              + (", ".join(f"{m.method} ({m.forgetting_quality:.3f})" for m in low_f) or "none")
              + ". F compares output distributions, so it also flags a method that changed the model in other ways "
              "(lost accuracy, for instance), which the AUC rule does not.",
              "", "Figures: [per_example_vulnerability.png](per_example_vulnerability.png) (per-example epsilon and U-LiRA "
              "gap per method), [most_exposed.png](most_exposed.png) (the targets that stay most exposed). Every "
              "target's numbers: [per_example.csv](per_example.csv).", ""]
    return "\n".join(x for x in lines if x is not None) + "\n"


def write(root: Path) -> list[Path]:
    """Write REPRODUCTION.md under `root` and README.md for the quick and cpu profiles; return the paths."""
    root = Path(root)
    out = [root / "REPRODUCTION.md"]
    out[0].write_text(build(root))
    for p in ("quick", "cpu"):
        text = profile_readme(root, p)
        if text:
            (root / p / "README.md").write_text(text)
            out.append(root / p / "README.md")
    for p in PROFILES:
        try:
            text = careful_readme(root, p)
        except (KeyError, IndexError, AttributeError, ValueError) as exc:  # a partial or older table: skip, say so
            print(f"results/{p}/{NOTEBOOKS['careful']}/README.md not written: its tables lack {exc}")
            text = None
        if text:
            path = root / p / NOTEBOOKS["careful"] / "README.md"
            path.write_text(text)
            out.append(path)
    return out
