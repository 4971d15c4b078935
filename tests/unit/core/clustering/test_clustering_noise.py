"""Noise handling: the optional reassignment by label propagation (step 4b)."""

import numpy as np

from tasks.core.clustering.noise import reassign_noise
from tasks.core.knn_graph import KnnGraph
from tests.unit.core.clustering.clustering_fixtures import check_contract, planted, run_clustering


def test_noise_reassignment_is_off_by_default_and_reported():
    x, _ = planted()
    plain, moved = run_clustering(x), run_clustering(x, reassign_noise=True)
    check_contract(moved, len(x))
    assert (plain.theme < 0).sum() > 0
    assert (moved.theme < 0).sum() < (plain.theme < 0).sum()
    # Reassignment only fills noise: clustered chunks keep their theme (ids may be renumbered by size).
    kept = plain.theme >= 0
    pairs = set(zip(plain.theme[kept].tolist(), moved.theme[kept].tolist(), strict=True))
    assert len(pairs) == plain.theme.max() + 1
    gained = int((moved.theme >= 0).sum() - (plain.theme >= 0).sum())
    assert moved.diagnostics["reassigned_noise_pct"] == round(100 * gained / len(x), 2)


def test_noise_reassignment_propagates_along_noise_chains_and_fills_subthemes():
    # 0-2: theme 0, subtheme 0; 3-4: theme 1 (no subthemes); 5-6-7: a noise chain hanging off row 0
    # (6 and 7 have only noise neighbours, so one neighbourhood vote cannot place them);
    # 8-9: noise with no path to any theme; 10: noise next to theme 1.
    nbrs = [[1, 2], [0, 2], [0, 1], [4, 10], [3, 10], [0, 6], [5, 7], [6, 5], [9, 8], [8, 9], [3, 4]]
    graph = KnnGraph(np.array(nbrs, np.int64), np.full((len(nbrs), 2), 0.1, np.float32))
    theme = np.array([0, 0, 0, 1, 1] + [-1] * 6, np.int64)
    sub = np.array([0, 0, 0] + [-1] * 8, np.int64)
    new_theme, new_sub, moved = reassign_noise(theme, sub, graph, 1)
    assert new_theme.tolist() == [0, 0, 0, 1, 1, 0, 0, 0, -1, -1, 1]
    assert new_sub.tolist() == [0, 0, 0, -1, -1, 0, 0, 0, -1, -1, -1]
    assert moved == 4
    assert theme[5] == -1 and sub[5] == -1  # inputs untouched
