"""Tests for ``tasks.core.reporting.drawing``: the run and theme graphs are valid, deterministic PNGs."""

from __future__ import annotations

import numpy as np

from tasks.core.reporting import chunk_indices, sort_themes
from tasks.core.reporting.drawing import render_run_graph, render_theme_graph
from tests.unit.core.reporting.reporting_fixtures import make_map_inputs, make_themes


def test_graph_pngs_are_valid_and_deterministic() -> None:
    themes = make_themes(4)
    assignments, _ = make_map_inputs(themes)
    ordered = sort_themes(themes)
    coords = np.stack([assignments.column("x").to_numpy(), assignments.column("y").to_numpy()], axis=1)
    t, s = chunk_indices(assignments, ordered)
    png = render_run_graph(coords, t, [c["cluster_header"] for c in ordered], title="run")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert png == render_run_graph(coords, t, [c["cluster_header"] for c in ordered], title="run")
    one = render_theme_graph(coords, t, s, 0, [c["cluster_header"] for c in ordered[0]["subclusters"]], title="t0")
    assert one.startswith(b"\x89PNG")
    empty = render_run_graph(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), [], title="empty")
    assert empty.startswith(b"\x89PNG")
