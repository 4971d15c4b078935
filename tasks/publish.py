"""Publish stage: the run's ``themes.json``, ``assignments.parquet`` and ``lineage.parquet`` in its output folder.

The documents are built by `tasks.core.themes_json`; this stage gathers the scratch files, writes the
catalog rows (assignments, clusters, lineage) in one transaction, uploads the files under
``runs/<run_id>/`` and keeps copies in the scratch folder for the report stage, with the manifest draft.
The manifest itself is uploaded last, by the finish stage: until then the run folder is incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.lineage import Lineage
from tasks.core.pdf import item_pages, page_span
from tasks.core.phrases import phrase_ids
from tasks.core.themes_json import (
    apply_lineage,
    attach_phrases,
    build_assignments,
    build_themes,
    clusters_table,
    label_ids,
    lineage_summary,
    lineage_table,
    noise_rows,
    shown_rows,
)
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.outputs import json_bytes, npy_bytes, parquet_bytes, run_prefix
from tasks.infra.params import RunParams
from tasks.infra.runs import RunRef, utc_now
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.infra.storage import atomic_write, open_storage

STAGE_ORDER = ("ingest", "chunk", "embed", "steer", "knn", "cluster", "phrases", "curate", "project", "summarize",
               "lineage", "publish", "report")


@dataclass
class RunOutputs:
    """What the earlier stages left in the scratch folder, as the publish stage needs it."""

    corpus: pa.Table
    theme: np.ndarray
    subtheme: np.ndarray
    centrality: np.ndarray
    summaries: list[dict]
    lineage: Lineage
    centroids: Mapping[str, np.ndarray]
    coords: np.ndarray | None
    phrases: Mapping[str, np.ndarray] | None = None

    @classmethod
    def load(cls, run: RunRef) -> RunOutputs:
        """Read a run's scratch files (the map coordinates are optional)."""
        clustering = np.load(run.clustering_path)
        lineage = Lineage.from_json(json.loads(run.lineage_path.read_text(encoding="utf-8")))
        summaries = json.loads(run.summaries_path.read_text(encoding="utf-8"))
        coords = np.load(run.coords_path) if run.coords_path.is_file() else None
        phrases = dict(np.load(run.phrases_path)) if run.phrases_path.is_file() else None
        return cls(pq.read_table(run.corpus_path), clustering["theme"], clustering["subtheme"],
                   np.load(run.centrality_path), apply_lineage(summaries, lineage), lineage,
                   dict(np.load(run.centroids_path)), coords, phrases)

    def assignments(self) -> pa.Table:
        """One row per chunk with its published theme and subtheme ids."""
        theme, subtheme = self.theme, self.subtheme
        n_sub = int(subtheme.max()) + 1 if subtheme.size and subtheme.max() >= 0 else 0
        theme_ids, sub_ids = label_ids(self.summaries, int(theme.max()) + 1 if theme.size else 0, n_sub)
        table = build_assignments(self.corpus, theme, subtheme, self.centrality, theme_ids, sub_ids, self.coords)
        ids = self.phrase_ids()
        column = [ids[p] for p in self.phrases["label"].tolist()] if ids is not None else [None] * table.num_rows
        return table.append_column("phrase_id", pa.array(column, pa.string()))

    def phrase_ids(self) -> list[str] | None:
        return phrase_ids(self.phrases["leader_key"]) if self.phrases is not None else None

    def phrases_table(self, assignments: pa.Table, texts: Sequence[str]) -> pa.Table:
        """One row per phrase: its id, theme and subtheme (its leader's), leader chunk and text, and counts;
        ``texts`` are the leaders' texts in phrase order."""
        leader = self.phrases["leader"] if self.phrases is not None else np.zeros(0, np.int64)
        pick = pa.array(leader)
        return pa.table({
            "phrase_id": pa.array(self.phrase_ids() or [], pa.string()),
            "theme_id": assignments.column("theme_id").take(pick),
            "subtheme_id": assignments.column("subtheme_id").take(pick),
            "chunk_id": assignments.column("chunk_id").take(pick),
            "text": pa.array(list(texts), pa.string()),
            "items_count": pa.array(self.phrases["size"] if self.phrases is not None else [], pa.int32()),
            "variants": pa.array(self.phrases["variants"] if self.phrases is not None else [], pa.int32()),
        })


