"""Notebook 00, the quickstart: forget a random share, retrain and fine-tune, evaluate. No paper's claims."""
from __future__ import annotations

from dataclasses import dataclass

from ..setting import PROFILE_NAMES
from .base import MethodsRun, from_setting

NOTEBOOK = "00_quickstart"


@dataclass(frozen=True)
class QuickstartConfig(MethodsRun):
    """Notebook 00: forget a random share, retrain and fine-tune, evaluate."""

    methods: tuple[str, ...] = ("retrain", "finetune")  # FT at its preset (methods/finetune.py)
    forget_fraction: float = 0.1  # share of the training set forgotten, chosen at random
    seed: int = 0  # split, training and attack seed


PROFILES = {p: from_setting(p, QuickstartConfig) for p in PROFILE_NAMES}
CLAIMS: list = []
