"""Chunk stage: cut the run's documents into passages, then freeze the run's corpus.

Only documents without chunks under the current settings are (re-)chunked (`tasks.core.chunking` does the
cutting); then the run's corpus, the list of its chunks in a fixed row order, is frozen into
``corpus.parquet`` for every later stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.chunking import (
    ChunkSpec,
    SpanFinder,
    chunk_document,
    chunk_id,
    text_hash,
    token_span_finder,
    word_spans,
)
from tasks.core.embedding.identity import tokenizer_file
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.errors import ModelError
from tasks.infra.params import ChunkParams
from tasks.infra.progress import Progress, stage_progress
from tasks.infra.query import SqlFilter, compile_filter, slice_query
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch

#: Documents per committed batch (and per partition on Dask).
BATCH_DOCUMENTS = 2000


@dataclass(frozen=True)
class ChunkSummary:
    """Counts of one chunk stage and where the run's corpus was frozen."""

    documents_chunked: int
    chunks_written: int
    chunks: int
    corpus_path: str
    chunks_repeated: int = 0


def chunk_corpus(catalog: Catalog, *, run_id: str, spec: ChunkSpec, find_spans: SpanFinder, corpus_path: Path,
                 batch_size: int = BATCH_DOCUMENTS, progress: Progress | None = None,
                 where: SqlFilter | None = None) -> ChunkSummary:
    """Chunk the run's documents that lack chunks under ``spec``, then freeze the run's corpus: the chunks of
    the documents ``where`` selects (all of them when None).

    Each batch of documents is committed in one transaction (old chunks of those documents replaced),
    so a killed run resumes where it stopped.
    """
    todo = documents_to_chunk(catalog, run_id, spec)
    written = 0
    if progress:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        written += commit_chunks(catalog, batch, chunk_table(batch, spec, find_spans))
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    return freeze_corpus(catalog, run_id, spec, corpus_path, where, len(todo), written)


def documents_to_chunk(catalog: Catalog, run_id: str, spec: ChunkSpec) -> list[tuple[str, str, str]]:
    """(doc_id, object_key, text) of the run's documents without chunks under ``spec``."""
    return catalog.rows("select_documents_to_chunk", {"run_id": run_id, "chunk_config": spec.fingerprint()})


def commit_chunks(catalog: Catalog, batch: Sequence[tuple[str, str, str]], table: pa.Table) -> int:
    """Replace the chunks of one batch of documents in one transaction; returns the chunks written."""
    with catalog.transaction():
        catalog.run("delete_document_chunks", doc_ids_input=pa.table({"doc_id": [r[0] for r in batch]}))
        catalog.run("insert_chunks", chunks_input=table)
    return table.num_rows


def freeze_corpus(catalog: Catalog, run_id: str, spec: ChunkSpec, corpus_path: Path, where: SqlFilter | None,
                  documents: int, written: int) -> ChunkSummary:
    """Write the run's corpus (its chunks in a fixed row order) to ``corpus_path``."""
    params = {"run_id": run_id, "chunk_config": spec.fingerprint()}
    if where is None:
        corpus = catalog.arrow("select_run_chunks", params)
    else:
        corpus = catalog.arrow("select_run_chunks_where", params, where=where)
    # A passage a document repeats word for word counts once: a file of one paragraph pasted a thousand times
    # would otherwise be a theme of its own that outweighs the corpus.
    repeated = corpus.column("repeat")
    corpus = corpus.filter(pc.invert(repeated)).drop_columns(["repeat"])
    corpus = corpus.add_column(0, "row_no", pa.array(range(corpus.num_rows), pa.int64()))
    corpus_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(corpus, corpus_path)
    return ChunkSummary(documents, written, corpus.num_rows, str(corpus_path),
                        chunks_repeated=int(pc.sum(repeated).as_py() or 0))


