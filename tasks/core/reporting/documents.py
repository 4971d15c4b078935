"""The chunk -> document roll-up for the report's theme pages: which documents each theme is most about."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

TOP_DOCUMENTS = 8
"""Documents listed per theme in the drill-down."""


def _chunks_per_document(table: pa.Table) -> dict[str, int]:
    """Number of chunks of each document (``doc_id`` -> count), noise included."""
    counts = table.group_by("doc_id").aggregate([("doc_id", "count")])
    return dict(zip(counts.column("doc_id").to_pylist(), counts.column("doc_id_count").to_pylist(), strict=True))


def theme_documents(assignments: pa.Table, top: int = TOP_DOCUMENTS) -> dict[str, list[dict[str, Any]]]:
    """The documents most about each theme: the chunk -> document roll-up for the drill-down.

    A document ranks high in a theme when many of its chunks are in it; ties go to the document that is
    more wholly about the theme (a larger share of its chunks), then to the object key.

    Args:
        assignments: The run's assignments (``doc_id``, ``object_key``, ``theme_id``; null theme = noise).
        top: Documents kept per theme.

    Returns:
        ``{theme_id: [{"doc_id", "object_key", "chunks", "doc_chunks", "share"}, ...]}``, best first;
        ``{}`` for an empty table.
    """
    if assignments.num_rows == 0:
        return {}
    table = assignments.select(["doc_id", "object_key", "theme_id"])
    totals = _chunks_per_document(table)
    counted = table.filter(pc.is_valid(table.column("theme_id"))).group_by(
        ["theme_id", "doc_id", "object_key"]).aggregate([("doc_id", "count")])
    by_theme: dict[str, list[dict[str, Any]]] = {}
    for row in counted.to_pylist():
        total = totals[row["doc_id"]]
        by_theme.setdefault(row["theme_id"], []).append(
            {"doc_id": row["doc_id"], "object_key": row["object_key"], "chunks": row["doc_id_count"],
             "doc_chunks": total, "share": row["doc_id_count"] / total})
    return {tid: sorted(docs, key=lambda d: (-d["chunks"], -d["share"], d["object_key"]))[:top]
            for tid, docs in by_theme.items()}
