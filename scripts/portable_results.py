"""One-off: rewrite the absolute paths in the committed results in place, as the code now writes them (issue 38).

The runs behind results/ recorded the folders of the machines that made them: the offline data (../shared/data here,
.device/data on the GPU machine, which device-prep fills with copies of the same files), the decoded-data cache, the
staging folders of run_all, the notebooks' paths in papermill's metadata and the virtual environment in warnings.
Nothing is rerun: each path is replaced by what the code writes now (`unlearnlib.data.describe_source`: file name,
size and SHA-256 of the shared copy; folders relative to the repository; `<venv>`, `<cache>` for the rest).

    python scripts/portable_results.py [results]     # prints each file changed and how many paths it held
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from unlearnlib.data import describe_source
from unlearnlib.results import absolute_paths

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SUFFIXES = {".json", ".md", ".csv", ".ipynb", ".txt"}
WRITTEN_BY_HAND = {"README.md", "NOTES.md"}  # instructions may name a folder to use (e.g. a cache on a GPU machine)
# a path starts at "/" after a quote, space, bracket or line start (not inside a relative path or a URL)
START = r"(?<![\w.:/<>-])"
RULES = [
    # an offline data file, with the decoded cache it was read back from
    (re.compile(START + r"(?:/[^\s\"'(),]+)?/(?:shared/data|\.device/data)/([\w.-]+)( \(decoded cache [^)]*\))?"),
     lambda m: describe_source(SHARED / m.group(1)) + (", decoded (cached)" if m.group(2) else "")),
    (re.compile(START + r"/[^\s\"']*?/(?:\.venv|venv)/lib/python3\.\d+/site-packages/"), lambda m: "<venv>/site-packages/"),
    (re.compile(START + r"(?:/root/\.cache/unlearnlib|/tmp/ulcache)[^\s\"']*"), lambda m: "<cache>"),
    (re.compile(START + r"/[^\s\"']*?/(results/(?:smoke|quick|cpu|paper)\b)"), lambda m: m.group(1)),
    (re.compile(START + r"/[^\s\"']*?/(notebooks/\d\d_\w+\.ipynb)"), lambda m: m.group(1)),
    # a run's scratch results root outside the checkout (e.g. /tmp/r01s1/paper/<notebook>): the profile's folder
    (re.compile(START + r"/tmp/[\w.-]+/(smoke|quick|cpu|paper)/"), lambda m: f"results/{m.group(1)}/"),
]


def rewrite(text: str) -> tuple[str, int]:
    n = 0
    for pattern, repl in RULES:
        text, k = pattern.subn(repl, text)
        n += k
    return text, n


def recorded_files(root: Path) -> list[Path]:
    """The files runs wrote under `root` (tables, their Markdown twins and metadata, executed notebooks, sweeps)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES and p.name not in WRITTEN_BY_HAND)


def main(root: Path) -> None:
    for f in recorded_files(root):
        text = f.read_text()
        new, n = rewrite(text)
        if n:
            f.write_text(new)
            print(f"{f.relative_to(root)}: {n}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results"
    main(target)
    for line in absolute_paths(target):
        print(f"  still absolute: {line}")
