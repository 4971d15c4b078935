"""Each chunk read with its neighbours in the same document, for the graph and the clustering."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.clustering import document_neighbours, with_document_context


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_neighbours_follow_the_position_in_the_document_not_the_row_order():
    docs = np.array(["b", "a", "a", "b", "a", "c"])
    starts = np.array([900, 500, 0, 0, 250, 0])
    pairs = sorted(zip(*document_neighbours(docs, starts), strict=True))
    assert pairs == sorted([(2, 4), (4, 1), (3, 0)])


def test_one_chunk_documents_are_unchanged_and_long_ones_lean_on_their_neighbours():
    rng = np.random.default_rng(0)
    emb = unit(rng.standard_normal((5, 16)))
    docs = np.array(["solo", "long", "long", "long", "other"])
    out = with_document_context(emb, docs, np.array([0, 0, 100, 200, 0]), 0.5)
    assert out.dtype == np.float32 and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)
    np.testing.assert_array_equal(out[[0, 4]], emb[[0, 4]])
    expected = unit((emb[2] + 0.5 * (emb[1] + emb[3]))[None])[0]
    np.testing.assert_allclose(out[2], expected, atol=1e-6)
    # The middle chunk moved toward both neighbours; the first one only toward the second.
    assert out[2] @ emb[1] > emb[2] @ emb[1] and out[2] @ emb[3] > emb[2] @ emb[3]
    np.testing.assert_allclose(out[1], unit((emb[1] + 0.5 * emb[2])[None])[0], atol=1e-6)


def test_weight_zero_is_the_identity_and_bad_input_is_refused():
    emb = unit(np.random.default_rng(1).standard_normal((3, 4)))
    docs, starts = np.array(["d", "d", "d"]), np.array([0, 1, 2])
    np.testing.assert_array_equal(with_document_context(emb, docs, starts, 0.0), emb)
    with pytest.raises(ValueError, match=">= 0"):
        with_document_context(emb, docs, starts, -1.0)
    with pytest.raises(ValueError, match="document ids"):
        with_document_context(emb, docs[:2], starts[:2], 0.5)
    with pytest.raises(ValueError, match="same length"):
        document_neighbours(docs, starts[:2])


def test_a_thread_reads_each_record_with_those_up_to_reach_places_away():
    rng = np.random.default_rng(2)
    emb = unit(rng.standard_normal((6, 16)))
    threads = np.array(["t", "t", "u", "t", "t", "t"])
    order = np.array([0, 1, 0, 2, 3, 4])  # rows 0, 1, 3, 4, 5 in that order; row 2 alone in its thread
    pairs = sorted(zip(*document_neighbours(threads, order, reach=2), strict=True))
    assert pairs == sorted([(0, 1), (1, 3), (3, 4), (4, 5), (0, 3), (1, 4), (3, 5)])
    out = with_document_context(emb, threads, order, 0.5, reach=2)
    np.testing.assert_array_equal(out[2], emb[2])
    np.testing.assert_allclose(out[3], unit((emb[3] + 0.5 * (emb[0] + emb[1] + emb[4] + emb[5]))[None])[0],
                               atol=1e-6)
    np.testing.assert_allclose(out[0], unit((emb[0] + 0.5 * (emb[1] + emb[3]))[None])[0], atol=1e-6)
    # Reach 1 is the document rule: bit for bit what it gave before reach existed.
    np.testing.assert_array_equal(with_document_context(emb, threads, order, 0.5, reach=1),
                                  with_document_context(emb, threads, order, 0.5))
    with pytest.raises(ValueError, match="reach"):
        document_neighbours(threads, order, reach=0)
