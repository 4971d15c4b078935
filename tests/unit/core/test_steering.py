"""Steering by an instruction (`tasks.core.steering`) with a stand-in encoder: reading the instruction, the
candidate phrases, the facet's span and alignment, the projection."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tasks.core.steering import (
    ALIGNED,
    FACET_DIMS,
    MIN_CHUNKS,
    candidate_phrases,
    facet_alignment,
    facet_basis,
    parse_instruction,
    steer,
)

D = 48


def fake_encode(texts: list[str]) -> np.ndarray:
    """Deterministic unit vectors: each word a seeded random vector, a text the mean of its words'."""
    out = []
    for text in texts:
        words = text.lower().split() or [""]
        vecs = [np.random.default_rng(int(hashlib.md5(w.encode()).hexdigest()[:8], 16)).standard_normal(D)
                for w in words]
        v = np.mean(vecs, axis=0)
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, np.float32)


@pytest.mark.parametrize("text, examples, facet, values", [
    ("sentiment: positive or negative", None, "sentiment", ("positive", "negative")),
    ("type of issue (refund, delivery, etc.)", None, "type of issue", ("refund", "delivery")),
    ("product mentioned", None, "product mentioned", ()),
    ("  product   mentioned ", ["camera", "phone", "camera"], "product mentioned", ("camera", "phone")),
    ("topic: sports / politics; weather and travel...", None, "topic", ("sports", "politics", "weather", "travel")),
])
def test_an_instruction_is_read_as_its_facet_and_example_values(text, examples, facet, values):
    read = parse_instruction(text, examples)
    assert (read.facet, read.examples) == (facet, values)
    assert read.text == " ".join(text.split())


def test_the_instructions_own_words_are_its_content_words():
    assert parse_instruction("type of issue (refund, delivery)").content_words() == {"type", "issue", "refund",
                                                                                      "delivery"}


def test_candidate_phrases_occur_in_enough_chunks_most_widespread_first():
    texts = ["the battery life is short"] * 5 + ["battery life again"] * 2 + ["a rare word once"]
    phrases = candidate_phrases(texts)
    assert phrases[:3] == ["battery", "battery life", "life"], "7 chunks each, then alphabetical"
    assert phrases[3:] == ["battery life is short", "life is short", "short"]
    assert "rare" not in phrases and "once" not in phrases, f"fewer than {MIN_CHUNKS} chunks"


def test_the_facet_leaves_out_the_instructions_own_words_and_spans_the_closest_phrases():
    phrases = [f"word{i}" for i in range(200)] + ["sentiment", "positive feedback", "negatives"]
    facet = facet_basis(parse_instruction("sentiment: positive or negative"), phrases, fake_encode)
    assert not {"sentiment", "positive feedback", "negatives"} & set(facet.phrases)
    assert facet.basis.shape == (FACET_DIMS, D) and facet.vocabulary == 200
    assert np.allclose(facet.basis @ facet.basis.T, np.eye(FACET_DIMS), atol=1e-4), "orthonormal directions"


def test_a_corpus_with_nothing_but_the_instructions_words_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot steer this corpus"):
        facet_basis(parse_instruction("sentiment"), ["sentiment", "sentiments"], fake_encode)


def test_alignment_is_one_along_the_corpus_main_directions_and_small_across_them():
    rng = np.random.default_rng(0)
    scales = np.r_[np.full(4, 10.0), np.full(D - 4, 0.5)]
    emb = (rng.standard_normal((500, D)) * scales).astype(np.float32)
    main, minor = np.eye(D, dtype=np.float32)[:4], np.eye(D, dtype=np.float32)[10:14]
    assert facet_alignment(emb, main) == pytest.approx(1.0, abs=0.02)
    assert facet_alignment(emb, minor) < 0.05 < ALIGNED


def test_steered_vectors_are_unit_rows_of_the_facets_coordinates():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((30, D)).astype(np.float32)
    basis = np.linalg.qr(rng.standard_normal((D, 5)))[0].T.astype(np.float32)
    out = steer(emb, basis)
    assert out.shape == (30, 5) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.allclose(out, (emb @ basis.T) / np.linalg.norm(emb @ basis.T, axis=1, keepdims=True), atol=1e-5)
