"""Lineage stage: carry theme ids and headers over from the previous published run, and say what changed.

The matching and the events are `tasks.core.lineage`; the previous run is the one resolved when this run
started (`RunRef.previous_run_id`), read from the catalog (`tasks.infra.history`).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from tasks.core.lineage import EVENT_ORDER, LineageRules, PreviousRun, centroids, diff_events, run_lineage
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


def _log_outcome(events: list[dict], previous: PreviousRun | None, counts: dict[str, int], n_diff: int) -> None:
    log = stage_logger()
    if previous is None:
        log.info("lineage: no previous run to compare with; ids by size rank")
        return
    kept = sum(1 for x in events if x["level"] == "theme" and x["event"] in ("stable", "grew", "shrank"))
    changes = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no theme changes"
    log.info(f"lineage: against run {previous.run_id}: {kept} themes kept their id; {changes}; "
             f"{n_diff} events in the diff")


@stage_task(name="lineage")
def lineage_task(run: RunRef, settings: Settings, params: LineageParams) -> dict:
    """Match this run's themes to the previous run's: stable ids, carried headers, lineage events."""
    with stopwatch() as timing:
        clustering = np.load(run.clustering_path)
        theme, subtheme, sub_theme = clustering["theme"], clustering["subtheme"], clustering["subtheme_theme"]
        emb = np.load(run.embeddings_path, mmap_mode="r")
        keys = np.asarray(pq.read_table(run.corpus_path, columns=["chunk_id"]).column("chunk_id").to_pylist(),
                          dtype=str)
        n_t = int(theme.max()) + 1 if theme.size and theme.max() >= 0 else 0
        t_cent, s_cent = centroids(emb, theme, n_t), centroids(emb, subtheme, len(sub_theme))
        ref = run.previous_run_id
        with open_catalog(settings.catalog_path) as catalog:
            previous = load_previous(catalog, ref) if ref else None
            used = [r[0] for r in catalog.rows("select_used_cluster_ids")]
        if ref and previous is None:
            stage_logger().warning(f"lineage: the catalog has no clusters of the latest run {ref}; ids start afresh")
        result = run_lineage(keys, theme, subtheme, sub_theme, t_cent, s_cent, previous, used, rules_from(params))
        run.lineage_path.write_text(json.dumps(result.to_json(), ensure_ascii=False), encoding="utf-8")
        np.savez(run.centroids_path, theme=t_cent, subtheme=s_cent)
    diff = diff_events(result.events)
    counts = {e: sum(1 for x in diff if x["level"] == "theme" and x["event"] == e) for e in EVENT_ORDER[:-1]}
    _log_outcome(result.events, previous, counts, len(diff))
    return {"previous_run_id": result.previous_run_id, "events": counts, "seconds": timing["seconds"]}
