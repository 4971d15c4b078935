"""The chunk stage fanned out: documents to chunk, in partitions, cut by mapped Prefect tasks on Dask.

With the Dask task runner (`tasks.fan_out`) the chunk stage becomes: the documents
without chunks under the run's spec (`tasks.chunk.documents_to_chunk`), one `chunk_partition` task per batch of
`tasks.chunk.BATCH_DOCUMENTS` documents on the workers (they get the texts in the task and load the model's
tokenizer once per process), and the flow process committing each returned batch of chunks in one transaction
as it completes, then freezing the run's corpus exactly as the single-process path does. Chunk ids depend on
the document, the spec and the span only, so the corpus is the same whichever worker cut which batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pyarrow as pa

from tasks.chunk import (
    BATCH_DOCUMENTS,
    chunk_spec,
    chunk_table,
    commit_chunks,
    documents_to_chunk,
    freeze_corpus,
    slice_filter,
    span_finder,
    summary_line,
    summary_record,
)
from tasks.core.chunking import ChunkSpec, SpanFinder
from tasks.fan_out import completed_partitions
from tasks.infra.catalog import open_catalog
from tasks.infra.params import ChunkParams
from tasks.infra.progress import stage_progress
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stopwatch

#: One span finder per spec in each worker process (a tokenizer loads in ~0.1 s; a partition is 2,000 documents).
_FINDERS: dict[ChunkSpec, SpanFinder] = {}
_LOADING = threading.Lock()


def worker_finder(spec: ChunkSpec) -> SpanFinder:
    """This process's span finder for ``spec`` (loaded once, then kept)."""
    with _LOADING:
        if spec not in _FINDERS:
            _FINDERS[spec] = span_finder(spec)
        return _FINDERS[spec]


def chunk_partition(docs: Sequence[tuple[str, str, str]], spec: ChunkSpec) -> pa.Table:
    """Cut one partition of (doc_id, object_key, text) on a worker: its chunks as catalog rows."""
    return chunk_table(docs, spec, worker_finder(spec))


def chunk_fanned_out(run: RunRef, settings: Settings, params: ChunkParams) -> dict:
    """The chunk stage on the flow's task runner (Dask): the documents to cut, mapped in partitions, each
    committed as it returns, then the corpus frozen; the same record as `tasks.chunk.chunk_task`."""
    log = stage_logger()
    spec, _ = chunk_spec(settings, params)  # a model without a tokenizer fails here, not on every worker
    where = slice_filter(params)
    with stopwatch() as timing:
        with open_catalog(settings.catalog_path) as catalog:
            todo = documents_to_chunk(catalog, run.run_id, spec)
            batches = [todo[i : i + BATCH_DOCUMENTS] for i in range(0, len(todo), BATCH_DOCUMENTS)]
            log.info(f"chunk: {len(todo):,} documents in {len(batches):,} partitions on the Dask task runner")
            progress = stage_progress("chunk", log, "documents")
            progress(0, len(todo))
            written = done = 0
            for batch, table in completed_partitions(chunk_partition, "chunk-partition", batches, spec):
                written += commit_chunks(catalog, batch, table)
                done += len(batch)
                progress(done, len(todo))
            summary = freeze_corpus(catalog, run.run_id, spec, run.corpus_path, where, len(todo), written)
    log.info(summary_line(summary, sliced=where is not None))
    return summary_record(summary, timing["seconds"])
