"""The clustering's contract: public API, degenerate inputs, parameter and input checks, ``recommended_k``."""

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tasks.core.clustering as clustering
from tasks.core.clustering import (
    DEFAULT_MIN_SAMPLES,
    LARGE_CORPUS_K,
    LARGE_CORPUS_N,
    SUBTHEME_RESOLUTION,
    THEME_RESOLUTION,
    cluster_embeddings,
    recommended_k,
)
from tasks.core.clustering.contract import (
    SMALL_CORPUS_MIN_K,
    SMALL_CORPUS_RESOLUTION,
    resolve_min_samples,
    resolve_resolution,
)
from tasks.core.knn_graph import build_knn_graph
from tasks.infra.params import RunParams
from tests.unit.core.clustering.clustering_fixtures import D, check_contract, normalise, planted, run_clustering

ROOT = Path(__file__).resolve().parents[4]


def test_public_api_is_exported():
    for name in ("Clustering", "cluster_embeddings", "recommended_k", "theme_stability", "theme_cohesion",
                 "THEME_RESOLUTION", "SUBTHEME_RESOLUTION", "DEFAULT_MIN_SAMPLES", "LARGE_CORPUS_N",
                 "LARGE_CORPUS_K", "SELECTION_METHODS"):
        assert name in clustering.__all__ and hasattr(clustering, name), name
    assert all(hasattr(clustering, name) for name in clustering.__all__)


def test_empty_input():
    x = np.empty((0, D), np.float32)
    c = cluster_embeddings(x, build_knn_graph(x, 30))
    check_contract(c, 0)
    assert c.theme.size == 0 and c.subtheme_theme.size == 0  # no theme is invented from nothing


def test_single_point():
    x = normalise(np.ones((1, D)))
    c = cluster_embeddings(x, build_knn_graph(x, 30))
    check_contract(c, 1)
    assert c.theme.tolist() == [-1] and c.subtheme.tolist() == [-1]


def test_fewer_points_than_min_cluster_size_is_all_noise():
    x, _ = planted(sizes=(10,), n_noise=5)
    c = run_clustering(x, min_cluster_size=25)
    check_contract(c, len(x))
    assert (c.theme == -1).all() and (c.subtheme == -1).all() and c.subtheme_theme.size == 0


def test_all_identical_embeddings_form_one_theme():
    x = normalise(np.ones((40, D)))
    c = run_clustering(x)
    check_contract(c, 40)
    assert (c.theme == 0).all() and (c.subtheme == -1).all()


def test_recommended_k():
    assert recommended_k(25, None) >= 30
    assert recommended_k(25, 20) >= 3 * 21
    with pytest.raises(ValueError, match="min_cluster_size"):
        recommended_k(1, None)


def test_recommended_k_is_capped_for_large_corpora_but_never_below_min_samples():
    small, large = recommended_k(25, 20, LARGE_CORPUS_N), recommended_k(25, 20, LARGE_CORPUS_N + 1)
    assert small == recommended_k(25, 20) >= 3 * 21
    assert large == LARGE_CORPUS_K < small
    assert recommended_k(100, 50, 10 * LARGE_CORPUS_N) == 51, "the core distance needs min_samples neighbours"


def test_small_corpora_get_narrow_graphs_and_larger_ones_keep_the_defaults():
    # A 333-chunk novel: no neighbourhood over 1/25 of it, min_samples a third of that.
    assert recommended_k(25, None, 333) == 13 and resolve_min_samples(None, 25, 333) == 3
    assert recommended_k(25, None, 250) == SMALL_CORPUS_MIN_K and resolve_min_samples(None, 25, 250) == 2
    for n in (100, 249, 825, 13_083, None):  # under 250 chunks 1/25 is under 10 neighbours: no rule

        assert recommended_k(25, None, n) == recommended_k(25, None) == 33
        assert resolve_min_samples(None, 25, n) == DEFAULT_MIN_SAMPLES
    assert resolve_min_samples(7, 25, 300) == 7, "an explicit min_samples is kept"
    assert recommended_k(25, 7, 300) == 12 and recommended_k(25, 12, 300) == 13, "never below min_samples + 1"
    # A subtheme's graph follows the corpus's size, not its theme's.
    assert recommended_k(5, 5, 200, corpus_n=13_083) == 30
    assert recommended_k(5, 3, 60, corpus_n=333) == 13


