"""The report's chunk map as data for the page script: which chunks are drawn, where, in which theme.

Input is a run's assignments table (one row per chunk, ``x``/``y`` in [-1, 1] from the layout step).
Output is compact parallel arrays (`build_map_data`): positions quantised to integers 0..`MAP_GRID`, the
theme and subtheme of each point as indices into the report's size-sorted themes (-1: noise / none), and
hover passages for a subset of the points. Above `MAP_MAX_POINTS` chunks (or `MAP_MAX_PASSAGES` passages)
a seeded sample is taken; row numbers are always int64 and sorted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.reporting.formatting import clip

MAP_MAX_POINTS = 200_000
"""The map draws every chunk up to this many; above it, a seeded sample of this size (the page says so)."""
MAP_MAX_PASSAGES = 20_000
"""Map points that carry their passage for the hover card; above it, a seeded sample (the page says so)."""
MAP_PASSAGE_CHARS = 180
"""Hover passages are clipped to this many characters."""
MAP_GRID = 9999
"""Map positions travel as integers 0..MAP_GRID (4 digits each instead of a float's 8-10)."""


def sample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    """int64 row numbers ``0..n-1`` in order: all of them if ``n <= limit``, else a seeded sample of ``limit``."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False)).astype(np.int64)


def map_rows(assignments: pa.Table, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Which chunks the map draws, and which of those carry their passage (both sorted row numbers).

    Args:
        assignments: The run's assignments table (one row per chunk).
        seed: Seed for the samples taken above `MAP_MAX_POINTS` / `MAP_MAX_PASSAGES`.

    Returns:
        ``(drawn, with_passage)``; ``with_passage`` is a subset of ``drawn``.
    """
    drawn = sample_rows(assignments.num_rows, MAP_MAX_POINTS, seed)
    return drawn, drawn[sample_rows(len(drawn), MAP_MAX_PASSAGES, seed + 1)]


def chunk_indices(assignments: pa.Table, themes: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk: its theme's position in ``themes`` (-1 noise) and its subtheme's position inside it (-1 none).

    Args:
        assignments: The run's assignments (``theme_id``, ``subtheme_id``).
        themes: The report's themes, largest first, each with its subthemes largest first.

    Returns:
        Two int64 arrays of length ``assignments.num_rows``.
    """
    theme_pos = {t["cluster_id"]: i for i, t in enumerate(themes)}
    sub_pos = {s["cluster_id"]: j for t in themes for j, s in enumerate(t.get("subclusters", []))}
    t = np.array([theme_pos.get(v, -1) for v in assignments.column("theme_id").to_pylist()], np.int64)
    s = np.array([sub_pos.get(v, -1) for v in assignments.column("subtheme_id").to_pylist()], np.int64)
    return t, s


def _quantise(values: np.ndarray) -> np.ndarray:
    """Map [-1, 1] floats to integers 0..MAP_GRID (NaN to the middle, out-of-range values to the edges)."""
    clipped = np.clip(np.nan_to_num(values.astype(np.float64)), -1.0, 1.0)
    return np.rint((clipped + 1.0) / 2.0 * MAP_GRID).astype(np.int64)


def _median_positions(x: np.ndarray, y: np.ndarray, labels: np.ndarray, count: int) -> list[list[int] | None]:
    """Median (x, y) of the points of each label 0..count-1 (None for a label with no drawn point)."""
    out: list[list[int] | None] = [None] * count
    for label in np.unique(labels[labels >= 0]):
        if label < count:
            rows = labels == label
            out[int(label)] = [int(np.median(x[rows])), int(np.median(y[rows]))]
    return out


def _sublabels(x: np.ndarray, y: np.ndarray, t: np.ndarray, s: np.ndarray,
               themes: list[dict[str, Any]]) -> list[list[list[int] | None]]:
    """Per theme, the median position of each of its subthemes (`_median_positions` within the theme)."""
    out = []
    for i, theme in enumerate(themes):
        mine = t == i
        out.append(_median_positions(x[mine], y[mine], s[mine], len(theme.get("subclusters", []))))
    return out


def _hover_passages(assignments: pa.Table, passages: dict[int, str], drawn: np.ndarray) -> dict[str, list[Any]]:
    """The drawn points that carry a passage: ``p`` (indices into the drawn points), ``pt``, ``pf``, ``files``."""
    at = {int(row): i for i, row in enumerate(drawn.tolist())}
    carried = sorted(at[row] for row in passages if row in at)
    keys = assignments.column("object_key").take(pa.array(drawn[carried], pa.int64())).to_pylist() if carried else []
    files = sorted(set(keys))
    file_pos = {k: i for i, k in enumerate(files)}
    return {"p": carried, "pt": [clip(passages[int(drawn[i])], MAP_PASSAGE_CHARS) for i in carried],
            "pf": [file_pos[k] for k in keys], "files": files}


def build_map_data(
    assignments: pa.Table,
    themes: list[dict[str, Any]],
    passages: dict[int, str],
    drawn: np.ndarray,
) -> dict[str, Any] | None:
    """The map's data for the page script: one entry per drawn chunk, in compact parallel arrays.

    Args:
        assignments: The run's assignments with ``x``/``y`` columns (`tasks.publish.build_assignments`).
        themes: The report's themes, largest first (a chunk's theme index is its position here), each
            with its subthemes largest first.
        passages: Passage text by row number, for the rows that carry one on hover.
        drawn: Sorted row numbers to draw (`map_rows`).

    Returns:
        ``{"n", "drawn", "x", "y", "t", "s", "p", "pt", "pf", "files", "labels", "sublabels"}`` where ``t``
        is the theme index (-1 noise), ``s`` the subtheme index inside it (-1 none), ``p`` the indices (into
        the drawn points) that carry a passage, ``pt`` their clipped text and ``pf`` an index into ``files``;
        or None when the table has no map positions (a run published before the map existed).
    """
    if "x" not in assignments.column_names or "y" not in assignments.column_names:
        return None
    index = pa.array(drawn, pa.int64())
    x = _quantise(assignments.column("x").take(index).to_numpy(zero_copy_only=False))
    y = _quantise(assignments.column("y").take(index).to_numpy(zero_copy_only=False))
    t, s = chunk_indices(assignments.take(index), themes)
    return {
        "n": assignments.num_rows, "drawn": len(drawn),
        "x": x.tolist(), "y": y.tolist(), "t": t.tolist(), "s": s.tolist(),
        **_hover_passages(assignments, passages, drawn),
        "labels": _median_positions(x, y, t, len(themes)), "sublabels": _sublabels(x, y, t, s, themes),
    }
