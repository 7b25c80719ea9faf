"""Run directories, run descriptions (git commit, device, time), tables and figures."""
from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import pandas as pd
import torch

from . import paths


def notebook_dir(profile: str, notebook: str, override: str | Path | None = None) -> Path:
    """Where a notebook writes, created: `override` (run_all's staging folder, relative paths from the repository),
    else, for a hand run, build/scratch/<profile>/<notebook>/: a notebook stepped through by hand never writes into
    the published results/, which only run_all replaces, through its staging folder and lock."""
    if override:
        d = Path(override)
    else:
        d = paths.repo_root() / "build" / "scratch" / profile / notebook
        print(f"a hand run: results go to {d.relative_to(paths.repo_root())} (python run_all.py publishes to "
              f"results/{profile}/{notebook})")
    if not d.is_absolute():
        d = paths.repo_root() / d
    d.mkdir(parents=True, exist_ok=True)
    return d


def git_commit(root: str | Path | None = None) -> str:
    """HEAD's hash (+dirty when tracked files outside results/ changed) of the checkout `root` (default: this one);
    UNLEARNLIB_GIT_COMMIT overrides it (for copies of the checkout without .git, such as a remote GPU's); else
    "unknown"."""
    env = os.environ.get("UNLEARNLIB_GIT_COMMIT")
    if env:
        return env
    try:
        root = root if root is not None else paths.repo_root()
        head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}", head.stdout.strip()):
            return "unknown"
        # results/ holds outputs, not code: a run published there earlier leaves the next run's code clean
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=None)
def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's check: avx512_bf16, AMX, or an Arm core with BF16). Where it
    does not (an AVX2-only x86 core, say), bf16 autocast still gives bf16 results but is emulated: measured on an
    AVX2-only AMD EPYC's 2 cores (2026-12-05), small_cnn trained at 16 images/s in bf16 against 82 in float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (`cpuinfo`'s "model name"), with ", AMX" where its flags list Intel's bf16 matrix unit;
    "" where the file cannot be read. Two CPUs of one instruction set compute different floats from the same seed
    (their oneDNN kernels differ: the quick profile's tables from an empty cache on an AMD EPYC with avx512_bf16 and
    on an Intel Xeon with AMX agree in no float column, 2026-12-07), so a table names the model that computed it."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return ""
    fields = dict(line.split(":", 1) for line in text.splitlines()[:64] if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    model = " ".join(fields.get("model name", "").split())
    return model + (", AMX" if model and "amx_bf16" in fields.get("flags", "").split() else "")


def describe_device(device: str | torch.device) -> str:
    """The device as a table's metadata names it: the GPU's name, or on a CPU its architecture, threads, the
    instruction set torch dispatches to (AVX2, AVX512...), whether bf16 is native there, since a profile that trains
    in bf16 on a CPU (TrainConfig.cpu_bf16) runs several times slower where it is not, and the CPU's model
    (`cpu_model`: another model computes other floats)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    text = f"{device.type}: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    if device.type == "cpu":
        text += f", {torch.backends.cpu.get_cpu_capability()}, {'native' if native_cpu_bf16() else 'no native'} bf16"
        model = cpu_model()
        text += f", {model}" if model else ""
    return text


def describe_run(device: str | torch.device = "cpu", **extra) -> dict:
    """What produced a result: commit, device, library versions, UTC time, plus `extra`."""
    return {
        "git_commit": git_commit(),
        "device": describe_device(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def save_table(df: pd.DataFrame, path: str | Path, meta: dict | None = None, floatfmt: str = ".2f",
               markdown: bool = True) -> Path:
    """Write `path` as CSV and a Markdown twin (.md) headed by `meta` (dataset, profile, seeds, device, ...).

    markdown=False: no Markdown twin (per-sample data too long to read as a table); a stale twin of an earlier run
    is removed so the folder never pairs this CSV with another run's table."""
    path = Path(path).with_suffix(".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    if markdown:
        lines = [f"# {path.stem}", ""]
        for k, v in (meta or {}).items():
            lines.append(f"- {k}: {v}")
        lines += ["", _markdown(df, floatfmt), ""]
        path.with_suffix(".md").write_text("\n".join(lines))
    else:
        path.with_suffix(".md").unlink(missing_ok=True)
    if meta:
        path.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return path


def _markdown(df: pd.DataFrame, floatfmt: str) -> str:
    cols = list(df.columns)

    def fmt(v):
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")  # a pipe in a cell would split it

    rows = ["| " + " | ".join(str(c).replace("|", "\\|") for c in cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    rows += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows)


def save_figure(fig, path: str | Path, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG: `path`, with ".png" added unless it ends so (a dot in the name, as a
    sparsity's 0.95, is kept: it is not a suffix to replace)."""
    path = Path(path)
    path = path if path.suffix == ".png" else path.with_name(path.name + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def image_grid(images: dict, rows: list, cols: list, title: str = "", cell: float = 1.2):
    """A matplotlib figure of images[(row, col)] (H, W, C): floats in [0, 1], or integers in [0, 255] (a dataset's
    raw pixels); missing cells stay blank."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(rows), len(cols), figsize=(cell * len(cols) + 1, cell * len(rows) + 0.6),
                             squeeze=False)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            img = images.get((r, c))
            if img is not None:
                img = np.asarray(img)
                img = np.clip(img / 255.0 if np.issubdtype(img.dtype, np.integer) else img, 0, 1)
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                          vmin=0, vmax=1)
            if i == 0:
                ax.set_title(str(c), fontsize=9)
            if j == 0:
                ax.set_ylabel(str(r), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def image_rows(images: dict, names: tuple[str, str]) -> pd.DataFrame:
    """Images keyed by pairs (image_grid's (row, col) -> (H, W, C) floats in [0, 1]) as table rows a row store holds:
    the pair in the columns `names`, the image's `shape` ("H W C") and its `pixels` (space-separated, 4 significant
    digits: more than a figure shows). `images_of` reads them back."""
    import numpy as np

    return pd.DataFrame([{names[0]: a, names[1]: b, "shape": " ".join(map(str, np.shape(img))),
                          "pixels": " ".join(f"{v:.4g}" for v in np.asarray(img, dtype=float).ravel())}
                         for (a, b), img in images.items()])


def images_of(rows: pd.DataFrame, names: tuple[str, str]) -> dict:
    """The images `image_rows` stored, keyed by the pair of columns `names` (as strings, as a CSV reads them back)."""
    import numpy as np

    return {(str(r[names[0]]), str(r[names[1]])): np.array(r["pixels"].split(), dtype=np.float32).reshape(
        [int(n) for n in r["shape"].split()]) for _, r in rows.iterrows()}


# an absolute path of a machine: "/" after a quote, space, bracket or line start (not inside a relative path or URL)
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/<>-])/(?:work|root|tmp|home|opt|mnt|Users|var|srv|usr|private|data)/[\w.-]")
RECORDED = {".json", ".md", ".csv", ".ipynb", ".txt"}  # what runs write; README.md and NOTES.md are written by hand


def tradeoff_figure(table, ours: tuple[str, ...], highlight: str, title: str = ""):
    """Avg. Disparity against run time per method, one panel per (sparsity, scheme) of `table` (mean_sd columns:
    avg_disparity and the run time with their _sd): circles for the methods in `ours`, squares for the others,
    `highlight` in red, error bars of the seeds' sd. The run time is the share of retrain's (`runtime_pct_retrain`,
    `store.runtime_share`) where the table holds it, else seconds. Each panel has its own scales: a class-wise
    disparity of 20 must not flatten a random-forgetting panel whose methods lie within 5."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    x = "runtime_pct_retrain" if "runtime_pct_retrain" in table else "runtime_s"
    grid = sns.FacetGrid(table, col="scheme", row="sparsity", height=3.2, aspect=1.4, sharex=False, sharey=False)

    def panel(data, **_):
        ax = plt.gca()
        ax.errorbar(data[x], data.avg_disparity, xerr=data[f"{x}_sd"].fillna(0),
                    yerr=data.avg_disparity_sd.fillna(0), fmt="none", ecolor="0.6", lw=1)
        for _, row in data.iterrows():
            mine = row.method in ours
            ax.scatter(row[x], row.avg_disparity, marker="o" if mine else "s",
                       color="C3" if row.method == highlight else "C0" if mine else "C2")
            ax.annotate(row.method, (row[x], row.avg_disparity), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")

    grid.map_dataframe(panel)
    grid.set_axis_labels("run time (% of retrain's)" if x == "runtime_pct_retrain" else "run time (s)",
                         "Avg. Disparity to retrain")
    grid.set_titles("{row_var} {row_name}, {col_var} {col_name}")
    if title:
        grid.figure.suptitle(title, y=1.03)
    return grid.figure


def vulnerability_figure(examples, title: str):
    """Notebook 04's per-example figure from its `per_example` table (model, target, epsilon, ulira_gap): left, the
    share of targets at or below each per-example epsilon (infinite ones off the chart), per model; right, the U-LiRA
    gap per model as boxes. The legend goes below the panels (inside, it hid the curves)."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    finite = examples.replace([np.inf], np.nan)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    sns.ecdfplot(finite, x="epsilon", hue="model", ax=axes[0])
    axes[0].set_xlabel("per-example epsilon (competition estimate; infinite ones off the chart)")
    axes[0].set_ylabel("share of targets")
    sns.boxplot(finite, x="model", y="ulira_gap", ax=axes[1], fliersize=2)
    axes[1].axhline(0, c="gray", ls="--")
    axes[1].tick_params(axis="x", labelrotation=30)
    axes[1].set_xlabel("")
    axes[1].set_ylabel("U-LiRA score, forgotten minus never seen")
    sns.move_legend(axes[0], "upper left", bbox_to_anchor=(0.0, -0.2), ncol=5, title=None, frameon=False)
    fig.suptitle(f"{title}\nright: boxes span the quartiles over the forgotten targets, whiskers 1.5 x IQR, "
                 f"points beyond")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.84, bottom=0.33, wspace=0.25)  # room for the legend below
    return fig


def vulnerability_title(dataset: str, model: str, n_shadows: int, profile: str, seed: int) -> str:
    return (f"per-example vulnerability: {dataset} / {model}, {n_shadows} shadows ({profile}, seed {seed}: one seed, "
            f"no averaging)")


def absolute_paths(root: Path) -> list[str]:
    """Every absolute path in the files runs wrote under `root`, as 'file: ...context...'. Committed results should
    hold none: data sources are named by file name, size and digest, folders relative to the repository."""
    found = []
    for f in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix in RECORDED
                    and p.name not in ("README.md", "NOTES.md")):
        text = f.read_text(errors="replace")
        found += [f"{f.relative_to(root)}: {text[max(0, m.start() - 30):m.end() + 30]!r}" for m in ABSOLUTE_PATH.finditer(text)]
    return found
