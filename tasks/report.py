"""Report stage: the one-file HTML report and the graph PNGs next to the run's outputs.

Reads what the publish stage left in the scratch folder (``themes.json``, ``assignments.parquet``, the
manifest draft) and, for the night-over-night comparison, the previous run's published manifest and themes.
Rendering is `tasks.core.reporting`; drawing the PNGs is `tasks.core.reporting.drawing`.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.reporting import (
    build_diff,
    build_map_data,
    chunk_indices,
    clip,
    dom_id,
    map_rows,
    render_report,
    run_changes,
    sort_themes,
    theme_documents,
)
from tasks.core.reporting.drawing import render_run_graph, render_theme_graph
from tasks.infra.catalog import open_catalog
from tasks.infra.outputs import read_run_json, run_prefix
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.infra.storage import Storage, open_storage


def run_skips(settings: Settings, run_id: str) -> list[dict]:
    """The skips that concern a run's listed objects, as the report lists them."""
    with open_catalog(settings.catalog_path) as catalog:
        rows = catalog.rows("select_run_skips", {"run_id": run_id})
    return [{"object_key": k, "record": r, "reason": reason, "detail": d} for k, r, reason, d in rows]


def map_passages(settings: Settings, assignments: pa.Table, rows: np.ndarray) -> dict[int, str]:
    """Passage text of the given assignment rows (for the map's hover card), from the catalog."""
    if len(rows) == 0:
        return {}
    ids = pa.table({"row_no": pa.array(rows, pa.int64()),
                    "chunk_id": assignments.column("chunk_id").take(pa.array(rows, pa.int64()))})
    with open_catalog(settings.catalog_path) as catalog:
        return {int(r): text for r, text in catalog.rows("select_chunk_texts", chunk_ids_input=ids)}


def write_graphs(storage: Storage, prefix: str, assignments: pa.Table, themes: list[dict], title: str,
                 seed: int) -> int:
    """Write ``graph.png`` and ``graphs/<cluster_id>.png`` for every theme; return how many PNGs were written."""
    if "x" not in assignments.column_names:
        return 0
    coords = np.stack([assignments.column("x").to_numpy(zero_copy_only=False),
                       assignments.column("y").to_numpy(zero_copy_only=False)], axis=1).astype(np.float32)
    t, s = chunk_indices(assignments, themes)
    storage.put(prefix + "graph.png", render_run_graph(coords, t, [x["cluster_header"] for x in themes],
                                                       title=title, seed=seed))
    for i, theme in enumerate(themes):
        png = render_theme_graph(coords, t, s, i, [c["cluster_header"] for c in theme.get("subclusters", [])],
                                 title=f"{clip(theme['cluster_id'], 24)} \u00b7 {clip(theme['cluster_header'], 90)}")
        storage.put(f"{prefix}graphs/{dom_id(theme['cluster_id'])}.png", png)
    return 1 + len(themes)


def render_run_report(run: RunRef, settings: Settings, storage: Storage, themes: dict, manifest: dict,
                      assignments: pa.Table, ordered: list[dict], seed: int) -> str:
    """The report of a run (``ordered``: its themes largest first), compared with the previous run's published
    manifest and themes."""
    drawn, carried = map_rows(assignments, seed)
    map_data = build_map_data(assignments, ordered, map_passages(settings, assignments, carried), drawn)
    compared = (manifest.get("lineage") or {}).get("previous_run_id")  # None when lineage found no previous run
    previous_themes = read_run_json(storage, compared, "themes.json") if compared else None
    previous_manifest = read_run_json(storage, run.previous_run_id, "manifest.json") if run.previous_run_id else None
    return render_report(themes, manifest, run_skips(settings, run.run_id), map_data=map_data,
                         documents=theme_documents(assignments), changes=run_changes(manifest, previous_manifest),
                         diff=build_diff(manifest.get("lineage"), ordered, previous_themes))


@stage_task(name="report")
def report_task(run: RunRef, settings: Settings) -> dict:
    """Render the report and graph PNGs into the run's output folder (before its manifest: see the finish stage)."""
    log = stage_logger()
    with stopwatch() as timing:
        storage = open_storage(settings.output_url, create=True, settings=settings)
        prefix = run_prefix(run.run_id)
        themes = json.loads(run.themes_path.read_text(encoding="utf-8"))
        manifest = json.loads(run.manifest_path.read_text(encoding="utf-8"))
        assignments = pq.read_table(run.assignments_path)
        seed = int(manifest.get("params", {}).get("seed") or 0)
        ordered = sort_themes(themes)
        html = render_run_report(run, settings, storage, themes, manifest, assignments, ordered, seed)
        storage.put(prefix + "report.html", html.encode("utf-8"))
        graphs = write_graphs(storage, prefix, assignments, ordered, f"themesift run {run.run_id}", seed)
    report_url = f"{storage.url}/{prefix}report.html"
    log.info(f"report: {report_url} ({len(html) / 1e6:.1f} MB, {graphs} graph PNGs)")
    return {"report_url": report_url, "graphs": graphs, "seconds": timing["seconds"]}
