"""Result tables: CSV, a Markdown twin headed by what ran, and the metadata JSON."""
import json
from pathlib import Path
import re
import subprocess

import pandas as pd

from unlearnlib import paths, results
from unlearnlib.results import save_table


def test_save_table_writes_csv_markdown_and_meta_and_escapes_pipes(tmp_path):
    df = pd.DataFrame({"criterion": ["|RA - retrain RA| <= 3", "plain"], "value": [4.8123, 1.0], "met": [False, True]})
    path = save_table(df, tmp_path / "acceptance", {"dataset": "digits", "seeds": [0]})
    assert path == tmp_path / "acceptance.csv"
    assert pd.read_csv(path).criterion.tolist() == df.criterion.tolist()
    md = (tmp_path / "acceptance.md").read_text()
    assert "- dataset: digits" in md and "- seeds: [0]" in md
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len(rows) == 4
    # every row splits into the same three cells once escaped pipes are set aside
    assert {len(re.split(r"(?<!\\)\|", r)) - 2 for r in rows} == {3}
    assert "4.81" in rows[2] and "\\|RA - retrain RA\\|" in rows[2]
    assert json.loads((tmp_path / "acceptance.meta.json").read_text())["dataset"] == "digits"


def test_save_table_without_markdown_keeps_csv_and_meta_and_drops_a_stale_twin(tmp_path):
    """Per-sample data (thousands of rows) is written as CSV and meta only; the Markdown twin an earlier run left
    would describe other data, so it goes."""
    (tmp_path / "distributions.md").write_text("# an earlier run's table\n")
    df = pd.DataFrame({"top1": [0.1, 0.2, 0.3], "data": ["member", "member", "non-member"]})
    path = save_table(df, tmp_path / "distributions", {"seeds": [1]}, markdown=False)
    assert pd.read_csv(path).top1.tolist() == [0.1, 0.2, 0.3]
    assert not (tmp_path / "distributions.md").exists()
    assert json.loads((tmp_path / "distributions.meta.json").read_text())["seeds"] == [1]


def test_save_figure_adds_png_and_keeps_a_dot_in_the_name(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for given, written in (("plain", "plain.png"), ("sparse0.95", "sparse0.95.png"), ("named.png", "named.png")):
        fig, _ = plt.subplots()
        assert results.save_figure(fig, tmp_path / given) == tmp_path / written
        plt.close(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["named.png", "plain.png", "sparse0.95.png"]


def test_image_grid_shows_raw_pixels_and_floats_alike():
    """A dataset's uint8 pixels (0-255) and the same image as floats in [0, 1] draw the same picture (uint8 pixels
    were once clipped to 0/1, a black grid)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from unlearnlib.results import image_grid

    raw = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    fig = image_grid({("a", 0): raw, ("b", 0): raw / 255.0, ("c", 0): raw[..., :1]}, ["a", "b", "c"], [0])
    drawn = [ax.images[0].get_array() for ax in fig.axes]
    assert np.allclose(drawn[0], raw / 255.0) and np.allclose(drawn[0], drawn[1])
    assert np.allclose(drawn[2], raw[..., 0] / 255.0)
    plt.close(fig)


def test_git_commit_is_dirty_for_changed_code_not_for_changed_results(tmp_path, monkeypatch):
    """A run published into results/ changes tracked files there; the next run's code is still the commit's, so
    only a change outside results/ marks the commit +dirty."""
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("a\n1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    monkeypatch.delenv("UNLEARNLIB_GIT_COMMIT", raising=False)
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert results.git_commit() == head
    (tmp_path / "results" / "table.csv").write_text("a\n2\n")
    assert results.git_commit() == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert results.git_commit() == head + "+dirty"


def test_committed_results_hold_no_absolute_path():
    """Data sources are named by file name, size and digest, folders relative to the repository, nothing of the
    cache's location: the files runs wrote under results/ name no folder of the machines that ran them."""
    from pathlib import Path

    from unlearnlib.results import absolute_paths

    found = absolute_paths(Path(__file__).resolve().parents[1] / "results")
    assert not found, "\n".join(found[:20])


def test_the_path_scan_finds_a_planted_path(tmp_path):
    from unlearnlib.results import absolute_paths

    (tmp_path / "t.meta.json").write_text('{"source": "cifar10-jpeg.tar.gz (18.6 MiB, sha256 b9ef)", "url": "https://x/y"}')
    (tmp_path / "README.md").write_text("UNLEARNLIB_CACHE=/tmp/ulcache (an instruction, written by hand)")
    assert absolute_paths(tmp_path) == []
    (tmp_path / "t.md").write_text("- source: /home/me/data/cifar10-jpeg.tar.gz\n")
    (found,) = absolute_paths(tmp_path)
    assert found.startswith("t.md:") and "/home/me" in found


def test_a_hand_run_writes_to_scratch_never_to_the_published_results(tmp_path, monkeypatch, capsys):
    """A notebook stepped through by hand (RESULTS_DIR empty) writes under build/scratch/; results/ is run_all's."""
    from unlearnlib.results import notebook_dir

    monkeypatch.setenv("UNLEARNLIB_ROOT", str(tmp_path))
    d = notebook_dir("quick", "00_quickstart", None)
    assert d == tmp_path / "build" / "scratch" / "quick" / "00_quickstart" and d.is_dir()
    assert not (tmp_path / "results").exists() and "python run_all.py publishes to results/quick" in capsys.readouterr().out
    assert notebook_dir("quick", "00_quickstart", "results/quick/.staging/x") == tmp_path / "results/quick/.staging/x"


def _text_size_and_frames(path):
    """(bytes of an executed notebook less its figures' image data, its progress-bar frames)."""
    import re

    nb = json.loads(path.read_text())
    size, frames = len(path.read_bytes()), 0
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            for mime, data in (o.get("data") or {}).items():
                if mime.startswith("image/"):
                    size -= len(json.dumps(data))
            if o.get("output_type") == "stream":
                text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                frames += len(re.findall(r"\d+%\|[^\n\r]*\|", text))
    return size, frames


def test_executed_notebooks_under_results_are_readable():
    """Every executed notebook under results/: no progress-bar frames, under 300 KB apart from its figures
    (scripts/strip_bar_frames.py cleaned the earlier runs; run_all's BATCH_ENV keeps new ones so)."""
    root = Path(__file__).resolve().parents[1] / "results"
    bad = [f"{p.relative_to(root)}: {s / 1024:.0f} KB, {n} frames" for p in sorted(root.rglob("*.ipynb"))
           for s, n in [_text_size_and_frames(p)] if n or s > 300 * 1024]
    assert not bad, bad


def test_the_readability_check_sees_frames_and_size(tmp_path):
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": ["train:  10%|█   | 1/10 [00:01<00:09]\r"]},
        {"output_type": "display_data", "data": {"image/png": "A" * 400_000}}]}]}
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps(nb))
    size, frames = _text_size_and_frames(p)
    assert frames == 1 and size < 1024


