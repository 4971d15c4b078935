"""The published documents of a run: ``themes.json`` (Telnyx's cluster shape plus extras), the assignments
table, and the catalog's cluster and lineage rows (contract: docs/contracts/themes_json.md).

Pure builders: the publish stage gathers the inputs and writes what these return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.lineage import Lineage, diff_events

NOISE_EXAMPLES = 5


def node_record(row: int, centrality: float | None, passages: Mapping[int, dict]) -> dict:
    """One passage as themes.json shows it (Telnyx's ``filename`` and ``text`` plus our extras)."""
    node = dict(passages[row])
    if centrality is not None:
        node["centrality"] = round(float(centrality), 4)
    return node


def cluster_record(summary: Mapping[str, Any], total: int, passages: Mapping[int, dict],
                   parent_id: str | None = None) -> dict:
    """A theme or subtheme as themes.json shows it."""
    record = {
        "cluster_id": summary["cluster_id"], "cluster_header": summary["header"],
        "cluster_summary": summary["summary"], "total_number_of_nodes": summary["size"],
        "share": round(summary["size"] / total, 4) if total else 0.0,
        "cohesion": round(summary["cohesion"], 4),
        "keyphrases": [{"phrase": p, "score": round(s, 4)} for p, s in summary["keyphrases"]],
        "documents": summary["documents"],
        "nodes": [node_record(r, c, passages) for r, c in summary["nodes"]],
        "unassigned_nodes": summary.get("unassigned", 0),
        "curation": list(summary.get("curation", [])),
        "subclusters": [cluster_record(c, total, passages, summary["cluster_id"]) for c in summary["children"]],
    }
    if parent_id is not None:
        record["parent_cluster_id"] = parent_id
    return record


def noise_rows(theme: np.ndarray, seed: int, k: int = NOISE_EXAMPLES) -> list[int]:
    """A few noise passages to show, chosen reproducibly."""
    rows = np.flatnonzero(theme < 0)
    if len(rows) <= k:
        return rows.tolist()
    return sorted(np.random.default_rng(seed).choice(rows, size=k, replace=False).tolist())


def build_themes(run_id: str, summaries: Sequence[Mapping[str, Any]], passages: Mapping[int, dict],
                 theme: np.ndarray, noise_examples: Sequence[int]) -> dict:
    """The themes.json document."""
    total = len(theme)
    noise = int((theme < 0).sum())
    return {
        "run_id": run_id, "status": "complete", "total_number_of_nodes": total,
        "clusters": [cluster_record(s, total, passages) for s in summaries],
        "noise": {"total_number_of_nodes": noise, "share": round(noise / total, 4) if total else 0.0,
                  "nodes": [node_record(r, None, passages) for r in noise_examples]},
    }


#: Repeated phrases listed per theme and subtheme in themes.json (the most repeated first).
TOP_PHRASES = 5


def attach_phrases(themes: dict, phrases: pa.Table, top: int = TOP_PHRASES) -> dict:
    """Give every theme and subtheme of a themes.json document its ``phrases_count`` and its ``top_phrases``: the
    ``top`` phrases said more than once, most repeated first (``phrase_id``, ``text``, ``items_count``)."""
    counts: dict[str, int] = {}
    repeated: dict[str, list[dict]] = {}
    rows = phrases.select(["phrase_id", "theme_id", "subtheme_id", "text", "items_count"]).to_pylist()
    for row in sorted(rows, key=lambda r: (-r["items_count"], r["phrase_id"])):
        for cluster in {row["theme_id"], row["subtheme_id"]} - {None}:
            counts[cluster] = counts.get(cluster, 0) + 1
            if row["items_count"] > 1 and len(repeated.setdefault(cluster, [])) < top:
                repeated[cluster].append({"phrase_id": row["phrase_id"], "text": row["text"],
                                          "items_count": row["items_count"]})
    stack = list(themes["clusters"])
    while stack:
        cluster = stack.pop()
        cluster["phrases_count"] = counts.get(cluster["cluster_id"], 0)
        cluster["top_phrases"] = repeated.get(cluster["cluster_id"], [])
        stack.extend(cluster["subclusters"])
    return themes


def shown_rows(summaries: Sequence[Mapping[str, Any]], noise_examples: Sequence[int]) -> list[int]:
    """Every corpus row whose passage themes.json shows."""
    rows = set(noise_examples)
    stack = list(summaries)
    while stack:
        summary = stack.pop()
        rows.update(r for r, _ in summary["nodes"])
        stack.extend(summary["children"])
    return sorted(rows)


def label_ids(summaries: Sequence[Mapping[str, Any]], n_themes: int, n_subthemes: int) -> tuple[list, list]:
    """Published ids per theme index and per subtheme index (None where a cluster has no summary)."""
    theme_ids: list[str | None] = [None] * n_themes
    sub_ids: list[str | None] = [None] * n_subthemes
    for s in summaries:
        theme_ids[s["label"]] = s["cluster_id"]
        for c in s["children"]:
            sub_ids[c["label"]] = c["cluster_id"]
    return theme_ids, sub_ids


def build_assignments(corpus: pa.Table, theme: np.ndarray, subtheme: np.ndarray, centrality: np.ndarray,
                      theme_ids: Sequence[str | None], sub_ids: Sequence[str | None],
                      coords: np.ndarray | None = None) -> pa.Table:
    """One row per chunk: where it came from and which theme/subtheme it belongs to (null = noise/none).

    With ``coords`` (float32 (n, 2) from `tasks.core.layout`) the table also has the chunk's map position
    ``x, y`` (float32 in [-1, 1]), which the report's map and the graph PNGs draw.
    """
    table = pa.table({
        "chunk_id": corpus.column("chunk_id"), "doc_id": corpus.column("doc_id"),
        "object_key": corpus.column("object_key"), "char_start": corpus.column("char_start"),
        "char_end": corpus.column("char_end"),
        "theme_id": pa.array([theme_ids[t] if t >= 0 else None for t in theme.tolist()], pa.string()),
        "subtheme_id": pa.array([sub_ids[s] if s >= 0 else None for s in subtheme.tolist()], pa.string()),
        "centrality": pa.array(np.where(theme >= 0, centrality, np.nan).astype(np.float32), pa.float32(),
                               from_pandas=True),
    })
    if coords is not None:
        table = table.append_column("x", pa.array(coords[:, 0], pa.float32()))
        table = table.append_column("y", pa.array(coords[:, 1], pa.float32()))
    return table


def apply_lineage(summaries: list[dict], lineage: Lineage) -> list[dict]:
    """Give every summary its stable id and carried-over header (children keep their size order); siblings never
    share a header (`settled_headers`)."""
    for theme in summaries:
        theme["cluster_id"] = lineage.theme_ids[theme["label"]]
        theme["curation"] = lineage.curated.get(theme["cluster_id"], [])
        for child in theme["children"]:
            child["cluster_id"] = lineage.subtheme_ids[child["label"]]
            child["curation"] = lineage.curated.get(child["cluster_id"], [])
        settled_headers(theme["children"], lineage.headers)
    settled_headers(summaries, lineage.headers)
    return summaries


def settled_headers(siblings: list[dict], chosen: Mapping[str, str]) -> None:
    """Set each sibling's header: the one lineage chose for its id (carried over from last night, or the user's
    rename), else its own. A carried header that repeats a sibling's (case aside) yields to the cluster's own
    fresh header, which the summarize stage made distinct from its siblings': tonight another theme may have
    earned that name. Renames are kept as written."""
    fresh = [s["header"] for s in siblings]
    current = [chosen.get(s["cluster_id"], s["header"]) for s in siblings]
    carried = [s["cluster_id"] in chosen and "renamed" not in s.get("curation", []) and current[i] != fresh[i]
               for i, s in enumerate(siblings)]
    while True:
        seen = Counter(h.casefold() for h in current)
        clash = next((i for i, h in enumerate(current) if carried[i] and seen[h.casefold()] > 1), None)
        if clash is None:
            break
        current[clash], carried[clash] = fresh[clash], False
    for sibling, header in zip(siblings, current, strict=True):
        sibling["header"] = header


def clusters_table(summaries: Sequence[Mapping[str, Any]], theme_centroids: np.ndarray,
                   sub_centroids: np.ndarray) -> pa.Table:
    """The catalog's ``clusters`` rows of a run: id, parent, level, size, header and centroid."""
    rows = []
    for theme in summaries:
        rows.append((theme["cluster_id"], None, "theme", theme["size"], theme["header"],
                     theme_centroids[theme["label"]]))
        rows.extend((c["cluster_id"], theme["cluster_id"], "subtheme", c["size"], c["header"],
                     sub_centroids[c["label"]]) for c in theme["children"])
    dim = theme_centroids.shape[1] if theme_centroids.ndim == 2 else 0
    flat = np.concatenate([r[5] for r in rows]).astype(np.float32) if rows else np.empty(0, np.float32)
    return pa.table({
        "cluster_id": pa.array([r[0] for r in rows], pa.string()),
        "parent_id": pa.array([r[1] for r in rows], pa.string()),
        "level": pa.array([r[2] for r in rows], pa.string()), "size": pa.array([r[3] for r in rows], pa.int32()),
        "header": pa.array([r[4] for r in rows], pa.string()),
        "centroid": pa.ListArray.from_arrays(pa.array(np.arange(len(rows) + 1) * dim, pa.int32()), pa.array(flat)),
    })


def lineage_table(lineage: Lineage) -> pa.Table:
    """The lineage events of a run as a table (catalog ``lineage`` rows and ``lineage.parquet``)."""
    events = lineage.events
    return pa.table({
        "previous_run_id": pa.array([lineage.previous_run_id] * len(events), pa.string()),
        "level": pa.array([e["level"] for e in events], pa.string()),
        "cluster_id": pa.array([e["cluster_id"] for e in events], pa.string()),
        "event": pa.array([e["event"] for e in events], pa.string()),
        "previous_ids": pa.array([e["previous_ids"] for e in events], pa.list_(pa.string())),
        "current_ids": pa.array([e["current_ids"] for e in events], pa.list_(pa.string())),
        "size_before": pa.array([e["size_before"] for e in events], pa.int32()),
        "size_after": pa.array([e["size_after"] for e in events], pa.int32()),
        "moved_share": pa.array([e["moved_share"] for e in events], pa.float64()),
    })


def lineage_summary(lineage: Lineage) -> dict:
    """The manifest's ``lineage`` section: the run compared with, event counts per level, and the diff."""
    counts: dict[str, dict[str, int]] = {}
    for e in lineage.events:
        level = counts.setdefault(e["level"], {})
        level[e["event"]] = level.get(e["event"], 0) + 1
    return {"previous_run_id": lineage.previous_run_id, "counts": counts, "diff": diff_events(lineage.events)}
