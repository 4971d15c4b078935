"""The clustering's self-report: theme cohesion in the original space, and theme stability under resampling."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from tasks.core.clustering.contract import (
    ROW_BATCH,
    all_identical,
    recommended_k,
    resolve_min_samples,
    resolve_resolution,
)
from tasks.core.clustering.selection import Selection
from tasks.core.clustering.themes import find_themes
from tasks.core.knn_graph import build_knn_graph


def theme_cohesion(emb: np.ndarray, theme: np.ndarray) -> float | None:
    """Size-weighted mean cosine between clustered chunks and their theme's centroid (original space).

    Args:
        emb: float32 ``(n, d)`` L2-normalised embeddings.
        theme: int ``(n,)`` theme per chunk, ``-1`` = noise.

    Returns:
        The mean, rounded to 4 places: 1.0 = every theme is one repeated chunk; unrelated chunks give about
        the corpus's mean pairwise cosine. ``None`` when nothing is clustered.
    """
    members = np.flatnonzero(theme >= 0)
    if len(members) == 0:
        return None
    lab = theme[members]
    cents = _unit_centroids(emb, members, lab)
    total = 0.0
    for a in range(0, len(members), ROW_BATCH):
        rows = members[a:a + ROW_BATCH]
        total += float(np.einsum("nd,nd->n", emb[rows], cents[lab[a:a + ROW_BATCH]]).sum(dtype=np.float64))
    return round(total / len(members), 4)


def _unit_centroids(emb: np.ndarray, members: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """float32 ``(T, d)`` unit-length mean direction of each theme's ``members``."""
    cents = np.zeros((int(lab.max()) + 1, emb.shape[1]), np.float32)
    for a in range(0, len(members), ROW_BATCH):  # batches: no (n, d) temporaries at 1M rows
        np.add.at(cents, lab[a:a + ROW_BATCH], emb[members[a:a + ROW_BATCH]])
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    return cents


def theme_stability(emb: np.ndarray, theme: np.ndarray, *, min_cluster_size: int = 25,
                    min_samples: int | None = None, share: float = 0.9, seed: int = 0,
                    cluster_selection: str = "modularity", resolution: float | None = None) -> dict:
    """How much the themes move when the corpus is resampled: a self-check a run can report.

    Clusters a seeded random ``share`` of the chunks again (fresh kNN graph, same parameters, no
    subthemes) and compares its themes with ``theme`` on those chunks.

    Args:
        emb: float32 ``(n, d)`` L2-normalised embeddings.
        theme: int ``(n,)`` the themes to check, ``-1`` = noise.
        min_cluster_size, min_samples, cluster_selection, resolution: as given to ``cluster_embeddings`` (a
            ``None`` resolution resolved on the whole corpus, so the sample is cut as the run was).
        share: fraction of the chunks in the sample.
        seed: seeds the sample and the sample's kNN graph.

    Returns:
        ``{"stability_ari", "stability_ami", "stability_sample"}``: adjusted Rand index and adjusted
        mutual information between the two theme labelings (noise as its own label) on the sample, and
        the sample size. 1.0 = identical themes; above ~0.8 the themes do not hinge on which chunks
        happen to be present. ``None`` figures when the sample is too small to cluster.
    """
    n = emb.shape[0]
    m = int(round(share * n))
    if m < max(2 * min_cluster_size, 3) or all_identical(emb):
        return {"stability_ari": None, "stability_ami": None, "stability_sample": m}
    rows = np.sort(np.random.default_rng(seed + 1).choice(n, m, replace=False))
    again = _recluster(np.ascontiguousarray(emb[rows]), min_cluster_size, min_samples, seed,
                       Selection(cluster_selection, resolve_resolution(resolution, n)))
    ref = theme[rows]
    return {"stability_ari": round(float(adjusted_rand_score(ref, again)), 4),
            "stability_ami": round(float(adjusted_mutual_info_score(ref, again)), 4),
            "stability_sample": m}


def _recluster(x: np.ndarray, min_cluster_size: int, min_samples: int | None, seed: int,
               selection: Selection) -> np.ndarray:
    """The themes of ``x`` alone, over a fresh seeded kNN graph of it."""
    m = x.shape[0]
    ms = min(resolve_min_samples(min_samples, min_cluster_size, m), m - 1)
    graph = build_knn_graph(x, min(recommended_k(min_cluster_size, min_samples, m), m - 1), seed=seed)
    return find_themes(x, graph, min_cluster_size, ms, {"seconds": {}}, selection=selection)
