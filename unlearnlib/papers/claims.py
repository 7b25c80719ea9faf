"""The vocabulary of claims: what a rule returns (Outcome), a claim (Claim), and the results it reads (Results).

A claim's rule is a function of rows (a DataFrame a notebook holds in memory, or reads back from its results
folder), so the notebook's checks cell and the report (`unlearnlib.report`) call the same function: each
threshold is written once, in the paper's room (`unlearnlib.papers.<paper>`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..published import published
from ..store import pm, view_rows

VERDICTS = ("reproduced", "partly", "not reproduced", "untestable here", "not run", "error")
# a privacy claim whose signal is absent from the original before unlearning: nothing to remove, nothing tested
UNTESTABLE = "untestable here"


@dataclass
class Outcome:
    """One profile's result for one claim."""

    value: str
    verdict: str
    evidence: list[str] = field(default_factory=list)  # result files (relative to the results root)


@dataclass
class Claim:
    paper: str  # amnesiac_ml | dau | contrastive | careful
    text: str
    published: str  # the paper's figure (from unlearnlib/published) or its words
    check: Callable[["Results"], Outcome | None]  # None: not run at this profile
    unspecified: str = ""  # what the paper leaves open (shown where the claim fails)
    sweeps: str = ""  # folder of results/<profile>/ holding the sweeps tried for it, linked where the claim fails
    # why a method that does nothing may earn this claim (a claim about the attacks or the original, not a method's
    # unlearning); "" for every claim a method earns: tests/test_null_method.py holds those to "not reproduced"
    null_exempt: str = ""


class Results:
    """The result folder of one notebook at one profile, results/<profile>/<notebook> (`folders`: it, where it
    exists). The folders of other runs kept beside it (an earlier config's, a stand-in model's) are records the report
    does not read: a claim at a profile rests on that profile's own run."""

    def __init__(self, root: Path, profile: str, notebook: str):
        self.root, self.profile, self.notebook = Path(root), profile, notebook
        folder = self.root / profile / notebook
        self.folders = [folder] if folder.is_dir() else []

    def table(self, name: str) -> pd.DataFrame | None:
        """`name`.csv of the folder; None if absent."""
        for f in self.folders:
            if (f / f"{name}.csv").exists():
                return pd.read_csv(f / f"{name}.csv")
        return None

    def seed_rows(self, name: str, every_seed: bool = False, **read_kw) -> pd.DataFrame | None:
        """Per-seed rows of table `name` from the row store, as the first folder whose index (rows.json) has them
        shows them (`unlearnlib.store.view_rows`; every_seed: every seed stored under the view's config, where the
        view shows only its first seed's, as notebook 01's tables of a full run), else its single-seed `name`.csv (as
        seed 0); None if no folder has either."""
        for f in self.folders:
            rows = view_rows(f, name, every_seed, **read_kw)
            if rows is not None:
                return rows
            if (f / f"{name}.csv").exists():
                return pd.read_csv(f / f"{name}.csv", **read_kw).assign(seed=0)
        return None

    def where(self, name: str) -> list[str]:
        return [str((f / f"{name}.csv").relative_to(self.root)) for f in self.folders if (f / f"{name}.csv").exists()]

    def figure(self, name: str) -> list[str]:
        """The folder's `name`.png, if there (a figure cited as evidence)."""
        return [str((f / f"{name}.png").relative_to(self.root)) for f in self.folders if (f / f"{name}.png").exists()]

    def runs(self) -> list[dict]:
        out = []
        for f in self.folders:
            p = f / "params.json"
            if p.exists():
                d = json.loads(p.read_text())
                out.append({"folder": str(f.relative_to(self.root)), **d})
        return out


def published_rows(paper: str, **where) -> pd.DataFrame:
    """The paper's published figures (unlearnlib/published) where each column equals the value given."""
    p = published(paper)
    for k, v in where.items():
        p = p[p[k] == v]
    return p


def fmt(x, digits=2):
    return "n/a" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def ms(series: pd.Series, digits=2) -> str:
    """Mean ± sd (ddof 1) of a series' non-missing values."""
    s = series.dropna()
    return pm(s.mean(), s.std(ddof=1) if len(s) > 1 else np.nan, digits)


def n_seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def seeds_of(df: pd.DataFrame) -> str:
    return n_seeds(df.seed.nunique()) if "seed" in df else "1 seed"


class Frames:
    """A notebook's rows in memory, read by a claim's rule as it reads a results folder (`Results`): table name ->
    DataFrame (per-seed rows where the report reads per-seed rows). Cites no files."""

    def __init__(self, tables: dict[str, pd.DataFrame | None]):
        self.tables = {k: v for k, v in tables.items() if v is not None}
        self.folders = []

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)

    def seed_rows(self, name: str, every_seed: bool = False, **read_kw) -> pd.DataFrame | None:
        t = self.tables.get(name)
        if t is None:
            return None
        t = t if "seed" in t else t.assign(seed=0)
        for col, kind in (read_kw.get("dtype") or {}).items():
            if col in t:
                t = t.assign(**{col: t[col].astype(kind)})
        return t

    def where(self, name: str) -> list[str]:
        return []

    def figure(self, name: str) -> list[str]:
        return []


def judge(claim: Claim, r) -> Outcome | None:
    """The claim's rule on `r` (Results or Frames); a rule that raises gives the verdict "error" with its message."""
    try:
        return claim.check(r)
    except Exception as exc:  # noqa: BLE001 - a rule's failure is shown in the report, not hidden as "not run"
        return Outcome(f"error: {type(exc).__name__}: {exc}", "error")


def beyond_spread(gain: pd.Series) -> tuple[bool, str]:
    """Whether a per-seed gain (positive: the claim's side wins) is a win: its mean above 0 and, over several seeds,
    above its standard deviation (ddof 1); one seed wins on its sign alone, provisionally. (win, words)."""
    g = gain.dropna()
    if g.empty:
        return False, "no seed to compare"
    if len(g) == 1:
        return bool(g.iloc[0] > 0), f"margin {g.iloc[0]:.2f}, one seed: provisional"
    mean, sd = g.mean(), g.std(ddof=1)
    words = "" if mean > sd else ", behind" if mean <= 0 else ", within the seeds' spread"
    return bool(mean > 0 and mean > sd), f"margin {mean:.2f} ± {sd:.2f} over {len(g)} seeds{words}"


def acceptance(claims: list[Claim], frames: Frames) -> pd.DataFrame:
    """A notebook's acceptance table: each of its paper's claims judged by the report's own rule on this run's rows
    (`frames`): claim, value, verdict. The report gives the same rows the same verdict."""
    rows = []
    for c in claims:
        o = judge(c, frames)
        rows.append({"claim": c.text, "value": o.value if o else "not run in this invocation",
                     "verdict": o.verdict if o else "not run"})
    return pd.DataFrame(rows)