def leader_texts(catalog: Catalog, corpus: pa.Table, leaders: np.ndarray) -> list[str]:
    """The texts of the phrases' leading chunks, in phrase order."""
    wanted = pa.table({"row_no": pa.array(np.arange(leaders.size, dtype=np.int64)),
                       "chunk_id": corpus.column("chunk_id").take(pa.array(leaders))})
    return [text for _, text in catalog.rows("select_chunk_texts", chunk_ids_input=wanted)]


def items_table(catalog: Catalog, corpus: pa.Table, assignments: pa.Table) -> pa.Table:
    """Every chunk as a collection reads it: the assignments with the chunk's text, its document's metadata, its
    object's ``last_modified`` and, for a PDF's chunks, its ``page`` and ``page_end`` (``items.parquet``)."""
    rows = catalog.rows("select_items", chunk_ids_input=corpus.select(["row_no", "chunk_id"]))
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    table = assignments.select([c for c in ("chunk_id", "doc_id", "object_key", "char_start", "char_end",
                                            "theme_id", "subtheme_id", "phrase_id", "centrality")
                                if c in assignments.column_names])
    first, last, metadata = item_pages(columns[2], table.column("char_start").to_pylist(),
                                       table.column("char_end").to_pylist())
    table = table.append_column("text", pa.array(columns[1], pa.string()))
    table = table.append_column("metadata", pa.array(metadata, pa.string()))
    table = table.append_column("page", pa.array(first, pa.int32()))
    table = table.append_column("page_end", pa.array(last, pa.int32()))
    return table.append_column("last_modified", pa.array(columns[3], pa.float64()))


def fetch_passages(catalog: Catalog, corpus: pa.Table, rows: Sequence[int]) -> dict[int, dict]:
    """Source and text of the given corpus rows."""
    picked = corpus.take(pa.array(rows, pa.int64())).to_pylist()
    ids = pa.table({"row_no": pa.array(rows, pa.int64()), "chunk_id": [r["chunk_id"] for r in picked]})
    found = {row: (text, metadata) for row, text, metadata, _ in catalog.rows("select_items", chunk_ids_input=ids)}
    out = {}
    for row, r in zip(rows, picked, strict=True):
        text, metadata = found[row]
        out[row] = {"filename": r["object_key"], "text": text, "chunk_id": r["chunk_id"], "doc_id": r["doc_id"],
                    "char_start": r["char_start"], "char_end": r["char_end"]}
        span = page_span(json.loads(metadata) if metadata else None, r["char_start"], r["char_end"])
        if span is not None:  # a PDF's chunk: the page(s) it comes from
            out[row]["page"], out[row]["page_end"] = span
    return out


def build_manifest(run: RunRef, settings: Settings, params: RunParams,
                   stages: Mapping[str, Mapping[str, Any]]) -> dict:
    """The run manifest: settings, parameters, counts, quality and per-stage seconds (the finish stage completes it)."""
    ingest, cluster = stages["ingest"], stages["cluster"]
    if stages.get("curate", {}).get("applied"):  # merges and splits changed the counts
        cluster = {**cluster, **{k: stages["curate"][k] for k in ("themes", "subthemes", "noise_chunks", "noise_pct")}}
    counts = {k: v for k, v in ingest.items() if k != "seconds"}
    counts.update(chunks=stages["chunk"]["chunks"], chunks_embedded=stages["embed"]["chunks_embedded"],
                  chunks_cached=stages["embed"]["chunks_cached"], themes=cluster["themes"],
                  subthemes=cluster["subthemes"], noise_chunks=cluster["noise_chunks"])
    counts["chunks_repeated"] = stages["chunk"].get("chunks_repeated", 0)  # not in `chunks`: counted once
    counts["cache_parts_quarantined"] = stages["embed"].get("cache_parts_quarantined", 0)
    counts["knn_graphs_reused"] = int(bool(stages.get("knn", {}).get("reused")))
    if "phrases" in stages:
        counts["phrases"] = stages["phrases"]["phrases"]
        counts["chunks_in_shared_phrases"] = stages["phrases"]["chunks_in_shared_phrases"]
    if "curate" in stages:
        counts["curation_events"] = stages["curate"]["events"]
        counts["curation_applied"] = stages["curate"]["applied"]
    return {
        "run_id": run.run_id, "status": "complete", "started_at": run.started_at, "finished_at": utc_now(),
        "bucket_url": settings.bucket_url, "output_url": settings.output_url, "settings": settings.describe(),
        "params": json.loads(params.model_dump_json()), "counts": counts, "noise_pct": cluster["noise_pct"],
        "quality": {"clustered_pct": round(100 - cluster["noise_pct"], 2),
                    "finest_clustered_pct": cluster["finest_clustered_pct"],
                    "mean_cohesion": stages["summarize"]["mean_cohesion"], **cluster.get("diagnostics", {})},
        "timings": stage_timings(stages),
        "promoted": params.promote,
        "outputs": {"themes": "themes.json", "assignments": "assignments.parquet", "lineage": "lineage.parquet",
                    "phrases": "phrases.parquet", "report": "report.html",
                    **({"items": "items.parquet", "item_vectors": "item_vectors.npy"} if params.publish_items else {})},
        "embedding": {"model": settings.model, "embed_backend": stages["embed"].get("embed_backend")},
        "instruction": {k: v for k, v in stages.get("steer", {}).items() if k != "seconds"}
        if stages.get("steer", {}).get("instruction") else None,
        "threads": {"field": params.context_field, "threads": stages.get("knn", {}).get("threads")}
        if params.context_field else None,
    }


