"""Publish stage: write a run's outputs under ``runs/<run_id>/``, manifest last, then swap ``latest``.

Outputs (see docs/contracts/themes_json.md): ``themes.json`` (shaped like Telnyx's cluster fetch response,
plus extras), ``assignments.parquet`` (one row per chunk), ``manifest.json`` (settings, parameters, counts,
timings, quality; written last: a run folder without it is incomplete) and, from the report stage,
``report.html``. ``latest.json`` is replaced only after all of them exist, so a reader who follows it
never sees half a run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.storage import Storage

LATEST_KEY = "latest.json"
NOISE_EXAMPLES = 5


def run_prefix(run_id: str) -> str:
    """Key prefix of a run's folder in the output store."""
    return f"runs/{run_id}/"


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

    With ``coords`` (float32 (n, 2) from `tasks.project`) the table also has the chunk's map position
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


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet file bytes (for `Storage.put`)."""
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def json_bytes(doc: Any) -> bytes:
    """Pretty, UTF-8 JSON bytes."""
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def write_run_files(storage: Storage, run_id: str, files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> str:
    """Write the run's files, then its manifest last (the run folder's completeness marker)."""
    prefix = run_prefix(run_id)
    for name, data in files.items():
        storage.put(prefix + name, data)
    storage.put(prefix + "manifest.json", json_bytes(manifest))
    return prefix


def promote_run(storage: Storage, run_id: str, finished_at: str) -> None:
    """Point ``latest.json`` at a complete run (one atomic object write)."""
    pointer = {"run_id": run_id, "prefix": run_prefix(run_id), "manifest": run_prefix(run_id) + "manifest.json",
               "report": run_prefix(run_id) + "report.html", "finished_at": finished_at}
    storage.put(LATEST_KEY, json_bytes(pointer))


def read_latest(storage: Storage) -> dict | None:
    """The ``latest.json`` pointer, or None before the first published run."""
    try:
        return json.loads(storage.get(LATEST_KEY))
    except Exception:  # noqa: BLE001 - a missing pointer simply means "no run yet"
        return None


from pathlib import Path  # noqa: E402 - wrappers sit below the plain functions they wrap

from tasks.catalog import Catalog, open_catalog  # noqa: E402
from tasks.lineage import CENTROIDS_FILE, LINEAGE_FILE, Lineage, diff_events  # noqa: E402
from tasks.runs import RunRef, utc_now  # noqa: E402
from tasks.settings import RunParams, Settings  # noqa: E402
from tasks.stage import stage_logger, stage_task, stopwatch  # noqa: E402
from tasks.storage import open_storage  # noqa: E402

STAGE_ORDER = ("ingest", "chunk", "embed", "knn", "cluster", "project", "summarize", "lineage", "publish")


def fetch_passages(catalog: Catalog, corpus: pa.Table, rows: Sequence[int]) -> dict[int, dict]:
    """Source and text of the given corpus rows."""
    picked = corpus.take(pa.array(rows, pa.int64())).to_pylist()
    ids = pa.table({"row_no": pa.array(rows, pa.int64()), "chunk_id": [r["chunk_id"] for r in picked]})
    texts = dict(catalog.rows("select_chunk_texts", chunk_ids_input=ids))
    return {row: {"filename": r["object_key"], "text": texts[row], "chunk_id": r["chunk_id"], "doc_id": r["doc_id"],
                  "char_start": r["char_start"], "char_end": r["char_end"]} for row, r in zip(rows, picked, strict=True)}


def build_manifest(run: RunRef, settings: Settings, params: RunParams, stages: Mapping[str, Mapping[str, Any]],
                   finished_at: str) -> dict:
    """The run manifest: settings, parameters, counts, quality and per-stage seconds."""
    ingest, cluster = stages["ingest"], stages["cluster"]
    counts = {k: v for k, v in ingest.items() if k != "seconds"}
    counts.update(chunks=stages["chunk"]["chunks"], chunks_embedded=stages["embed"]["chunks_embedded"],
                  chunks_cached=stages["embed"]["chunks_cached"], themes=cluster["themes"],
                  subthemes=cluster["subthemes"], noise_chunks=cluster["noise_chunks"])
    timings = {name: stages[name]["seconds"] for name in STAGE_ORDER if name in stages}
    timings["total"] = round(sum(timings.values()), 3)
    return {
        "run_id": run.run_id, "status": "complete", "started_at": run.started_at, "finished_at": finished_at,
        "bucket_url": settings.bucket_url, "output_url": settings.output_url, "settings": settings.describe(),
        "params": json.loads(params.model_dump_json()), "counts": counts, "noise_pct": cluster["noise_pct"],
        "quality": {"clustered_pct": round(100 - cluster["noise_pct"], 2),
                    "finest_clustered_pct": cluster["finest_clustered_pct"],
                    "mean_cohesion": stages["summarize"]["mean_cohesion"], **cluster.get("diagnostics", {})},
        "timings": timings,
        "promoted": params.promote,
        "outputs": {"themes": "themes.json", "assignments": "assignments.parquet", "lineage": "lineage.parquet",
                    "report": "report.html"},
    }


def apply_lineage(summaries: list[dict], lineage: Lineage) -> list[dict]:
    """Give every summary its stable id and carried-over header (children keep their size order)."""
    for theme in summaries:
        theme["cluster_id"] = lineage.theme_ids[theme["label"]]
        theme["header"] = lineage.headers.get(theme["cluster_id"], theme["header"])
        for child in theme["children"]:
            child["cluster_id"] = lineage.subtheme_ids[child["label"]]
            child["header"] = lineage.headers.get(child["cluster_id"], child["header"])
    return summaries


def clusters_table(summaries: Sequence[Mapping[str, Any]], theme_centroids: np.ndarray,
                   sub_centroids: np.ndarray) -> pa.Table:
    """The catalog's ``clusters`` rows of a run: id, parent, level, size, header and centroid."""
    rows = []
    for theme in summaries:
        rows.append((theme["cluster_id"], None, "theme", theme["size"], theme["header"], theme_centroids[theme["label"]]))
        rows.extend((c["cluster_id"], theme["cluster_id"], "subtheme", c["size"], c["header"],
                     sub_centroids[c["label"]]) for c in theme["children"])
    dim = theme_centroids.shape[1] if theme_centroids.ndim == 2 else 0
    flat = np.concatenate([r[5] for r in rows]).astype(np.float32) if rows else np.empty(0, np.float32)
    return pa.table({
        "cluster_id": pa.array([r[0] for r in rows], pa.string()), "parent_id": pa.array([r[1] for r in rows], pa.string()),
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


def _load_run_outputs(run: RunRef) -> tuple[pa.Table, np.ndarray, np.ndarray, list[dict], np.ndarray]:
    import pyarrow.parquet as pq

    clustering = np.load(run.path("clustering.npz"))
    summaries = json.loads(Path(run.path("summaries.json")).read_text(encoding="utf-8"))
    return (pq.read_table(run.corpus_path), clustering["theme"], clustering["subtheme"], summaries,
            np.load(run.path("centrality.npy")))


@stage_task(name="publish")
def publish_task(run: RunRef, settings: Settings, params: RunParams, stages: dict) -> dict:
    """Write themes.json, assignments.parquet and the manifest (last) under runs/<run_id>/."""
    log = stage_logger()
    with stopwatch() as timing:
        corpus, theme, subtheme, summaries, centrality = _load_run_outputs(run)
        lineage = Lineage.from_json(json.loads(run.path(LINEAGE_FILE).read_text(encoding="utf-8")))
        summaries = apply_lineage(summaries, lineage)
        cents = np.load(run.path(CENTROIDS_FILE))
        clusters = clusters_table(summaries, cents["theme"], cents["subtheme"])
        events = lineage_table(lineage)
        n_sub = int(subtheme.max()) + 1 if subtheme.size and subtheme.max() >= 0 else 0
        theme_ids, sub_ids = label_ids(summaries, int(theme.max()) + 1 if theme.size else 0, n_sub)
        examples = noise_rows(theme, params.seed)
        coords = np.load(run.path("coords.npy")) if run.path("coords.npy").is_file() else None  # tasks.project
        assignments = build_assignments(corpus, theme, subtheme, centrality, theme_ids, sub_ids, coords)
        with open_catalog(settings.catalog_path) as catalog:
            themes = build_themes(run.run_id, summaries, fetch_passages(catalog, corpus, shown_rows(summaries, examples)),
                                  theme, examples)
            with catalog.transaction():
                catalog.run("delete_run_assignments", {"run_id": run.run_id})
                catalog.run("insert_assignments", {"run_id": run.run_id}, assignments_input=assignments)
                catalog.run("delete_run_clusters", {"run_id": run.run_id})
                catalog.run("insert_clusters", {"run_id": run.run_id}, clusters_input=clusters)
                catalog.run("delete_run_lineage", {"run_id": run.run_id})
                catalog.run("insert_lineage", {"run_id": run.run_id}, lineage_input=events)
        storage = open_storage(settings.output_url, create=True, settings=settings)
        files = {"themes.json": json_bytes(themes), "assignments.parquet": parquet_bytes(assignments),
                 "lineage.parquet": parquet_bytes(events)}
        manifest = build_manifest(run, settings, params, stages, utc_now())
        manifest["lineage"] = lineage_summary(lineage)
        write_run_files(storage, run.run_id, files, manifest)
    log.info(f"publish: run {run.run_id} written to {storage.url}/{run_prefix(run.run_id)} "
             f"({len(summaries)} themes, {corpus.num_rows:,} chunks)")
    return {"run_id": run.run_id, "prefix": run_prefix(run.run_id), "output_url": storage.url,
            "seconds": timing["seconds"]}
