"""Embed stage: vectors for every chunk text not yet in the embedding cache, then the run's vectors in row order.

The cache (`tasks.core.embedding.cache`) is a folder of Parquet parts per model and *resolved* backend, so a
killed run resumes where it stopped and identical passages are embedded once, in this run or any other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.embedding.cache import EmbeddingCache
from tasks.core.embedding.engines import Encoder, load_encoder, resolve_backend
from tasks.core.embedding.identity import model_key
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.errors import ModelError
from tasks.infra.progress import Progress, stage_progress
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch


@dataclass(frozen=True)
class EmbedSummary:
    """Counts of one embed stage."""

    chunks: int
    texts_embedded: int
    texts_cached: int
    model_key: str
    dim: int


def texts_to_embed(catalog: Catalog, corpus_path: Path, cache: EmbeddingCache,
                   commit_size: int) -> list[list[tuple[str, str]]]:
    """The corpus's uncached passages as commit batches of (text_hash, text), shortest first.

    Batch boundaries come from the whole corpus (see ``sql/select_texts_to_embed.sql``), so after a kill
    the rerun embeds the very batches an uninterrupted run would have, and its vectors are identical.
    """
    params = {"corpus": str(corpus_path), "commit_size": commit_size}
    parts = cache.parts()
    rows = (catalog.rows("select_texts_to_embed", {**params, "parts": parts}) if parts
            else catalog.rows("select_all_texts_to_embed", params))
    batches: dict[int, list[tuple[str, str]]] = {}
    for batch_no, text_hash, text in rows:
        batches.setdefault(batch_no, []).append((text_hash, text))
    return [batches[b] for b in sorted(batches)]


def embed_corpus(catalog: Catalog, *, corpus_path: Path, cache: EmbeddingCache, encode: Encoder | None,
                 load_encoder_fn: Callable[[], Encoder] | None = None, commit_size: int = 1024,
                 progress: Progress | None = None) -> EmbedSummary:
    """Embed the corpus's uncached passages in committed batches; the model loads only if needed.

    Args:
        catalog: open catalog (chunk texts).
        corpus_path: the run's frozen corpus.
        cache: the model's embedding cache.
        encode: an already-loaded encoder, or None to call ``load_encoder_fn`` lazily.
        load_encoder_fn: loads the encoder when there is work to do.
        commit_size: passages per committed part (batch boundaries are fixed per corpus, see `texts_to_embed`).
        progress: called with (passages done, passages to embed).
    """
    batches = texts_to_embed(catalog, corpus_path, cache, commit_size)
    total = sum(len(b) for b in batches)
    n_chunks = pq.read_metadata(corpus_path).num_rows
    distinct = catalog.rows("count_corpus_texts", {"corpus": str(corpus_path)})[0][0]
    dim = 0
    if batches and encode is None:
        if load_encoder_fn is None:
            raise ModelError("passages need embedding but no model was given")
        encode = load_encoder_fn()
    if progress:
        progress(0, total)
    done = 0
    for batch in batches:
        vectors = _encode_reporting(encode, [t for _, t in batch], done, total, progress)
        dim = vectors.shape[1]
        cache.write_part([h for h, _ in batch], vectors)
        done += len(batch)
    return EmbedSummary(n_chunks, total, distinct - total, cache.key, dim)


def _encode_reporting(encode: Encoder, texts: list[str], done: int, total: int,
                      progress: Progress | None) -> np.ndarray:
    """Encode one commit batch in slices so progress moves while a big batch runs."""
    def moved(n: int) -> None:
        if progress:
            progress(done + n, total)

    return encode_in_slices(encode, texts, moved)


def encode_in_slices(encode: Encoder, texts: list[str], on_slice: Callable[[int], None] | None = None,
                     step: int = 256) -> np.ndarray:
    """Encode ``texts`` in slices of ``step`` (the unit both the single-process and the fanned-out paths use,
    so their vectors are the same), calling ``on_slice`` with the count done after each."""
    parts = []
    for offset in range(0, len(texts), step):
        parts.append(encode(texts[offset : offset + step]))
        if on_slice:
            on_slice(min(offset + step, len(texts)))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def load_corpus_embeddings(catalog: Catalog, corpus_path: Path, cache: EmbeddingCache) -> np.ndarray:
    """The corpus's vectors in corpus row order: float32 (n, d), unit rows.

    Raises:
        ModelError: when the cache lacks vectors for some corpus rows (the embed stage did not finish).
    """
    n = pq.read_metadata(corpus_path).num_rows
    parts = cache.parts()
    if n == 0 or not parts:
        if n:
            raise ModelError(f"embedding cache {cache.dir} is empty; run the embed stage first")
        return np.zeros((0, 0), dtype=np.float32)
    table = catalog.arrow("select_corpus_embeddings", {"corpus": str(corpus_path), "parts": parts})
    if table.num_rows != n:
        raise ModelError(f"embedding cache {cache.dir} has vectors for {table.num_rows:,} of {n:,} chunks; "
                         "rerun to embed the rest")
    column = table.column("embedding").combine_chunks()
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.reshape(n, -1), dtype=np.float32)


def embedding_cache(settings: Settings) -> EmbeddingCache:
    """The embedding cache of the settings' model and *resolved* backend (``auto`` never keys a folder)."""
    backend = resolve_backend(settings.embed_backend, device=settings.device)
    return EmbeddingCache(settings.embeddings_dir, model_key(settings.model, backend))


