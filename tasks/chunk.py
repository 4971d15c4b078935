"""Chunk stage: cut documents into overlapping passages with character offsets.

Sizes are measured in model tokens (word pieces of the embedding model's own tokenizer, so a chunk of
``chunk_size`` tokens is exactly what the model reads; all-MiniLM-L6-v2 reads 256 including two special
tokens) or in characters. A window ends at a sentence or paragraph end in its last 30 % when there is
one, never inside a word, and the next window starts ``chunk_overlap`` units before the end
(later, at a sentence start inside that overlap, when there is one).
Only documents without chunks under the current settings are (re-)chunked; then the run's corpus, the
list of its chunks in a fixed row order, is frozen into ``corpus.parquet`` for every later stage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.catalog import Catalog
from tasks.progress import Progress

Span = tuple[int, int]
SpanFinder = Callable[[Sequence[str]], list[list[Span]]]
_WORD = re.compile(r"\S+")
_SENTENCE_END = (".", "!", "?", "…", ":", ";")


@dataclass(frozen=True)
class ChunkSpec:
    """How documents are cut: unit, size and overlap (validated by `RunParams`)."""

    unit: str
    size: int
    overlap: int
    tokenizer_name: str = ""

    def fingerprint(self) -> str:
        """Changes whenever the same document would be cut differently."""
        return f"v1|{self.unit}|{self.size}|{self.overlap}|{self.tokenizer_name if self.unit == 'tokens' else ''}"


def word_spans(texts: Sequence[str]) -> list[list[Span]]:
    """Whitespace-separated words of each text, as (start, end) character offsets."""
    return [[m.span() for m in _WORD.finditer(t)] for t in texts]


def token_span_finder(tokenizer_json: Path) -> SpanFinder:
    """Token offsets from a fast tokenizer file (``tokenizer.json``), without special tokens or padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def find(texts: Sequence[str]) -> list[list[Span]]:
        return [[o for o in enc.offsets if o[1] > o[0]] for enc in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return find


def chunk_document(text: str, spans: Sequence[Span], *, size: int, overlap: int, unit: str) -> list[Span]:
    """Cut one text into (char_start, char_end) windows over its spans (tokens or words).

    Args:
        text: the document text (offsets refer to it).
        spans: token or word offsets, in order.
        size: the most units per chunk (tokens, or characters for ``unit="chars"``).
        overlap: units shared by consecutive chunks (< size).
        unit: ``"tokens"`` (each span counts 1) or ``"chars"`` (a window counts its character length).

    Returns:
        Character windows in order; ``[]`` for a text with no spans. A single word longer than
        ``size`` characters becomes a chunk of its own rather than being split.
    """
    n = len(spans)
    if unit == "tokens":
        measure = lambda i, j: j - i  # noqa: E731 - two one-line metrics read best side by side
    else:
        measure = lambda i, j: spans[j - 1][1] - spans[i][0]  # noqa: E731
    out: list[Span] = []
    i = 0
    while i < n:
        j = _window_end(spans, i, size, measure)
        if j < n:
            j = _nicer_end(text, spans, i, j)
        out.append((spans[i][0], spans[j - 1][1]))
        if j >= n:
            break
        i = _next_start(text, spans, i, j, overlap, measure)
    return out


def _window_end(spans: Sequence[Span], i: int, size: int, measure: Callable[[int, int], int]) -> int:
    j = i + 1
    while j < len(spans) and measure(i, j + 1) <= size:
        j += 1
    return j


def _starts_word(spans: Sequence[Span], k: int) -> bool:
    return k == 0 or spans[k][0] > spans[k - 1][1]


def _nicer_end(text: str, spans: Sequence[Span], i: int, j: int) -> int:
    """Move the end back to a sentence end in the window's last 30 %, else to a word boundary."""
    floor = i + max(1, int((j - i) * 0.7))
    for b in range(j, floor, -1):
        if text[spans[b - 1][1] - 1] in _SENTENCE_END and _starts_word(spans, b):
            return b
    for b in range(j, i, -1):
        if _starts_word(spans, b):
            return b
    return j


def _next_start(text: str, spans: Sequence[Span], i: int, j: int, overlap: int,
                measure: Callable[[int, int], int]) -> int:
    """Back up ``overlap`` units from ``j``; start at a sentence start inside the overlap when there is one."""
    k = j
    while k - 1 > i and measure(k - 1, j) <= overlap:
        k -= 1
    for b in range(max(k, i + 1), j):
        if _starts_word(spans, b) and text[spans[b - 1][1] - 1] in _SENTENCE_END:
            return b  # a passage that starts with a sentence reads (and summarises) better
    while k < j and not _starts_word(spans, k):  # never start inside a word
        k += 1
    return max(k, i + 1)


def chunk_id(doc_id: str, spec_fp: str, ordinal: int, span: Span) -> str:
    """Stable chunk id: same document, settings and window give the same id."""
    raw = f"{doc_id}\x00{spec_fp}\x00{ordinal}\x00{span[0]}:{span[1]}"
    return "c_" + hashlib.blake2b(raw.encode(), digest_size=10).hexdigest()


def text_hash(text: str) -> str:
    """Key of the embedding cache: identical passages share one vector."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class ChunkSummary:
    """Counts of one chunk stage and where the run's corpus was frozen."""

    documents_chunked: int
    chunks_written: int
    chunks: int
    corpus_path: str


def chunk_corpus(catalog: Catalog, *, run_id: str, spec: ChunkSpec, find_spans: SpanFinder, corpus_path: Path,
                 batch_size: int = 2000, progress: Progress | None = None) -> ChunkSummary:
    """Chunk the run's documents that lack chunks under ``spec``, then freeze the run's corpus.

    Each batch of documents is committed in one transaction (old chunks of those documents replaced),
    so a killed run resumes where it stopped.
    """
    fp = spec.fingerprint()
    todo = catalog.rows("select_documents_to_chunk", {"run_id": run_id, "chunk_config": fp})
    written = 0
    if progress:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        table = _chunk_table(batch, spec, fp, find_spans)
        with catalog.transaction():
            catalog.run("delete_document_chunks", doc_ids_input=pa.table({"doc_id": [r[0] for r in batch]}))
            catalog.run("insert_chunks", chunks_input=table)
        written += table.num_rows
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    corpus = catalog.arrow("select_run_chunks", {"run_id": run_id, "chunk_config": fp})
    corpus = corpus.add_column(0, "row_no", pa.array(range(corpus.num_rows), pa.int64()))
    corpus_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(corpus, corpus_path)
    return ChunkSummary(len(todo), written, corpus.num_rows, str(corpus_path))


def _chunk_table(docs: Sequence[tuple[str, str, str]], spec: ChunkSpec, fp: str, find_spans: SpanFinder) -> pa.Table:
    cols: dict[str, list] = {k: [] for k in ("chunk_id", "doc_id", "object_key", "ordinal", "char_start",
                                              "char_end", "text", "text_hash", "chunk_config")}
    all_spans = find_spans([d[2] for d in docs])
    for (doc_id, key, text), spans in zip(docs, all_spans, strict=True):
        for ordinal, span in enumerate(chunk_document(text, spans, size=spec.size, overlap=spec.overlap, unit=spec.unit)):
            passage = text[span[0] : span[1]]
            for name, value in (("chunk_id", chunk_id(doc_id, fp, ordinal, span)), ("doc_id", doc_id),
                                ("object_key", key), ("ordinal", ordinal), ("char_start", span[0]),
                                ("char_end", span[1]), ("text", passage), ("text_hash", text_hash(passage)),
                                ("chunk_config", fp)):
                cols[name].append(value)
    return pa.table(cols)


from tasks.catalog import open_catalog  # noqa: E402 - wrappers sit below the plain functions they wrap
from tasks.progress import stage_progress  # noqa: E402
from tasks.runs import RunRef  # noqa: E402
from tasks.settings import RunParams, Settings  # noqa: E402
from tasks.stage import stage_logger, stage_task, stopwatch  # noqa: E402


def chunk_spec(settings: Settings, params: RunParams) -> tuple[ChunkSpec, SpanFinder]:
    """The run's chunk settings and the span finder for its unit (the model's tokenizer for tokens)."""
    from tasks.embed import tokenizer_file
    from tasks.errors import ModelError

    spec = ChunkSpec(params.chunk_unit, params.chunk_size, params.chunk_overlap, settings.model)
    if params.chunk_unit == "chars":
        return spec, word_spans
    path = tokenizer_file(settings.model)
    if path is None:
        raise ModelError(f"model {settings.model!r} has no local tokenizer.json; use chunk_unit=chars "
                         "or a local model folder")
    return spec, token_span_finder(path)


@stage_task(name="chunk")
def chunk_task(run: RunRef, settings: Settings, params: RunParams) -> dict:
    """Chunk documents that have no chunks under this run's settings, then freeze the corpus."""
    log = stage_logger()
    with stopwatch() as timing:
        spec, finder = chunk_spec(settings, params)
        with open_catalog(settings.catalog_path) as catalog:
            summary = chunk_corpus(catalog, run_id=run.run_id, spec=spec, find_spans=finder,
                                   corpus_path=run.corpus_path, progress=stage_progress("chunk", log, "documents"))
    log.info(f"chunk: {summary.documents_chunked:,} documents (re)chunked into {summary.chunks_written:,} "
             f"chunks; corpus has {summary.chunks:,} chunks")
    return {"documents_chunked": summary.documents_chunked, "chunks_written": summary.chunks_written,
            "chunks": summary.chunks, "seconds": timing["seconds"]}
