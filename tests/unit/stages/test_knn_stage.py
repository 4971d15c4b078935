"""The knn stage: its graph cache (a second configuration over the same vectors reuses the graph, nothing else
does) and the threads a `context_field` reads records in."""

from __future__ import annotations

import json
import os

import numpy as np

from tasks.chunk import chunk_corpus, load_corpus_texts, span_finder
from tasks.core.chunking import ChunkSpec
from tasks.core.knn_graph import build_knn_graph
from tasks.infra.catalog import open_catalog
from tasks.infra.params import GraphParams, IngestParams, RunParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.storage import open_storage
from tasks.ingest import ingest_bucket
from tasks.knn import (
    cached_graph,
    context_threads,
    contextual_vectors,
    graph_cache_key,
    store_graph,
    thread_count,
)


def unit_rows(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    emb = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_the_key_names_exactly_the_vectors_k_and_seed():
    emb = unit_rows(50)
    key = graph_cache_key(emb, 5, 0)
    assert key == graph_cache_key(emb.copy(), 5, 0)
    nudged = emb.copy()
    nudged[17, 3] = np.nextafter(nudged[17, 3], np.float32(2))
    reordered = emb[::-1].copy()
    others = {graph_cache_key(nudged, 5, 0), graph_cache_key(reordered, 5, 0), graph_cache_key(emb, 6, 0),
              graph_cache_key(emb, 5, 1), graph_cache_key(emb[:49], 5, 0)}
    assert key not in others and len(others) == 5


def test_a_stored_graph_comes_back_identical_and_only_the_newest_are_kept(tmp_path):
    emb = unit_rows(60)
    graph = build_knn_graph(emb, 5)
    key = graph_cache_key(emb, 5, 0)
    assert cached_graph(tmp_path, key) is None
    store_graph(tmp_path, key, graph, keep=2)
    again = cached_graph(tmp_path, key)
    assert np.array_equal(again.indices, graph.indices) and np.array_equal(again.distances, graph.distances)
    os.utime(tmp_path / f"{key}.npz", (1, 1))  # used long ago (explicit times: no clock-resolution ties)
    for seed in (1, 2):
        other = unit_rows(60, seed=seed)
        other_key = graph_cache_key(other, 5, 0)
        store_graph(tmp_path, other_key, build_knn_graph(other, 5), keep=2)
        os.utime(tmp_path / f"{other_key}.npz", (1 + seed, 1 + seed))
    assert len(list(tmp_path.glob("*.npz"))) == 2 and cached_graph(tmp_path, key) is None
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_a_damaged_entry_is_a_miss_not_an_error(tmp_path):
    (tmp_path / "abc.npz").write_bytes(b"not an npz")
    assert cached_graph(tmp_path, "abc") is None


def test_a_context_field_reads_records_of_one_thread_together_in_reading_order(tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    # Two files; session "s1" spans both, "s2" is in the first only; one record has no session.
    day1 = [{"id": "a", "text": "alpha opening words", "session": "s1"},
            {"id": "b", "text": "bravo opening words", "session": "s2"},
            {"id": "c", "text": "charlie middle words", "session": "s1"},
            {"id": "d", "text": "delta lonely words"}]
    day2 = [{"id": "e", "text": "echo closing words", "session": "s1"},
            {"id": "f", "text": "foxtrot closing words", "session": "s2"}]
    (bucket / "2026-01-01.jsonl").write_text("\n".join(json.dumps(r) for r in day1))
    (bucket / "2026-01-02.jsonl").write_text("\n".join(json.dumps(r) for r in day2))
    settings = Settings(state_dir=tmp_path / "state")
    run = RunRef(run_id="r1", scratch=str(tmp_path / "scratch"), started_at="2026-01-01T00:00:00Z")
    with open_catalog(settings.catalog_path) as catalog:
        ingest_bucket(open_storage(f"file://{bucket}"), catalog, run_id="r1", params=RunParams().view(IngestParams))
        spec = ChunkSpec("chars", 300, 40)
        chunk_corpus(catalog, run_id="r1", spec=spec, find_spans=span_finder(spec), corpus_path=run.corpus_path)
    threads, order = context_threads(run, settings, "session")
    first_word = [text.split()[0] for text in load_corpus_texts(settings, run)[0]]
    by_thread: dict[str, list[str]] = {}
    for row in np.argsort(order, kind="stable"):
        by_thread.setdefault(threads[row], []).append(first_word[row])
    assert sorted(by_thread.values()) == [["alpha", "charlie", "echo"], ["bravo", "foxtrot"], ["delta"]]
    assert by_thread["t:s1"] == ["alpha", "charlie", "echo"] and thread_count(threads) == 2
    assert thread_count(context_threads(run, settings, "no_such_field")[0]) == 0
    # The stage's vectors: with the field, "charlie" leans on its session's records, not on its row neighbours.
    emb = unit_rows(len(order), d=16, seed=3)
    np.save(run.embeddings_path, emb)
    row = {word: i for i, word in enumerate(first_word)}
    threaded = contextual_vectors(run, settings, RunParams(context_field="session").view(GraphParams))
    alone = contextual_vectors(run, settings, RunParams().view(GraphParams))
    np.testing.assert_array_equal(alone, emb)  # one-chunk documents: unchanged without the field
    mixed = emb[row["charlie"]] + 0.5 * (emb[row["alpha"]] + emb[row["echo"]])
    np.testing.assert_allclose(threaded[row["charlie"]], mixed / np.linalg.norm(mixed), atol=1e-6)
    np.testing.assert_array_equal(threaded[row["delta"]], emb[row["delta"]])
