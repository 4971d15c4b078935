"""Cluster stage: themes and subthemes from the run's vectors and kNN graph (`tasks.core.clustering`)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from tasks.core.clustering import (
    Clustering,
    cluster_documents,
    cluster_embeddings,
    clustering_space,
    mean_pairwise_cosine,
    resolve_geometry,
    theme_stability,
)
from tasks.infra.catalog import open_catalog
from tasks.infra.history import theme_per_chunk
from tasks.infra.params import ClusterParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.knn import contextual_vectors, load_graph


def clustering_facts(result: Clustering) -> dict:
    """Counts and shares a manifest reports about a clustering."""
    n = len(result.theme)
    noise = int((result.theme < 0).sum())
    return {"themes": int(result.theme.max()) + 1 if n and result.theme.max() >= 0 else 0,
            "subthemes": len(result.subtheme_theme), "noise_chunks": noise,
            "noise_pct": round(100 * noise / n, 2) if n else 0.0,
            "finest_clustered_pct": round(100 * (n - noise) / n, 2) if n else 0.0}


def previous_themes(run: RunRef, settings: Settings) -> np.ndarray | None:
    """The theme each of this run's chunks had in the previous run (-1: none or new); None without one."""
    if run.previous_run_id is None:
        return None
    keys = pq.read_table(run.corpus_path, columns=["chunk_id"]).column("chunk_id").to_pylist()
    with open_catalog(settings.catalog_path) as catalog:
        return theme_per_chunk(catalog, run.previous_run_id, keys)


def cluster_run(run: RunRef, settings: Settings, params: ClusterParams) -> Clustering:
    """Cluster a run's vectors over its graph, steered by the previous run's themes when ``stickiness`` > 0."""
    embedded = contextual_vectors(run, settings, params)
    mean_cosine = mean_pairwise_cosine(embedded)
    prior = previous_themes(run, settings) if params.stickiness > 0 else None
    knobs = {"min_cluster_size": params.min_cluster_size,
             "min_subcluster_size": params.min_subcluster_size if params.show_subclusters else None,
             "min_samples": params.min_samples, "reassign_noise": params.reassign_noise,
             "cluster_selection": params.cluster_selection, "resolution": params.resolution,
             "subtheme_resolution": params.subtheme_resolution, "stickiness": params.stickiness}
    if params.cluster_unit == "document":
        doc = pq.read_table(run.corpus_path, columns=["doc_id"]).column("doc_id").to_numpy(zero_copy_only=False)
        result = cluster_documents(embedded, doc, geometry=params.geometry, seed=params.seed, prior_theme=prior,
                                   stability_check=params.stability_check, **knobs)
        result.diagnostics.update(mean_pairwise_cosine=round(mean_cosine, 4))
        return result
    space = resolve_geometry(embedded, params.geometry)
    emb = clustering_space(embedded, space)  # the space the knn stage used
    result = cluster_embeddings(emb, load_graph(run), prior_theme=prior, **knobs)
    result.diagnostics.update(space=space, mean_pairwise_cosine=round(mean_cosine, 4))
    if params.stability_check:
        result.diagnostics.update(theme_stability(emb, result.theme, min_cluster_size=params.min_cluster_size,
                                                  min_samples=params.min_samples, seed=params.seed,
                                                  cluster_selection=params.cluster_selection,
                                                  resolution=params.resolution))
    return result


@stage_task(name="cluster")
def cluster_task(run: RunRef, settings: Settings, params: ClusterParams) -> dict:
    """Find themes and subthemes with HDBSCAN driven by the kNN graph."""
    log = stage_logger()
    with stopwatch() as timing:
        result = cluster_run(run, settings, params)
        np.savez(run.clustering_path, theme=result.theme, subtheme=result.subtheme,
                 subtheme_theme=result.subtheme_theme)
    facts = clustering_facts(result)
    log.info(f"cluster: {facts['themes']} themes, {facts['subthemes']} subthemes, {facts['noise_pct']}% noise")
    documents = result.diagnostics.get("documents")
    if documents is not None:
        log.info(f"cluster: {documents:,} documents clustered (cluster_unit=document)")
        if documents < 2 * params.min_cluster_size:
            log.warning(f"cluster: {documents:,} document(s) for themes of at least {params.min_cluster_size} "
                        "documents each (cluster_unit=document): a few long documents are better clustered by "
                        "their passages (cluster_unit=chunk)")
    return {**facts, "diagnostics": result.diagnostics, "seconds": timing["seconds"]}
