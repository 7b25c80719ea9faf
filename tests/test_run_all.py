"""run_all.py: discovery, parameters, and that a failing notebook never destroys earlier results."""
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import run_all  # noqa: E402


def _notebook(path: Path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "quick"  # profile\nRESULTS_DIR = ""  # output folder\nFAIL = False  # fail on purpose')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_discovery_and_list(capsys):
    assert [p.name for p in run_all.discover()][0] == "00_quickstart.ipynb"
    assert run_all.main(["--list"]) == 0
    assert "00_quickstart" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no such notebook"):
        run_all.main(["--only", "99", "--list"])


def test_parse_value():
    assert run_all.parse_value("3") == 3 and run_all.parse_value("0.5") == 0.5
    assert run_all.parse_value("None") is None and run_all.parse_value("[1, 2]") == [1, 2]
    assert run_all.parse_value("cifar10") == "cifar10"


def test_failure_keeps_earlier_results(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _notebook(nbdir / "07_demo.ipynb", "from pathlib import Path\n"
              "assert not FAIL, 'failing on purpose'\n"
              "Path(RESULTS_DIR, 'table.csv').write_text('x\\n1\\n')")
    monkeypatch.setattr(run_all, "NOTEBOOKS", nbdir)
    results = tmp_path / "results"
    assert run_all.main(["--profile", "smoke", "--results", str(results)]) == 0
    final = results / "smoke" / "07_demo"
    meta = json.loads((final / "params.json").read_text())
    assert meta["status"] == "ok" and meta["parameters"]["PROFILE"] == "smoke" and "git_commit" in meta
    assert (final / "table.csv").is_file() and (final / "07_demo.ipynb").is_file()

    assert run_all.main(["--profile", "smoke", "--results", str(results), "-p", "FAIL", "True"]) == 1
    assert (final / "table.csv").read_text() == "x\n1\n"  # earlier results intact
    failed = results / "smoke" / "07_demo.failed"
    assert "failing on purpose" in json.loads((failed / "params.json").read_text())["status"]

    with pytest.raises(SystemExit, match="UPPER_CASE"):
        run_all.main(["--results", str(results), "-p", "seed", "1"])


def test_prepare_only_injects_parameters(tmp_path):
    assert run_all.main(["--profile", "smoke", "--only", "00", "--prepare-only", str(tmp_path)]) == 0
    nb = nbformat.read(tmp_path / "00_quickstart.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'PROFILE = "smoke"' in injected[0].source
