"""The self-report: cohesion and stability figures, and the diagnostics a run records."""

import json

import numpy as np

from tasks.core.clustering import theme_cohesion, theme_stability
from tests.unit.core.clustering.clustering_fixtures import D, normalise, planted, run_clustering


def test_quality_self_report_in_diagnostics():
    x, _ = planted()
    c = run_clustering(x)
    d = c.diagnostics
    assert d["n_themes"] == c.theme.max() + 1 and d["n_subthemes"] == c.subtheme_theme.size
    assert d["noise_pct"] == round(100 * float((c.theme < 0).mean()), 2)
    assert 0.0 < d["cohesion"] <= 1.0
    assert d["reassigned_noise_pct"] == 0.0
    json.dumps(d)  # JSON-able, it goes into the manifest


def test_theme_stability_is_high_on_clear_blobs_and_seeded():
    x, _ = planted(seed=5, sizes=(120, 100, 90, 80), n_noise=20)
    c = run_clustering(x)
    a = theme_stability(x, c.theme, seed=3)
    assert a == theme_stability(x, c.theme, seed=3)
    assert a["stability_ari"] >= 0.8 and a["stability_sample"] == round(0.9 * len(x))
    tiny = theme_stability(x[:30], c.theme[:30])
    assert tiny["stability_ari"] is None


def test_theme_cohesion_degenerate_cases():
    x = normalise(np.ones((5, D)))
    assert theme_cohesion(x, np.full(5, -1)) is None
    assert theme_cohesion(x, np.zeros(5, np.int64)) == 1.0
