"""Where things live: repository root, results, caches and the data root.

Never relative to the current working directory: nbval runs a notebook in its own
folder and papermill in the caller's, so every path is built from these functions.
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout holding `run_all.py` (UNLEARNLIB_ROOT overrides).

    Found from the package's own location (editable install), else by walking up from
    the working directory, so an installed copy still writes results into the checkout.
    """
    env = os.environ.get("UNLEARNLIB_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    for start in (_PACKAGE_DIR.parent, Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "run_all.py").is_file() and (candidate / "unlearnlib").is_dir():
                return candidate
    raise FileNotFoundError(
        "cannot find the unlearnlib checkout (a folder with run_all.py and unlearnlib/); "
        "run from inside it or set UNLEARNLIB_ROOT"
    )


def results_root() -> Path:
    """`results/` of the checkout (UNLEARNLIB_RESULTS overrides)."""
    env = os.environ.get("UNLEARNLIB_RESULTS")
    return Path(env).expanduser().resolve() if env else repo_root() / "results"


def cache_root() -> Path:
    """Decoded datasets, downloads and trained original models; outside the repository.

    UNLEARNLIB_CACHE, else $XDG_CACHE_HOME/unlearnlib, else ~/.cache/unlearnlib.
    """
    env = os.environ.get("UNLEARNLIB_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "unlearnlib"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def data_root(root: str | os.PathLike | None = None) -> Path | None:
    """The offline data folder: the argument, else UNLEARNLIB_DATA, else None."""
    if root is not None:
        return Path(root).expanduser().resolve()
    env = os.environ.get("UNLEARNLIB_DATA")
    return Path(env).expanduser().resolve() if env else None
