"""pyproject.toml and environment.yml name the same packages; CI runs the README's test command."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda's name -> PyPI's


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    conda = {CONDA_NAMES.get(n, n) for n in conda}
    assert conda == {_name(d) for d in deps}


def _readme_block(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"{title}.*?```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert m, f"README lacks a code block after {title!r}"
    return m.group(1).strip()


def test_ci_runs_the_readme_test_command():
    test_cmd = _readme_block("Run the tests")
    ci = (ROOT / ".ci" / "run").read_text()
    for line in test_cmd.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert line in ci, f"CI does not run README line: {line}"
    assert "python run_all.py" in _readme_block("Run everything")


def test_the_readme_lists_every_registered_method_with_its_reference():
    """The README's method table has one line per registered method (a method added without its line fails)."""
    import re

    from unlearnlib.methods import list_methods

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| method | what it does | reference"):]
    table = table[:table.index("\n\n")]  # the method table alone: other tables may have four columns too
    listed = re.findall(r"^\| `([a-z_0-9]+)`[^|]*\| [^|]+\| [^|]+\| [^|]+\|$", table, flags=re.M)
    assert sorted(listed) == list_methods()
