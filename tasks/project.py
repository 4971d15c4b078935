"""Project stage: a 2-D map position for every chunk (`tasks.core.layout`), saved in the scratch folder."""

from __future__ import annotations

import numpy as np

from tasks.core.layout import project_embeddings
from tasks.infra.params import LayoutParams
from tasks.infra.runs import RunRef
from tasks.infra.stage import stage_logger, stage_task, stopwatch


@stage_task(name="project")
def project_task(run: RunRef, params: LayoutParams) -> dict:
    """Compute the 2-D map position of every chunk and save it as the run's ``coords.npy``."""
    log = stage_logger()
    with stopwatch() as timing:
        emb = np.load(run.embeddings_path, mmap_mode="r")
        theme = np.load(run.clustering_path)["theme"]
        coords = project_embeddings(np.asarray(emb), theme, seed=params.seed)
        np.save(run.coords_path, coords)
    log.info(f"project: {len(coords):,} chunks placed on the map in {timing['seconds']:.1f}s")
    return {"chunks": int(len(coords)), "seconds": timing["seconds"]}