@stage_task(name="embed")
def embed_task(run: RunRef, settings: Settings) -> dict:
    """Embed uncached passages, then lay the corpus's vectors out in row order for the later stages."""
    log = stage_logger()
    backend = resolve_backend(settings.embed_backend, device=settings.device)
    with stopwatch() as timing:
        cache = embedding_cache(settings)
        with open_catalog(settings.catalog_path) as catalog:
            summary = embed_corpus(
                catalog, corpus_path=run.corpus_path, cache=cache, encode=None,
                load_encoder_fn=lambda: _load_logged(settings, backend, log),
                commit_size=settings.embed_commit_size, progress=stage_progress("embed", log, "passages"))
    return finish_embedding(run, settings, cache, backend, summary, timing["seconds"])


def finish_embedding(run: RunRef, settings: Settings, cache: EmbeddingCache, backend: str, summary: EmbedSummary,
                     seconds: float) -> dict:
    """Lay the corpus's vectors out in row order for the later stages; log and return the stage's record."""
    log = stage_logger()
    with stopwatch() as timing:
        with open_catalog(settings.catalog_path) as catalog:
            vectors = load_corpus_embeddings(catalog, run.corpus_path, cache)
        np.save(run.embeddings_path, vectors)
    timing["seconds"] += seconds
    if cache.quarantined:
        log.warning(f"embed: {len(cache.quarantined):,} unreadable cache part(s) moved to {cache.dir / 'quarantine'} "
                    f"and their passages embedded again: {'; '.join(cache.quarantined[:5])}")
    rate = summary.texts_embedded / max(timing["seconds"], 1e-9)
    log.info(f"embed: {summary.texts_embedded:,} passages embedded ({rate:,.1f}/s), {summary.texts_cached:,} from "
             f"the cache ({cache.key}); {summary.chunks:,} chunks")
    return {"chunks_embedded": summary.texts_embedded, "chunks_cached": summary.texts_cached,
            "model_key": cache.key, "embed_backend": backend, "cache_parts_quarantined": len(cache.quarantined),
            "dim": int(vectors.shape[1]) if vectors.size else 0,
            "seconds": timing["seconds"]}


def run_encoder(settings: Settings) -> Encoder:
    """The deployment's model through its resolved backend: what the embed stage encodes passages with."""
    backend = resolve_backend(settings.embed_backend, device=settings.device)
    return load_encoder(settings.model, device=settings.device, batch_size=settings.embed_batch_size,
                        threads=settings.threads, backend=backend, models_dir=settings.state_dir / "models")


def _load_logged(settings: Settings, backend: str, log: logging.Logger | logging.LoggerAdapter) -> Encoder:
    """Load the encoder, saying which backend ``auto`` chose and how long the load (or first build) took."""
    start = time.perf_counter()
    encode = run_encoder(settings)
    chosen = f"{backend} (auto)" if settings.embed_backend == "auto" else backend
    log.info(f"embed: backend {chosen} on {settings.device}, loaded in {time.perf_counter() - start:.1f} s")
    return encode
