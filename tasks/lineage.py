"""Lineage stage: carry theme ids and headers over from the previous published run, and say what changed.

The matching and the events are `tasks.core.lineage`; the previous run is the one resolved when this run
started (`RunRef.previous_run_id`), read from the catalog (`tasks.infra.history`).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from tasks.core.lineage import (
    EVENT_ORDER,
    Lineage,
    LineageRules,
    PreviousRun,
    centroids,
    diff_events,
    run_lineage,
)
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.history import run_assignments, run_clusters
from tasks.infra.params import LineageParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch


def rules_from(params: LineageParams) -> LineageRules:
    """The lineage thresholds of a run's parameters."""
    return LineageRules(match_min_overlap=params.match_min_overlap, match_min_cosine=params.match_min_cosine,
                        event_min_share=params.event_min_share, event_min_change=params.event_min_change,
                        merge_min_share=params.merge_min_share)


def load_previous(catalog: Catalog, run_id: str) -> PreviousRun | None:
    """A published run's assignments and clusters from the catalog (None when the catalog lacks them)."""
    clusters = run_clusters(catalog, run_id)
    if not clusters:
        return None
    keys, theme_ids, subtheme_ids = run_assignments(catalog, run_id)
    return PreviousRun(run_id, keys, theme_ids, subtheme_ids, clusters)


def _log_outcome(events: list[dict], previous_run_id: str | None, counts: dict[str, int], n_diff: int) -> None:
    log = stage_logger()
    if previous_run_id is None:
        log.info("lineage: no previous run to compare with; ids by size rank")
        return
    kept = sum(1 for x in events if x["level"] == "theme" and x["event"] in ("stable", "grew", "shrank"))
    changes = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no theme changes"
    log.info(f"lineage: against run {previous_run_id}: {kept} themes kept their id; {changes}; "
             f"{n_diff} events in the diff")


def lineage_of(run: RunRef, settings: Settings, params: LineageParams, theme: np.ndarray, subtheme: np.ndarray,
               sub_theme: np.ndarray, pinned: dict[int, str] | None = None,
               ) -> tuple[Lineage, np.ndarray, np.ndarray, PreviousRun | None]:
    """The run's lineage for the given labels against the previous run, with the theme and subtheme centroids
    and the previous run (the curate stage asks it for provisional ids; this stage for the final ones)."""
    emb = np.load(run.embeddings_path, mmap_mode="r")
    keys = np.asarray(pq.read_table(run.corpus_path, columns=["chunk_id"]).column("chunk_id").to_pylist(), dtype=str)
    n_t = int(theme.max()) + 1 if theme.size and theme.max() >= 0 else 0
    t_cent, s_cent = centroids(emb, theme, n_t), centroids(emb, subtheme, len(sub_theme))
    ref = run.previous_run_id
    with open_catalog(settings.catalog_path) as catalog:
        previous = load_previous(catalog, ref) if ref else None
        used = [r[0] for r in catalog.rows("select_used_cluster_ids")]
    if ref and previous is None:
        stage_logger().warning(f"lineage: the catalog has no clusters of the latest run {ref}; ids start afresh")
    result = run_lineage(keys, theme, subtheme, sub_theme, t_cent, s_cent, previous, used, rules_from(params),
                         pinned=pinned)
    return result, t_cent, s_cent, previous


@stage_task(name="lineage")
def lineage_task(run: RunRef, settings: Settings, params: LineageParams) -> dict:
    """Match this run's themes to the previous run's: stable ids, carried headers, lineage events; then the
    curate stage's pins, renames and marks."""
    with stopwatch() as timing:
        clustering = np.load(run.clustering_path)
        curation = json.loads(run.curation_path.read_text(encoding="utf-8")) if run.curation_path.is_file() else {}
        pinned = {int(label): cid for label, cid in curation.get("pinned", {}).items()}
        result, t_cent, s_cent, _ = lineage_of(run, settings, params, clustering["theme"], clustering["subtheme"],
                                            clustering["subtheme_theme"], pinned)
        mark_curated(result, curation)
        run.lineage_path.write_text(json.dumps(result.to_json(), ensure_ascii=False), encoding="utf-8")
        np.savez(run.centroids_path, theme=t_cent, subtheme=s_cent)
    diff = diff_events(result.events)
    counts = {e: sum(1 for x in diff if x["level"] == "theme" and x["event"] == e) for e in EVENT_ORDER[:-1]}
    _log_outcome(result.events, result.previous_run_id, counts, len(diff))
    return {"previous_run_id": result.previous_run_id, "events": counts, "curated": len(result.curated),
            "seconds": timing["seconds"]}


def mark_curated(result: Lineage, curation: dict) -> None:
    """Renames become the headers of the ids that live in this run; every curated cluster gets its marks."""
    live = {cid for cid in [*result.theme_ids, *result.subtheme_ids] if cid is not None}
    for cid, header in curation.get("renamed", {}).items():
        if cid in live:
            result.headers[cid] = header
            result.curated.setdefault(cid, []).append("renamed")
    for label, kinds in curation.get("marks", {}).items():
        cid = result.theme_ids[int(label)]
        if cid is not None:
            result.curated.setdefault(cid, []).extend(k for k in kinds if k not in result.curated.get(cid, []))