def test_a_small_corpus_is_clustered_with_its_narrow_graph():
    x, _ = planted(sizes=(60, 60, 60, 60), n_noise=20)
    c = run_clustering(x)
    assert c.diagnostics["min_samples"] == 2 and c.diagnostics["k"] == SMALL_CORPUS_MIN_K
    x, _ = planted(sizes=(300, 250, 200, 150), n_noise=30)
    c = run_clustering(x)
    assert c.diagnostics["min_samples"] == DEFAULT_MIN_SAMPLES and c.diagnostics["k"] == 33


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_subcluster_size": 0}, "min_subcluster_size"),
        ({"min_subcluster_size": 2.5}, "min_subcluster_size"),
        ({"min_samples": 0}, "min_samples"),
        ({"cluster_selection": "leaf"}, "cluster_selection"),
        ({"resolution": 0}, "resolution"),
        ({"subtheme_resolution": float("nan")}, "subtheme_resolution"),
    ],
)
def test_parameter_validation(kw, match):
    x, _ = planted(sizes=(30,), n_noise=0)
    with pytest.raises(ValueError, match=match):
        cluster_embeddings(x, build_knn_graph(x, 30), **kw)


def test_cluster_embeddings_takes_no_seed():
    """The clustering has no random step, so it has no seed to accept and ignore."""
    x, _ = planted(sizes=(30,), n_noise=0)
    assert "seed" not in inspect.signature(cluster_embeddings).parameters
    with pytest.raises(TypeError, match="seed"):
        cluster_embeddings(x, build_knn_graph(x, 30), seed=0)


def test_input_validation():
    x, _ = planted(sizes=(30,), n_noise=0)
    g = build_knn_graph(x, 30)
    with pytest.raises(ValueError, match="float32"):
        cluster_embeddings(x.astype(np.float64), g)
    with pytest.raises(ValueError, match="same embeddings"):
        cluster_embeddings(x[:10], g)
    with pytest.raises(ValueError, match="min_samples"):
        cluster_embeddings(x, build_knn_graph(x, 3), min_samples=10)


def test_stickiness_validation():
    x, _ = planted(sizes=(30,), n_noise=0)
    g = build_knn_graph(x, 30)
    with pytest.raises(ValueError, match="stickiness"):
        cluster_embeddings(x, g, stickiness=-0.1)
    with pytest.raises(ValueError, match="prior_theme"):
        cluster_embeddings(x, g, prior_theme=np.zeros(len(x) - 1, np.int64), stickiness=0.1)
    with pytest.raises(ValueError, match="prior_theme"):
        cluster_embeddings(x, g, prior_theme=np.full(len(x), -2), stickiness=0.1)


def test_run_parameter_defaults_match_the_clustering_defaults():
    p = RunParams()
    defaults = inspect.signature(cluster_embeddings).parameters
    assert (p.cluster_selection, p.resolution, p.subtheme_resolution) == (
        defaults["cluster_selection"].default, defaults["resolution"].default, SUBTHEME_RESOLUTION)


def test_the_default_resolution_rises_only_in_a_small_corpus():
    # 250-825 chunks is where the small-corpus rule narrows the graph; a given resolution is always kept.
    assert [resolve_resolution(None, n) for n in (249, 250, 333, 824, 825, 13_083)] == [
        THEME_RESOLUTION, SMALL_CORPUS_RESOLUTION, SMALL_CORPUS_RESOLUTION, SMALL_CORPUS_RESOLUTION,
        THEME_RESOLUTION, THEME_RESOLUTION]
    assert resolve_resolution(1.0, 333) == 1.0 and resolve_resolution(3.0, 1000) == 3.0
    assert SMALL_CORPUS_RESOLUTION > THEME_RESOLUTION


def test_a_small_corpus_is_cut_at_the_small_corpus_resolution():
    x, _ = planted(sizes=(60, 60, 60, 60, 60), n_noise=20, seed=3)
    g = build_knn_graph(x, min(recommended_k(25, None, len(x)), len(x) - 1))
    default = cluster_embeddings(x, g)
    assert default.diagnostics["resolution"] == SMALL_CORPUS_RESOLUTION
    assert np.array_equal(default.theme, cluster_embeddings(x, g, resolution=SMALL_CORPUS_RESOLUTION).theme)


def test_importing_the_clustering_does_not_import_prefect():
    """Benchmarks and notebooks call the pure functions; the Prefect wrapper is built on first use."""
    code = "import sys, tasks.cluster, tasks.knn; print(sorted(m for m in sys.modules if m.startswith('prefect')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"prefect imported: {done.stdout[:500]}"
