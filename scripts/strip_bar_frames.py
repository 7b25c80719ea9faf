"""Remove progress-bar frames from executed notebooks under results/ (in place), keeping every table, figure and message.

Runs before the batch setting of tqdm (run_all's BATCH_ENV) wrote one stderr frame per refresh of each bar: thousands
of lines a reader scrolls past (notebook 01 at cpu: 936 KB). This drops from stderr streams every tqdm frame (a
segment with "NN%|" or "| n/N [") and the "IProgress not found" warning of environments without ipywidgets, and
removes a stream left empty. Other stderr text stays. Run from the repository root:

    python scripts/strip_bar_frames.py results

It prints each notebook rewritten, with its size before and after.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

FRAME = re.compile(r"\d+%\|[^\n]*\||\|\s*\d+/\d+\s*\[")
WARNING = ("TqdmWarning: IProgress not found", "from .autonotebook import tqdm as notebook_tqdm")


def clean(text: str) -> str:
    kept = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p.strip() and not FRAME.search(p) and not any(w in p for w in WARNING)]
        if parts:
            kept.append(parts[-1])
        elif not line:
            kept.append(line)
    out = "\n".join(kept)
    return out if out.strip() else ""


def strip(path: Path) -> tuple[int, int] | None:
    raw = path.read_text()
    nb = json.loads(raw)
    changed = False
    for cell in nb.get("cells", []):
        outs = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                new = clean(text)
                if new != text:
                    changed = True
                if not new:
                    continue
                o["text"] = new.splitlines(True)
            outs.append(o)
        if "outputs" in cell:
            cell["outputs"] = outs
    if not changed:
        return None
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return len(raw.encode()), path.stat().st_size


def main(roots: list[str]) -> None:
    for root in roots:
        for path in sorted(Path(root).rglob("*.ipynb")):
            sizes = strip(path)
            if sizes:
                print(f"{path}: {sizes[0] / 1024:.0f} KB -> {sizes[1] / 1024:.0f} KB")


if __name__ == "__main__":
    main(sys.argv[1:] or ["results"])
