"""The shape of the code: no import cycles, a closed ``pmf`` library, a light start, plain names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
PACKAGE = "music_recommender"
LIBRARY = f"{PACKAGE}.pmf"
# What pmf/ may import besides itself: the standard library and these.
LIBRARY_MAY_IMPORT = {"torch", "numpy", "scipy"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str) -> list[str]:
    """Every module ``module`` imports, at the top or inside a function (``from x import y``
    counts as ``x.y`` when that is a module)."""
    path = MODULES[module]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - node.level + 1]
                name = ".".join(parent + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            for alias in node.names:
                found.append(f"{name}.{alias.name}" if f"{name}.{alias.name}" in MODULES else name)
    return found


def _project_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        targets = {_project_module(n) for n in _imports(module) if n.startswith(PACKAGE)}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a cycle or several."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles_in_src() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_pmf_is_a_closed_library() -> None:
    problems = []
    for module in MODULES:
        if module != LIBRARY and not module.startswith(LIBRARY + "."):
            continue
        for name in _imports(module):
            top = name.split(".")[0]
            if name.startswith(PACKAGE):
                if not (name == LIBRARY or name.startswith(LIBRARY + ".")):
                    problems.append(f"{module} imports {name}")
            elif top not in LIBRARY_MAY_IMPORT and top not in sys.stdlib_module_names:
                problems.append(f"{module} imports {name}")
    assert problems == []


@pytest.mark.parametrize(
    "module", ["music_recommender.settings", "music_recommender.cli", "music_recommender.pmf"]
)
def test_starting_up_loads_neither_torch_nor_matplotlib(module: str) -> None:
    code = f"import {module}, sys; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_node_names_are_their_functions() -> None:
    from kedro.framework.project import pipelines  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(PROJECT_ROOT)
    wrong = []
    for node in pipelines["__default__"].nodes:
        short, function = node.name.split(".")[-1], node.func.__name__
        # one function used for several datasets: its name, then what each use is for
        if short != function and not short.startswith(f"{function}_"):
            wrong.append(f"{node.name} runs {function}")
    assert wrong == []


def test_no_module_is_named_like_a_package_it_could_shadow() -> None:
    third_party = {"implicit", "pandas", "torch", "pyspark", "mlflow", "kedro", "optuna", "faiss"}
    names = {module.rpartition(".")[2] for module in MODULES}
    assert names & third_party == set()
