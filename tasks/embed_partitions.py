"""The embed stage fanned out: commit-sized partitions of passages as mapped Prefect tasks, for Dask.

With the Dask task runner (`tasks.fan_out`) the embed stage becomes: the plan (the very commit batches the
single-process path embeds, `tasks.embed.texts_to_embed`), one `encode_partition` task per batch on the
workers, and the flow process writing each returned batch to the embedding cache as it completes. Workers get
their passages in the task and return vectors, so they need no view of the state folder; each worker process
loads the model once (`worker_encoder`) and keeps it. A batch is committed when it comes back, so a killed
worker or flow loses only the batches in flight, and the rerun embeds only what is missing. The vectors are
the single-process path's: same batches, same slices (`tasks.embed.encode_in_slices`), same backend (resolved
once, by the flow, and handed to the workers).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyarrow.parquet as pq

from tasks.core.embedding.engines import Encoder, load_encoder, resolve_backend
from tasks.embed import EmbedSummary, embedding_cache, encode_in_slices, finish_embedding, texts_to_embed
from tasks.fan_out import completed_partitions
from tasks.infra.catalog import open_catalog
from tasks.infra.progress import stage_progress
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stopwatch

#: One encoder per (model, backend, device) in each worker process, loaded by its first partition.
_ENCODERS: dict[tuple[str, str, str], Encoder] = {}
_LOADING = threading.Lock()
def worker_encoder(settings: Settings, backend: str) -> Encoder:
    """This process's encoder for the settings' model on ``backend`` (loaded once, then kept)."""
    key = (settings.model, backend, settings.device)
    with _LOADING:
        if key not in _ENCODERS:
            _ENCODERS[key] = load_encoder(settings.model, device=settings.device,
                                          batch_size=settings.embed_batch_size, threads=settings.threads,
                                          backend=backend, models_dir=settings.state_dir / "models")
        return _ENCODERS[key]


def encode_partition(batch: Sequence[tuple[str, str]], settings: Settings,
                     backend: str) -> tuple[list[str], np.ndarray]:
    """Encode one commit batch of (text_hash, text) on a worker: its hashes and float32 unit vectors."""
    return [h for h, _ in batch], encode_in_slices(worker_encoder(settings, backend), [t for _, t in batch])


def embed_fanned_out(run: RunRef, settings: Settings) -> dict:
    """The embed stage on the flow's task runner (Dask): plan, map the partitions, commit each as it returns,
    then the same record as `tasks.embed.embed_task`. Called from the flow body (it maps tasks itself)."""
    log = stage_logger()
    backend = resolve_backend(settings.embed_backend, device=settings.device)
    with stopwatch() as timing:
        cache = embedding_cache(settings)
        with open_catalog(settings.catalog_path) as catalog:
            batches = texts_to_embed(catalog, run.corpus_path, cache, settings.embed_commit_size)
            distinct = catalog.rows("count_corpus_texts", {"corpus": str(run.corpus_path)})[0][0]
        total, done, dim = sum(len(b) for b in batches), 0, 0
        progress = stage_progress("embed", log, "passages")
        progress(0, total)
        log.info(f"embed: {total:,} passages in {len(batches):,} partitions on the Dask task runner ({backend})")
        for _, (hashes, vectors) in completed_partitions(encode_partition, "embed-partition", batches, settings,
                                                         backend):
            cache.write_part(hashes, vectors)  # committed: a rerun never embeds these again
            done, dim = done + len(hashes), vectors.shape[1]
            progress(done, total)
    summary = EmbedSummary(pq.read_metadata(run.corpus_path).num_rows, total, distinct - total, cache.key, dim)
    return finish_embedding(run, settings, cache, backend, summary, timing["seconds"])