def test_the_vulnerability_figure_keeps_its_legend_off_the_curves(tmp_path):
    """Notebook 04's per-example figure (also redrawn from a committed table by scripts/redraw_vulnerability.py):
    the legend sits below the panels, not over the curves, and the title names the seed and what the boxes are."""
    import importlib.util
    import math
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    rows = [{"model": m, "target": t, "label": 0, "epsilon": e, "ulira_gap": g}
            for m, shift in (("original", 1.0), ("retrain", 0.0), ("dau", 0.3))
            for t, (e, g) in enumerate([(0.0, shift), (0.7, shift + 0.5), (math.inf, shift - 0.2), (1.1, shift)])]
    folder = tmp_path / "04_careful_evaluation"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "per_example.csv", index=False)
    (folder / "per_example.meta.json").write_text(json.dumps({"dataset": "cifar10", "model": "small_cnn",
                                                              "n_shadows": 8, "profile": "cpu", "seeds": [3]}))
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("redraw", root / "scripts" / "redraw_vulnerability.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.redraw(folder) == folder / "per_example_vulnerability.png" and (folder / "per_example_vulnerability.png").stat().st_size > 0

    from unlearnlib.results import vulnerability_figure, vulnerability_title

    fig = vulnerability_figure(pd.DataFrame(rows), vulnerability_title("cifar10", "small_cnn", 8, "cpu", 3))
    fig.canvas.draw()
    left = fig.axes[0]
    legend = left.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["original", "retrain", "dau"]
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).y1 < left.get_window_extent(renderer).y0  # below the panel
    assert "seed 3: one seed" in fig._suptitle.get_text() and "boxes span the quartiles" in fig._suptitle.get_text()


def test_the_tradeoff_figure_scales_each_panel_to_its_own_methods():
    """Notebook 02's trade-off figure: a class-wise panel whose worst method sits at 24 must not flatten a random
    panel whose methods lie within 5 (each panel its own y range), and the x axis is the share of retrain's time."""
    import matplotlib

    matplotlib.use("Agg")
    from unlearnlib.results import tradeoff_figure

    rows = [{"scheme": sc, "sparsity": 0.0, "method": m, "avg_disparity": d, "avg_disparity_sd": 0.2,
             "runtime_pct_retrain": r, "runtime_pct_retrain_sd": 1.0}
            for sc, ds in (("random", (4.4, 3.1, 4.7)), ("class", (6.5, 0.5, 24.0)))
            for m, d, r in zip(("dau", "salun", "influence"), ds, (30.0, 18.0, 10.0))]
    fig = tradeoff_figure(pd.DataFrame(rows), ("dau", "influence"), "dau")
    panels = {ax.get_title(): ax for ax in fig.axes}
    random_top = panels["sparsity 0.0, scheme random"].get_ylim()[1]
    assert random_top < 10 < panels["sparsity 0.0, scheme class"].get_ylim()[1]
    assert panels["sparsity 0.0, scheme random"].get_xlabel() == "run time (% of retrain's)"


def test_images_stored_as_rows_come_back_for_their_figure(tmp_path):
    """image_rows / images_of: notebook 01's inversions go through the row store (a CSV) and come back, keyed by
    their (method, epoch) as strings, in their shape, to 4 significant digits; an RGB image keeps its channels."""
    import numpy as np

    from unlearnlib.results import image_rows, images_of

    rng = np.random.default_rng(0)
    images = {("amnesiac", "0'"): rng.random((8, 8, 1), dtype=np.float32), ("naive_retrain", 1): rng.random((4, 4, 3))}
    path = tmp_path / "rows.csv"
    image_rows(images, ("method", "epoch")).to_csv(path, index=False)
    back = images_of(pd.read_csv(path), ("method", "epoch"))
    assert set(back) == {("amnesiac", "0'"), ("naive_retrain", "1")}
    assert back[("naive_retrain", "1")].shape == (4, 4, 3)
    for (m, e), img in images.items():
        np.testing.assert_allclose(back[(m, str(e))], img, rtol=5e-4)
        assert not np.array_equal(back[(m, str(e))], np.zeros_like(img))
