"""Tests for ``tasks.core.layout``: the 2-D map layout's contract, degenerate cases and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.layout import project_embeddings


def _blobs(n_per: list[int], d: int = 32, seed: int = 0, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(n_per), d))
    labels = np.repeat(np.arange(len(n_per)), n_per)
    emb = centres[labels] + rng.normal(scale=spread, size=(len(labels), d))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb.astype(np.float32), labels


def test_contract_shape_dtype_range_and_determinism() -> None:
    emb, labels = _blobs([120, 80, 40])
    labels[::17] = -1
    coords = project_embeddings(emb, labels, seed=3)
    assert coords.shape == (len(emb), 2) and coords.dtype == np.float32
    assert np.isfinite(coords).all() and coords.min() >= -1 and coords.max() <= 1
    assert np.array_equal(coords, project_embeddings(emb, labels, seed=3))


def test_themes_occupy_separate_regions() -> None:
    emb, labels = _blobs([150, 150, 150, 60])
    coords = project_embeddings(emb, labels)
    centres = np.array([coords[labels == t].mean(axis=0) for t in range(4)])
    spread = max(float(np.linalg.norm(coords[labels == t] - centres[t], axis=1).mean()) for t in range(4))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(4) for b in range(a + 1, 4)]
    assert min(gaps) > 2 * spread, "theme discs are pushed apart"


def test_bigger_themes_get_more_room() -> None:
    emb, labels = _blobs([400, 25])
    coords = project_embeddings(emb, labels)
    extent = [np.ptp(coords[labels == t], axis=0).max() for t in (0, 1)]
    assert extent[0] > 2 * extent[1]


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n: int) -> None:
    emb, labels = _blobs([n]) if n else (np.zeros((0, 8), np.float32), np.zeros(0, np.int64))
    coords = project_embeddings(emb, labels)
    assert coords.shape == (n, 2) and coords.dtype == np.float32
    if n:
        assert coords.tolist() == [[0.0, 0.0]]


def test_all_noise_uses_a_global_projection() -> None:
    emb, _ = _blobs([50, 50])
    coords = project_embeddings(emb, np.full(len(emb), -1))
    assert coords.shape == (100, 2) and np.ptp(coords, axis=0).min() > 0


def test_all_identical_vectors_and_a_single_theme() -> None:
    emb = np.tile(np.eye(1, 16, dtype=np.float32), (30, 1))
    coords = project_embeddings(emb, np.zeros(30, np.int64))
    assert np.isfinite(coords).all()
    assert np.allclose(coords, coords[0]), "identical chunks land on one spot"


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="2-D"):
        project_embeddings(np.zeros(4, np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="one label per row"):
        project_embeddings(np.zeros((4, 3), np.float32), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="integers"):
        project_embeddings(np.zeros((2, 3), np.float32), np.zeros(2, np.float32))
