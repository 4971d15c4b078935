"""Tests for the report's data helpers: map data, document roll-up, run changes, artifacts text, graph PNGs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import tasks.report as report
from tasks.graph import render_run_graph, render_theme_graph
from tasks.report import (
    build_map_data,
    fmt_delta,
    map_rows,
    md_escape,
    run_changes,
    sort_themes,
    theme_documents,
    theme_summary_markdown,
    theme_summary_table,
)

try:  # works whether or not tests/ is a package
    from tests.unit.report_fixtures import HOSTILE_STRINGS, make_manifest, make_map_inputs, make_themes
except ImportError:  # pragma: no cover - depends on how pytest was started
    from report_fixtures import HOSTILE_STRINGS, make_manifest, make_map_inputs, make_themes  # type: ignore[no-redef]


@pytest.fixture(scope="module")
def inputs() -> tuple[dict, pa.Table, dict[int, str]]:
    themes = make_themes(4)
    assignments, passages = make_map_inputs(themes)
    return themes, assignments, passages


def test_map_data_has_one_entry_per_chunk_with_theme_indices(inputs) -> None:
    themes, assignments, passages = inputs
    ordered = sort_themes(themes)
    drawn, carried = map_rows(assignments)
    data = build_map_data(assignments, ordered, {r: passages[r] for r in carried.tolist()}, drawn)
    n = assignments.num_rows
    assert data["n"] == data["drawn"] == n == len(data["x"]) == len(data["y"]) == len(data["t"]) == len(data["s"])
    assert min(data["x"]) >= 0 and max(data["x"]) <= report.MAP_GRID
    sizes = np.bincount([t for t in data["t"] if t >= 0])
    assert sizes.tolist() == [c["total_number_of_nodes"] for c in ordered]
    assert data["t"].count(-1) == themes["noise"]["total_number_of_nodes"]
    assert len(data["p"]) == len(data["pt"]) == len(data["pf"]) == n, "small runs carry every passage"
    assert len(data["labels"]) == len(ordered) and all(pos is not None for pos in data["labels"])
    assert [len(s) for s in data["sublabels"]] == [len(c["subclusters"]) for c in ordered]


def test_map_data_samples_above_the_limits(inputs, monkeypatch) -> None:
    themes, assignments, passages = inputs
    monkeypatch.setattr(report, "MAP_MAX_POINTS", 1000)
    monkeypatch.setattr(report, "MAP_MAX_PASSAGES", 100)
    drawn, carried = map_rows(assignments, seed=1)
    assert len(drawn) == 1000 and len(carried) == 100 and set(carried) <= set(drawn)
    assert np.array_equal(drawn, np.sort(drawn))
    data = build_map_data(assignments, sort_themes(themes), {r: passages[r] for r in carried.tolist()}, drawn)
    assert data["n"] == assignments.num_rows and data["drawn"] == 1000 and len(data["p"]) == 100
    assert all(len(t) <= report.MAP_PASSAGE_CHARS + 1 for t in data["pt"])
    assert np.array_equal(map_rows(assignments, seed=1)[0], drawn), "same seed, same sample"


def test_map_data_is_none_without_positions(inputs) -> None:
    themes, assignments, _ = inputs
    plain = assignments.drop_columns(["x", "y"])
    assert build_map_data(plain, sort_themes(themes), {}, np.arange(plain.num_rows)) is None


def test_theme_documents_rank_by_chunks_then_share() -> None:
    table = pa.table({
        "doc_id": ["a", "a", "a", "b", "b", "c", "c", "c", "c", "d"],
        "object_key": ["a.md", "a.md", "a.md", "b.md", "b.md", "c.md", "c.md", "c.md", "c.md", "d.md"],
        "theme_id": ["t0", "t0", None, "t0", "t0", "t0", "t0", "t1", "t1", None],
    })
    docs = theme_documents(table)
    assert [(d["object_key"], d["chunks"], d["doc_chunks"]) for d in docs["t0"]] == [
        ("b.md", 2, 2), ("a.md", 2, 3), ("c.md", 2, 4)]
    assert docs["t0"][0]["share"] == 1.0
    assert [d["object_key"] for d in docs["t1"]] == ["c.md"]
    assert theme_documents(table, top=1)["t0"][0]["object_key"] == "b.md"
    assert theme_documents(table.slice(0, 0)) == {}


def test_run_changes_and_delta_format() -> None:
    manifest = make_manifest()
    assert run_changes(manifest, None) is None
    assert run_changes(manifest, manifest) is None, "a run is not compared with itself"
    before = {**manifest, "run_id": "old", "counts": {**manifest["counts"], "documents": 10, "themes": 9},
              "noise_pct": manifest["noise_pct"] + 1.5}
    changes = run_changes(manifest, before)
    assert changes["run_id"] == "old"
    assert changes["documents"] == manifest["counts"]["documents"] - 10
    assert changes["themes"] == manifest["counts"]["themes"] - 9
    assert changes["noise_pct"] == -1.5 and changes["chunks"] == 0
    assert fmt_delta(12) == "+12" and fmt_delta(-1.5, " pts") == "\u22121.5 pts"
    assert fmt_delta(0) == "no change" and fmt_delta(None) == "\u2014"


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


def test_graph_pngs_are_valid_and_deterministic(inputs) -> None:
    themes, assignments, _ = inputs
    ordered = sort_themes(themes)
    coords = np.stack([assignments.column("x").to_numpy(), assignments.column("y").to_numpy()], axis=1)
    t, s = report.chunk_indices(assignments, ordered)
    png = render_run_graph(coords, t, [c["cluster_header"] for c in ordered], title="run")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert png == render_run_graph(coords, t, [c["cluster_header"] for c in ordered], title="run")
    one = render_theme_graph(coords, t, s, 0, [c["cluster_header"] for c in ordered[0]["subclusters"]], title="t0")
    assert one.startswith(b"\x89PNG")
    empty = render_run_graph(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), [], title="empty")
    assert empty.startswith(b"\x89PNG")
