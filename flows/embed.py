"""The embed flow: a bucket's files read, chunked and embedded, and published as its search index; no clustering.

start → ingest → chunk → embed → index. What the HTTP API's ``POST /v2/ai/embeddings`` queues (deployment
``embed/adhoc`` in ``prefect.yaml``); the embeddings land in the same cache the recluster flow reads, so a
clustering afterwards embeds nothing.
"""

from __future__ import annotations

from prefect import flow

from tasks.chunk import chunk_task
from tasks.chunk_partitions import chunk_fanned_out
from tasks.embed import embed_task
from tasks.embed_partitions import embed_fanned_out
from tasks.fan_out import declared_task_runner, fans_out
from tasks.index import index_task
from tasks.infra.params import ChunkParams, IngestParams, RunParams
from tasks.infra.runs import run_lock
from tasks.ingest import ingest_task
from tasks.ingest_partitions import ingest_fanned_out
from tasks.start import prepare_run, start_run_task


@flow(name="embed", log_prints=False, validate_parameters=True, task_runner=declared_task_runner())
def embed_bucket(params: RunParams | None = None, bucket_url: str | None = None, output_url: str | None = None,
                 state_dir: str | None = None, run_id: str | None = None) -> dict:
    """Embed the current files of a bucket and publish its search index.

    Args:
        params: which objects and how they are read and chunked (the clustering knobs are ignored).
        bucket_url: overrides ``THEMESIFT_BUCKET_URL`` for this run.
        output_url: overrides ``THEMESIFT_OUTPUT_URL`` (only read to tidy up after killed runs).
        state_dir: overrides ``THEMESIFT_STATE_DIR`` (the HTTP API keeps one per bucket).
        run_id: the id the task is recorded under (the HTTP API picks it when it queues the run).

    Returns:
        The index stage's record: counts of files, failures and passages.
    """
    params, settings = prepare_run(params, bucket_url=bucket_url, output_url=output_url, state_dir=state_dir,
                                   run_id=run_id)
    with run_lock(settings.state_dir):
        run = start_run_task(settings, params, run_id)
        fanned_out = fans_out(settings)
        (ingest_fanned_out if fanned_out else ingest_task)(run, settings, params.view(IngestParams))
        (chunk_fanned_out if fanned_out else chunk_task)(run, settings, params.view(ChunkParams))
        embedded = embed_fanned_out(run, settings) if fanned_out else embed_task(run, settings)
        return index_task(run, settings, params.view(ChunkParams), embedded)
