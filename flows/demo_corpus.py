"""The embedded demo corpus: docstrings of the Python standard library, one document per module.

Every Python install has this text, so the demo needs no download and no ``../shared`` folder. Source
files are parsed with `ast` (never imported, so nothing runs) and each module becomes one Markdown
document: its own docstring, then each documented class and function under a heading.
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

# Tests, the IDLE app, vendored and deprecated trees add bulk but little to read.
EXCLUDED_PARTS = {"test", "tests", "idlelib", "lib2to3", "ensurepip", "site-packages", "dist-packages",
                  "__pycache__", "turtledemo", "pydoc_data", "config-3.11-x86_64-linux-gnu"}


def stdlib_modules(root: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(dotted module name, source path) for the standard library's pure-Python modules, sorted."""
    root = root or Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if EXCLUDED_PARTS & set(rel.parts) or rel.name.startswith("_") and rel.name != "__init__.py":
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            yield ".".join(parts), path


def module_document(name: str, source: str) -> str:
    """A module's docstrings as one Markdown document (empty when it has none worth reading)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    sections = [f"# {name}", ast.get_docstring(tree) or ""]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 40:
                sections.append(f"## {node.name}\n\n{doc}")
    body = "\n\n".join(s for s in sections[1:] if s.strip())
    return f"{sections[0]}\n\n{body}\n" if len(body) > 200 else ""


def build_demo_corpus(dest: Path, *, max_chars: int = 1_200_000, per_module_chars: int = 8_000) -> int:
    """Write ``<dest>/stdlib/<module>.md`` files until ``max_chars`` of text; returns the file count.

    Modules are taken in name order; each is capped at ``per_module_chars`` so no single module
    dominates. Re-running writes the same files (unchanged files keep their timestamps).
    """
    written, total = 0, 0
    for name, path in stdlib_modules():
        text = module_document(name, path.read_text(encoding="utf-8", errors="replace"))[:per_module_chars]
        if not text:
            continue
        target = dest / "stdlib" / f"{name}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written += 1
        total += len(text)
        if total >= max_chars:
            break
    return written
