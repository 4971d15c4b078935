"""Tests for ``tasks.core.reporting.documents``: the chunk -> document roll-up per theme."""

from __future__ import annotations

import pyarrow as pa

from tasks.core.reporting import theme_documents


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


def test_an_all_noise_run_has_no_theme_documents() -> None:
    table = pa.table({"doc_id": ["a", "b"], "object_key": ["a.md", "b.md"],
                      "theme_id": pa.array([None, None], pa.string())})
    assert theme_documents(table) == {}
