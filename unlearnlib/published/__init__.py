"""The three papers' published figures as data, one CSV per paper, each row naming its table.

Notebooks and the reproduction report read them here; no published number is typed into a notebook.
Each file opens with a comment line giving the paper and how the figures were transcribed.
"""
from __future__ import annotations

from importlib import resources

import pandas as pd

PAPERS = {"amnesiac_ml": "amnesiac_ml.csv", "dau": "dau.csv", "contrastive": "contrastive.csv"}


def published(paper: str) -> pd.DataFrame:
    """The published figures of `paper` (one of PAPERS) as a long table: table, ..., quantity, value."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose one of {sorted(PAPERS)}")
    with resources.files(__package__).joinpath(PAPERS[paper]).open() as f:
        return pd.read_csv(f, comment="#", dtype={"epoch": str})


def source(paper: str) -> str:
    """The comment line that opens the paper's file: which paper, which tables, how transcribed."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose one of {sorted(PAPERS)}")
    first = resources.files(__package__).joinpath(PAPERS[paper]).read_text().splitlines()[0]
    return first.lstrip("# ")
