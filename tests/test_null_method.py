"""A method that does nothing earns no verdict above "not reproduced" (GUIDE.md, "A verdict is evidence").

From the committed results of each profile, every unlearning method's rows are replaced by the original's (the model
before unlearning, counted as the method), then every claim is judged by its room's rule. Only a claim declared
`null_exempt` (about the attacks, the reference or the original's signal, not a method's unlearning) may pass.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from unlearnlib import report
from unlearnlib.papers import careful

ROOT = Path(__file__).resolve().parents[1] / "results"
KEEP = ("original", "retrain")  # the model before unlearning, and the reference every disparity is measured against


def _stored(folder: Path, table: str) -> list[Path]:
    """The row-store files (copies) that the view `folder` shows for `table` (rows.json): its config's, and those
    lending it rows (`lent`)."""
    index = folder / "rows.json"
    entry = json.loads(index.read_text()).get(table) if index.exists() else None
    return [folder.parent / e["rows"] for e in [entry, *entry.get("lent", [])]] if entry else []


def _null_table1(t: pd.DataFrame) -> pd.DataFrame:
    """Notebook 02's rows: each method's metrics are its setting's original's; Avg. Disparity recomputed vs retrain."""
    t = t.copy()
    # every measured column of the original (accuracies, every attack's efficacy), run time aside
    cols = [c for c in t.select_dtypes("number") if c not in ("seed", "sparsity", "runtime_s", "avg_disparity")
            and not c.startswith(("orig_", "published"))]
    keys = [k for k in ("seed", "scheme", "sparsity") if k in t]
    for _, g in t.groupby(keys):
        o = g[g.method == "original"]
        re = g[g.method == "retrain"]
        if o.empty or re.empty:
            continue
        rows = g.index[~g.method.isin(KEEP)]
        t.loc[rows, cols] = o[cols].to_numpy().repeat(len(rows), axis=0)
        four = ["ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct"]
        t.loc[rows, "avg_disparity"] = float((o[four].to_numpy() - re[four].to_numpy()).__abs__().mean())
    return t


def _null_02(folder: Path) -> None:
    for p in [folder / "table1_seeds.csv", *_stored(folder, "table1")]:
        if p.exists():
            _null_table1(pd.read_csv(p)).to_csv(p, index=False)
    p = folder / "table2_ablation.csv"
    if p.exists():  # DAU with and without its Barlow term: both the original, so both alike
        t = pd.read_csv(p)
        for _, g in t.groupby("scheme"):
            t.loc[g.index, [c for c in t if c not in ("scheme", "barlow_lambda")]] = g.iloc[[0]].drop(
                columns=["scheme", "barlow_lambda"]).to_numpy().repeat(len(g), axis=0)
        t.to_csv(p, index=False)


def _null_01(folder: Path) -> None:
    methods = ["naive_retrain", "random_label", "amnesiac"]
    for p in [*_stored(folder, "table1_mia_recall"), folder / "table1_mia_recall.csv"]:
        if p.exists():  # every epoch's recall is epoch 0's: the original's
            t = pd.read_csv(p, dtype={"epoch": str})
            for _, g in t.groupby([c for c in ("seed", "scheme") if c in t]):
                t.loc[g.index, methods] = g[g.epoch == "0"][methods].to_numpy().repeat(len(g), axis=0)
            t.to_csv(p, index=False)
    for p in [*_stored(folder, "accuracy_over_epochs"), folder / "accuracy_over_epochs.csv"]:
        if p.exists():  # every epoch is epoch 0's (the claims read every stored seed)
            t = pd.read_csv(p, dtype={"epoch": str})
            keys = [c for c in ("seed", "scheme", "method") if c in t]
            cols = [c for c in t if c not in ("epoch", *keys) and not c.startswith("_")]
            for _, g in t.groupby(keys):
                t.loc[g.index, cols] = g[g.epoch == "0"][cols].to_numpy().repeat(len(g), axis=0)
            t.to_csv(p, index=False)


def _null_03(folder: Path) -> None:
    for p in [*_stored(folder, "table2_3_ssl_methods"), folder / "table2_3_ssl_methods.csv"]:
        if p.exists():  # after unlearning (either attacker) = before
            t = pd.read_csv(p)
            cols = [c for c in t if c not in ("ssl", "model", "seed", "runtime_s") and not c.startswith("published")]
            for _, g in t.groupby([c for c in ("seed", "ssl") if c in t]):
                t.loc[g.index, cols] = g[g.model == "before"][cols].to_numpy().repeat(len(g), axis=0)
            t.to_csv(p, index=False)
    for p in [*_stored(folder, "table7_supervised"), folder / "table7_supervised.csv"]:
        if p.exists():
            t = pd.read_csv(p)
            cols = [c for c in t if c not in ("method", "seed", "runtime_s")]
            for _, g in t.groupby([c for c in ("seed",) if c in t] or (lambda i: 0)):
                rows = g.index[g.method == "after"]
                t.loc[rows, cols] = g[g.method == "before"][cols].to_numpy().repeat(len(rows), axis=0)
            t.to_csv(p, index=False)
    p = folder / "table4_ablation_full.csv"
    if p.exists():  # every combination leaves the encoder as it was
        t = pd.read_csv(p)
        for c in [c for c in t if c.startswith("after_")]:
            if f"before_{c[6:]}" in t:
                t[c] = t[f"before_{c[6:]}"]
        t.to_csv(p, index=False)


def _null_04(folder: Path) -> None:
    p = folder / "attacks_all.csv"
    if not p.exists():
        return
    t = pd.read_csv(p)
    cols = [c for c in t if c not in ("model", "runtime_s", "n_shadows")]
    rows = t.index[~t.model.isin(KEEP)]
    t.loc[rows, cols] = t[t.model == "original"][cols].to_numpy().repeat(len(rows), axis=0)
    t.to_csv(p, index=False)
    careful.findings(t).to_csv(folder / "findings.csv", index=False)


NULL = {"amnesiac_ml": _null_01, "dau": _null_02, "contrastive": _null_03, "careful": _null_04}


@pytest.mark.parametrize("profile", ["quick", "cpu", "paper"])
def test_a_method_that_does_nothing_earns_nothing(profile, tmp_path):
    judged = 0
    if (ROOT / profile / "store").is_dir():  # the row store the views' rows.json point into (a copy, nulled below)
        shutil.copytree(ROOT / profile / "store", tmp_path / profile / "store")
    for paper, room in report.PAPER_ROOMS.items():
        real = report.results(ROOT, profile, paper)
        for f in real.folders:
            shutil.copytree(f, tmp_path / profile / f.name, dirs_exist_ok=True)
            NULL[paper](tmp_path / profile / f.name)
        r = report.results(tmp_path, profile, paper)
        if not r.folders:
            continue
        for c in room.claims():
            o = c.check(r)
            if o is None or c.null_exempt:
                continue
            judged += 1
            assert o.verdict not in ("reproduced", "partly"), f"{profile} {paper}: {c.text!r} -> {o.verdict}: {o.value}"
    assert judged >= (4 if profile == "paper" else 10)
