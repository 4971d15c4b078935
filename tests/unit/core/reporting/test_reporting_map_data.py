"""Tests for ``tasks.core.reporting.map_data``: the chunk map as compact arrays, sampled above the limits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tasks.core.reporting import map_data
from tasks.core.reporting.map_data import build_map_data, chunk_indices, map_rows, sample_rows
from tasks.core.reporting.render import sort_themes
from tests.unit.core.reporting.reporting_fixtures import make_map_inputs, make_themes


@pytest.fixture(scope="module")
def inputs() -> tuple[dict, pa.Table, dict[int, str]]:
    themes = make_themes(4)
    assignments, passages = make_map_inputs(themes)
    return themes, assignments, passages


def test_map_data_has_one_entry_per_chunk_with_theme_indices(inputs) -> None:
    themes, assignments, passages = inputs
    ordered = sort_themes(themes)
    drawn, carried = map_rows(assignments)
    data = build_map_data(assignments, ordered, {r: passages[r] for r in carried.tolist()}, drawn)
    n = assignments.num_rows
    assert data["n"] == data["drawn"] == n == len(data["x"]) == len(data["y"]) == len(data["t"]) == len(data["s"])
    assert min(data["x"]) >= 0 and max(data["x"]) <= map_data.MAP_GRID
    sizes = np.bincount([t for t in data["t"] if t >= 0])
    assert sizes.tolist() == [c["total_number_of_nodes"] for c in ordered]
    assert data["t"].count(-1) == themes["noise"]["total_number_of_nodes"]
    assert len(data["p"]) == len(data["pt"]) == len(data["pf"]) == n, "small runs carry every passage"
    assert len(data["labels"]) == len(ordered) and all(pos is not None for pos in data["labels"])
    assert [len(s) for s in data["sublabels"]] == [len(c["subclusters"]) for c in ordered]


def test_map_data_samples_above_the_limits(inputs, monkeypatch) -> None:
    themes, assignments, passages = inputs
    monkeypatch.setattr(map_data, "MAP_MAX_POINTS", 1000)
    monkeypatch.setattr(map_data, "MAP_MAX_PASSAGES", 100)
    drawn, carried = map_rows(assignments, seed=1)
    assert len(drawn) == 1000 and len(carried) == 100 and set(carried) <= set(drawn)
    assert np.array_equal(drawn, np.sort(drawn))
    data = build_map_data(assignments, sort_themes(themes), {r: passages[r] for r in carried.tolist()}, drawn)
    assert data["n"] == assignments.num_rows and data["drawn"] == 1000 and len(data["p"]) == 100
    assert all(len(t) <= map_data.MAP_PASSAGE_CHARS + 1 for t in data["pt"])
    assert np.array_equal(map_rows(assignments, seed=1)[0], drawn), "same seed, same sample"


def test_map_data_is_none_without_positions(inputs) -> None:
    themes, assignments, _ = inputs
    plain = assignments.drop_columns(["x", "y"])
    assert build_map_data(plain, sort_themes(themes), {}, np.arange(plain.num_rows)) is None


def test_passages_and_files_point_at_the_drawn_rows() -> None:
    table = pa.table({"object_key": ["a", "b", "a", "c"], "theme_id": ["t0", None, "t0", "t0"],
                      "subtheme_id": [None, None, None, None], "x": [-1.0, 0.0, 1.0, float("nan")],
                      "y": [2.0, 0.0, -2.0, 0.5]})
    themes = [{"cluster_id": "t0", "subclusters": []}]
    data = build_map_data(table, themes, {1: "one", 3: "three", 2: "not drawn"}, np.array([0, 1, 3]))
    assert data["x"] == [0, 5000, 5000] and data["y"] == [9999, 5000, 7499], "clipped to the grid; NaN -> 0"
    assert data["p"] == [1, 2] and data["pt"] == ["one", "three"]
    assert data["files"] == ["b", "c"] and data["pf"] == [0, 1]
    assert data["t"] == [0, -1, 0] and data["labels"] == [[2500, 8749]]


def test_chunk_indices_and_an_empty_table() -> None:
    table = pa.table({"theme_id": ["t1", None, "t0", "gone"], "subtheme_id": ["t1.2", None, None, None]})
    themes = [{"cluster_id": "t0"},
              {"cluster_id": "t1", "subclusters": [{"cluster_id": "t1.1"}, {"cluster_id": "t1.2"}]}]
    t, s = chunk_indices(table, themes)
    assert t.dtype == np.int64 and t.tolist() == [1, -1, 0, -1] and s.tolist() == [1, -1, -1, -1]
    empty_table = pa.table({"object_key": pa.array([], pa.string()), "theme_id": pa.array([], pa.string()),
                            "subtheme_id": pa.array([], pa.string()), "x": pa.array([], pa.float32()),
                            "y": pa.array([], pa.float32())})
    empty = build_map_data(empty_table, themes, {}, sample_rows(0, 10, 0))
    assert empty["n"] == empty["drawn"] == 0 and empty["x"] == [] and empty["p"] == [] and empty["files"] == []
    assert empty["labels"] == [None, None] and empty["sublabels"] == [[], [None, None]]


def test_sample_rows() -> None:
    assert sample_rows(3, 5, 0).tolist() == [0, 1, 2]
    rows = sample_rows(100, 10, 7)
    assert rows.dtype == np.int64 and len(set(rows.tolist())) == 10 and rows.tolist() == sorted(rows.tolist())
