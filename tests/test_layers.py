"""The library's layers point one way (LAYERS below, drawn in ARCHITECTURE.md): every module has a declared layer
and imports only its own layer or lower ones. No import cycle, counting imports written inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

import unlearnlib

PKG = Path(unlearnlib.__file__).resolve().parent


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    """Module -> the unlearnlib modules it imports anywhere in its body (functions included)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
            for t in targets:
                while t and t not in modules:  # `import unlearnlib.x.y` -> the deepest known module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def make_package(tmp_path, modules: dict[str, str]):
    """A package `pkg` under tmp_path with the given modules (name -> source) and an empty __init__."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name, source in {"__init__": "", **modules}.items():
        (pkg / f"{name}.py").write_text(source)
    return pkg


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    pkg = make_package(tmp_path, {"a": "from .b import f\n", "b": "def f():\n    from . import a\n    return a\n",
                                  "c": "from . import b\n"})
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.b"}
    assert find_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
    (pkg / "b.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(pkg)) is None


def test_unlearnlib_has_no_import_cycle():
    graph = import_graph()
    assert "unlearnlib.methods.amnesiac" in graph and graph["unlearnlib.methods.finetune"]
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


# The declared layer order, lowest first: every module of the package sits in exactly one layer, and imports only
# modules of its own layer or lower ones (ARCHITECTURE.md draws the same picture). An entry ending in "." covers
# a package and all its modules.
LAYERS = [
    ["paths", "config", "metrics", "losses", "published", "recording", "tasks", "models",
     "attacks.transformer", "methods.schedules"],
    ["data", "cache", "results"],
    ["train", "gradients"],
    ["ssl", "originals", "setting", "store"],
    ["attacks", "attacks."],
    ["methods", "methods.", "shadows"],
    ["evaluation"],
    ["monitor", "experiment"],
    ["unlearned_shadows", "careful", "sweep", "bench", "bench_methods"],
    ["papers.claims", "papers.base"],
    ["papers.quickstart", "papers.amnesiac_ml", "papers.dau", "papers.contrastive", "papers.careful"],
    ["papers", "report"],
    [""],  # the package itself: its public names
]


def layer_of(module: str, layers=LAYERS) -> int | None:
    """The layer index of `module` (full name), the most specific entry winning; None if undeclared."""
    name = module.removeprefix("unlearnlib").removeprefix(".")
    best, depth = None, -1
    for i, entries in enumerate(layers):
        for e in entries:
            hit = name == e if not e.endswith(".") else name.startswith(e)
            if hit and len(e) > depth:
                best, depth = i, len(e)
    return best


def test_every_module_has_a_declared_layer():
    undeclared = sorted(m for m in import_graph() if layer_of(m) is None)
    assert not undeclared, f"add {undeclared} to LAYERS (and to ARCHITECTURE.md)"


def upward_imports(graph: dict[str, set[str]], layer=layer_of) -> list[tuple[str, str]]:
    """(module, imported) pairs where the imported module sits in a higher layer."""
    return [(m, n) for m in sorted(graph) for n in sorted(graph[m]) if layer(n) > layer(m)]


def test_no_module_imports_a_higher_layer():
    upward = upward_imports(import_graph())
    assert not upward, "\n".join(f"{m} (layer {layer_of(m)}) imports {n} (layer {layer_of(n)})" for m, n in upward)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    pkg = make_package(tmp_path, {"low": "def f():\n    from . import high\n    return high\n",
                                  "high": "from . import low\n"})
    layers = [["low"], ["high"], [""]]

    def layer(m):
        return layer_of(m.replace("pkg", "unlearnlib", 1), layers)

    assert upward_imports(import_graph(pkg), layer) == [("pkg.low", "pkg.high")]
