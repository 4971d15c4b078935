"""Tests for the ``tasks.core.reporting`` package as a whole: its exports, its files, its imports."""

from __future__ import annotations

import ast
from pathlib import Path

import tasks.core.reporting as reporting
from tasks.core.reporting.assets import SCRIPT_FILE, STATIC_DIR, STYLE_FILE, TEMPLATE_DIR, static_text
from tasks.core.reporting.environment import make_environment

PACKAGE_DIR = Path(reporting.__file__).parent


def test_the_package_exports_what_the_report_stage_uses() -> None:
    assert sorted(reporting.__all__) == [
        "build_diff", "build_map_data", "chunk_indices", "clip", "dom_id", "map_rows", "render_report",
        "run_changes", "sort_themes", "theme_documents"]
    assert all(callable(getattr(reporting, name)) for name in reporting.__all__)


def test_every_template_compiles() -> None:
    env = make_environment()
    assert set(env.list_templates()) == {"base.html", "report.html", "_partials.html"}
    for name in env.list_templates():
        env.get_template(name)
    assert TEMPLATE_DIR.is_dir()


def test_static_files_are_plain_css_and_js() -> None:
    assert sorted(p.name for p in STATIC_DIR.glob("report.*")) == [STYLE_FILE, SCRIPT_FILE]
    css, js = static_text(STYLE_FILE), static_text(SCRIPT_FILE)
    assert "--accent" in css and "JSON.parse" in js
    for text in (css, js):
        assert "{%" not in text and "{{" not in text and "{#" not in text, "static files are not templates"
    assert "innerHTML" not in js, "strings from the data reach the page through textContent only"


def test_the_package_imports_no_stage_and_no_flow() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                assert parts[0] != "flows", (path.name, name)
                assert parts[0] != "tasks" or parts[1] in {"core", "infra"}, (path.name, name)