def stage_timings(stages: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Seconds per stage, in pipeline order, and their total."""
    timings = {name: stages[name]["seconds"] for name in STAGE_ORDER if name in stages}
    timings["total"] = round(sum(timings.values()), 3)
    return timings


def record_in_catalog(catalog: Catalog, run_id: str, assignments: pa.Table, clusters: pa.Table,
                      events: pa.Table, phrases: pa.Table) -> None:
    """Replace the run's assignments, phrases, clusters and lineage rows in one transaction."""
    key = {"run_id": run_id}
    with catalog.transaction():
        catalog.run("delete_run_assignments", key)
        catalog.run("insert_assignments", key, assignments_input=assignments)
        catalog.run("delete_run_phrases", key)
        catalog.run("insert_phrases", key, phrases_input=phrases.drop_columns(["text"]))
        catalog.run("delete_run_clusters", key)
        catalog.run("insert_clusters", key, clusters_input=clusters)
        catalog.run("delete_run_lineage", key)
        catalog.run("insert_lineage", key, lineage_input=events)


@stage_task(name="publish")
def publish_task(run: RunRef, settings: Settings, params: RunParams, stages: dict) -> dict:
    """Write themes.json, assignments.parquet and lineage.parquet under runs/<run_id>/ (the manifest comes last)."""
    log = stage_logger()
    with stopwatch() as timing:
        out = RunOutputs.load(run)
        assignments = out.assignments()
        events = lineage_table(out.lineage)
        examples = noise_rows(out.theme, params.seed)
        with open_catalog(settings.catalog_path) as catalog:
            passages = fetch_passages(catalog, out.corpus, shown_rows(out.summaries, examples))
            themes = build_themes(run.run_id, out.summaries, passages, out.theme, examples)
            clusters = clusters_table(out.summaries, out.centroids["theme"], out.centroids["subtheme"])
            leaders = out.phrases["leader"] if out.phrases is not None else np.zeros(0, np.int64)
            phrases = out.phrases_table(assignments, leader_texts(catalog, out.corpus, leaders))
            attach_phrases(themes, phrases)
            record_in_catalog(catalog, run.run_id, assignments, clusters, events, phrases)
            items = items_table(catalog, out.corpus, assignments) if params.publish_items else None
        files = {"themes.json": json_bytes(themes), "assignments.parquet": parquet_bytes(assignments),
                 "lineage.parquet": parquet_bytes(events), "phrases.parquet": parquet_bytes(phrases)}
        if items is not None:
            files["items.parquet"] = parquet_bytes(items)
            # Row for row with items.parquet, for find (`tasks.core.find`); float16 halves the bytes and moves a
            # cosine by ~1e-3, far below what tells two themes apart.
            files["item_vectors.npy"] = npy_bytes(np.load(run.embeddings_path, mmap_mode="r").astype(np.float16))
        storage = open_storage(settings.output_url, create=True, settings=settings)
        for name, data in files.items():
            storage.put(run_prefix(run.run_id) + name, data)
        atomic_write(run.themes_path, files["themes.json"])
        atomic_write(run.assignments_path, files["assignments.parquet"])
        manifest = build_manifest(run, settings, params, stages)
        manifest["lineage"] = lineage_summary(out.lineage)
        atomic_write(run.manifest_path, json_bytes(manifest))
    log.info(f"publish: run {run.run_id} written to {storage.url}/{run_prefix(run.run_id)} "
             f"({len(out.summaries)} themes, {out.corpus.num_rows:,} chunks)")
    return {"run_id": run.run_id, "prefix": run_prefix(run.run_id), "output_url": storage.url,
            "seconds": timing["seconds"]}
