"""Tests for ``tasks.core.reporting.artifacts``: the Prefect artifacts' Markdown and table escape document text."""

from __future__ import annotations

from tasks.core.reporting import sort_themes
from tasks.core.reporting.artifacts import md_escape, theme_summary_markdown, theme_summary_table
from tests.unit.core.reporting.reporting_fixtures import HOSTILE_STRINGS, make_manifest, make_themes


def test_artifact_markdown_escapes_document_text() -> None:
    themes = sort_themes(make_themes(3, hostile=True))
    md = theme_summary_markdown(make_manifest(make_themes(3)), themes, "file:///out/runs/r/report.html")
    assert "<" not in md.replace("&lt;", "") and "](" not in md
    assert "&lt;script&gt;alert" in md
    rows = [line.split(" | ")[0] for line in md.splitlines() if line.startswith("| t") and line[3].isdigit()]
    assert rows == ["| t0", "| t1", "| t2"]
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"
    table = theme_summary_table(themes)
    assert [row["theme"] for row in table] == ["t0", "t1", "t2"]
    assert all(len(row["header"]) <= 121 for row in table)
    assert HOSTILE_STRINGS[0] in table[0]["header"], "table cells are data; the UI escapes them"