def chunk_table(docs: Sequence[tuple[str, str, str]], spec: ChunkSpec, find_spans: SpanFinder) -> pa.Table:
    """The chunks of ``docs`` ((doc_id, object_key, text) each) as rows of the catalog's chunks table."""
    fp = spec.fingerprint()
    cols: dict[str, list] = {k: [] for k in ("chunk_id", "doc_id", "object_key", "ordinal", "char_start",
                                              "char_end", "text", "text_hash", "chunk_config")}
    all_spans = find_spans([d[2] for d in docs])
    for (doc_id, key, text), spans in zip(docs, all_spans, strict=True):
        for ordinal, span in enumerate(chunk_document(text, spans, size=spec.size, overlap=spec.overlap,
                                                      unit=spec.unit)):
            passage = text[span[0] : span[1]]
            for name, value in (("chunk_id", chunk_id(doc_id, fp, ordinal, span)), ("doc_id", doc_id),
                                ("object_key", key), ("ordinal", ordinal), ("char_start", span[0]),
                                ("char_end", span[1]), ("text", passage), ("text_hash", text_hash(passage)),
                                ("chunk_config", fp)):
                cols[name].append(value)
    return pa.table(cols)


def slice_filter(params: ChunkParams) -> SqlFilter | None:
    """The run's slice (``where``, ``from_date``/``to_date`` on ``date_field``) as SQL, or None for all."""
    node = slice_query(params.where, params.from_date, params.to_date, params.date_field)
    return None if node is None else compile_filter(node)


def chunk_spec(settings: Settings, params: ChunkParams) -> tuple[ChunkSpec, SpanFinder]:
    """The run's chunk settings and the span finder for its unit (the model's tokenizer for tokens)."""
    spec = ChunkSpec(params.chunk_unit, params.chunk_size, params.chunk_overlap, settings.model)
    return spec, span_finder(spec)


def span_finder(spec: ChunkSpec) -> SpanFinder:
    """The span finder for a spec's unit: words, or the tokens of its model's tokenizer.

    Raises:
        ModelError: token units with a model that has no local ``tokenizer.json``.
    """
    if spec.unit == "chars":
        return word_spans
    path = tokenizer_file(spec.tokenizer_name)
    if path is None:
        raise ModelError(f"model {spec.tokenizer_name!r} has no local tokenizer.json; use chunk_unit=chars "
                         "or a local model folder")
    return token_span_finder(path)


def summary_line(summary: ChunkSummary, *, sliced: bool) -> str:
    """The stage's closing log line."""
    return (f"chunk: {summary.documents_chunked:,} documents (re)chunked into {summary.chunks_written:,} "
            f"chunks; corpus has {summary.chunks:,} chunks" + (" (the run's slice)" if sliced else "")
            + (f", {summary.chunks_repeated:,} passages a document repeats counted once" if summary.chunks_repeated
               else ""))


def summary_record(summary: ChunkSummary, seconds: float) -> dict:
    """What the stage hands on and the manifest keeps."""
    return {"documents_chunked": summary.documents_chunked, "chunks_written": summary.chunks_written,
            "chunks": summary.chunks, "chunks_repeated": summary.chunks_repeated, "seconds": seconds}


@stage_task(name="chunk")
def chunk_task(run: RunRef, settings: Settings, params: ChunkParams) -> dict:
    """Chunk documents that have no chunks under this run's settings, then freeze the corpus."""
    log = stage_logger()
    with stopwatch() as timing:
        spec, finder = chunk_spec(settings, params)
        with open_catalog(settings.catalog_path) as catalog:
            summary = chunk_corpus(catalog, run_id=run.run_id, spec=spec, find_spans=finder,
                                   corpus_path=run.corpus_path, progress=stage_progress("chunk", log, "documents"),
                                   where=slice_filter(params))
    log.info(summary_line(summary, sliced=slice_filter(params) is not None))
    return summary_record(summary, timing["seconds"])


def load_corpus_texts(settings: Settings, run: RunRef) -> tuple[list[str], np.ndarray]:
    """Every corpus passage in row order, and each row's document id."""
    corpus = pq.read_table(run.corpus_path, columns=["row_no", "chunk_id", "doc_id"])
    with open_catalog(settings.catalog_path) as catalog:
        rows = catalog.rows("select_chunk_texts", chunk_ids_input=corpus.select(["row_no", "chunk_id"]))
    return [text for _, text in rows], np.asarray(corpus.column("doc_id").to_pylist(), dtype=object)
