"""Project stage: a 2-D map position for every chunk, laid out on the run's kNN graph (`tasks.core.graph_layout`),
saved in the scratch folder."""

from __future__ import annotations

import numpy as np

from tasks.core.graph_layout import graph_layout
from tasks.infra.params import LayoutParams
from tasks.infra.runs import RunRef
from tasks.infra.stage import stage_logger, stage_task, stopwatch


@stage_task(name="project")
def project_task(run: RunRef, params: LayoutParams) -> dict:
    """Lay every chunk out on the run's kNN graph (2-D, [-1, 1]) and save it as the run's ``coords.npy``."""
    log = stage_logger()
    with stopwatch() as timing:
        emb = np.load(run.embeddings_path, mmap_mode="r")
        theme = np.load(run.clustering_path)["theme"]
        graph = np.load(run.graph_path)
        coords = graph_layout(np.asarray(emb), theme, graph["indices"], graph["distances"], seed=params.seed)
        np.save(run.coords_path, coords)
    log.info(f"project: {len(coords):,} chunks placed on the map in {timing['seconds']:.1f}s")
    return {"chunks": int(len(coords)), "seconds": timing["seconds"]}
