"""Synthetic corpora for the clustering unit tests: planted blobs on the sphere, and the contract check."""

from __future__ import annotations

import numpy as np

from tasks.core.clustering import Clustering, cluster_embeddings, recommended_k
from tasks.core.knn_graph import build_knn_graph

D = 384


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows to unit length, float32."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blob(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    """``n`` unit vectors around ``centre``; ``spread`` is the per-point noise norm relative to the unit centre."""
    noise = rng.standard_normal((n, D)) * (spread / np.sqrt(D))
    return normalise(centre[None, :] + noise)


def planted(seed: int = 0, sizes=(80, 70, 60, 50), n_noise: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Well separated blobs plus uniform background noise (label -1)."""
    rng = np.random.default_rng(seed)
    # Blobs share a common direction (a corpus's topics are closer to each
    # other than to random junk), so background points are the far outliers.
    common = rng.standard_normal(D)
    centres = normalise(common[None, :] + 0.8 * rng.standard_normal((len(sizes), D)))
    parts = [blob(rng, c, s, 0.6) for c, s in zip(centres, sizes, strict=True)]
    parts.append(normalise(rng.standard_normal((n_noise, D))))
    truth = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)] + [np.full(n_noise, -1)])
    return np.concatenate(parts), truth


def nested(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Themes made of 1-4 sub-blobs, plus noise; returns the vectors and each row's theme (-1 noise)."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(D)
    parts, theme = [], []
    for t in range(8):
        centre = normalise((common + 1.5 * rng.standard_normal(D))[None, :])[0]
        for _ in range(1 + t % 4):
            sub = normalise((centre + 0.5 * rng.standard_normal(D))[None, :])[0]
            parts.append(blob(rng, sub, int(rng.integers(15, 60)), 0.5))
            theme.append(np.full(len(parts[-1]), t))
    parts.append(normalise(rng.standard_normal((40, D))))
    theme.append(np.full(40, -1))
    return np.concatenate(parts), np.concatenate(theme)


def run_clustering(x: np.ndarray, **kw) -> Clustering:
    """``cluster_embeddings`` over the recommended graph for the given parameters."""
    mcs = kw.get("min_cluster_size", 25)
    graph = build_knn_graph(x, recommended_k(mcs, kw.get("min_samples")))
    return cluster_embeddings(x, graph, **kw)


def check_contract(c: Clustering, n: int) -> None:
    """Dtypes, shapes and numbering as the package docstring states them."""
    assert c.theme.dtype == np.int32 and c.theme.shape == (n,)
    assert c.subtheme.dtype == np.int32 and c.subtheme.shape == (n,)
    assert c.subtheme_theme.dtype == np.int32
    assert c.subtheme_theme.shape == (int(c.subtheme.max()) + 1 if n and c.subtheme.max() >= 0 else 0,)
    assert ((c.subtheme < 0) | (c.theme >= 0)).all()  # no subtheme outside a theme
    if (c.theme >= 0).any():
        sizes = np.bincount(c.theme[c.theme >= 0])
        assert (np.diff(sizes) <= 0).all()  # numbered by decreasing size
    for s, t in enumerate(c.subtheme_theme):
        assert (c.theme[c.subtheme == s] == t).all()
    assert list(c.subtheme_theme) == sorted(c.subtheme_theme)  # grouped by theme
