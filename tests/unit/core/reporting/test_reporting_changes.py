"""Tests for ``tasks.core.reporting.changes``: headline changes and theme events since the previous run."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.core.reporting import build_diff, run_changes, sort_themes
from tests.unit.core.reporting.reporting_fixtures import make_manifest, make_themes


def test_run_changes() -> None:
    manifest = make_manifest()
    assert run_changes(manifest, None) is None
    assert run_changes(manifest, manifest) is None, "a run is not compared with itself"
    before = {**manifest, "run_id": "old", "counts": {**manifest["counts"], "documents": 10, "themes": 9},
              "noise_pct": manifest["noise_pct"] + 1.5}
    changes = run_changes(manifest, before)
    assert changes["run_id"] == "old"
    assert changes["documents"] == manifest["counts"]["documents"] - 10
    assert changes["themes"] == manifest["counts"]["themes"] - 9
    assert changes["noise_pct"] == -1.5 and changes["chunks"] == 0


def test_run_changes_with_figures_the_previous_run_lacks() -> None:
    manifest = make_manifest()
    changes = run_changes(manifest, {"run_id": "old"})
    assert changes == {"run_id": "old", "finished_at": None, "documents": None, "chunks": None, "themes": None,
                       "subthemes": None, "noise_pct": None}


def _event(event: str, cluster_id: str, **fields: Any) -> dict[str, Any]:
    return {"level": "theme", "event": event, "cluster_id": cluster_id, **fields}


@pytest.fixture
def lineage() -> dict[str, Any]:
    return {"previous_run_id": "prev", "counts": {"subtheme": {"stable": 3, "born": 2}}, "diff": [
        _event("born", "t5", size_after=40),
        _event("grew", "t0", size_before=900, size_after=1400, moved_share=0.1),
        _event("shrank", "t1", size_before=1200, size_after=900, moved_share=0.2),
        _event("grew", "t3", size_before=10, size_after=20),
        _event("split", "t9", size_before=300, current_ids=["t2", "t3"], moved_share=0.5),
        _event("merged", "t4", size_after=300, previous_ids=["t4", "t8"], moved_share=0.3),
        _event("died", "t9", size_before=77),
        {"level": "subtheme", "event": "born", "cluster_id": "t0.9", "size_after": 4},
    ]}


def test_build_diff_lists_each_kind_of_event(lineage: dict[str, Any]) -> None:
    themes = sort_themes(make_themes(6))
    previous = make_themes(5)
    previous["clusters"][4]["cluster_id"] = "t9"
    diff = build_diff(lineage, themes, previous)
    assert diff["previous_run_id"] == "prev" and not diff["empty"]
    assert diff["counts"] == {"born": 1, "grew": 2, "shrank": 1, "split": 1, "merged": 1, "died": 1}
    assert diff["sub_counts"] == {"born": 2}
    assert diff["kept"] == 4, "t0..t3 were in the previous run too"
    assert [(t["id"], t["size"], t["present"]) for t in diff["emerging"]] == [("t5", 40, True)]
    assert diff["splits"][0]["source"]["header"] == previous["clusters"][4]["cluster_header"]
    assert [p["id"] for p in diff["splits"][0]["parts"]] == ["t2", "t3"]
    assert [s["id"] for s in diff["merges"][0]["sources"]] == ["t4", "t8"]
    t8 = diff["merges"][0]["sources"][1]
    assert not t8["present"] and t8["header"] == "" and t8["example"] is None, "unknown in both runs"
    assert [(m["id"], m["change"], m["scale"]) for m in diff["movers"]] == [("t0", 500, 500), ("t1", -300, 500),
                                                                           ("t3", 10, 500)]
    assert diff["gone"][0]["size"] == 77 and diff["gone"][0]["dom"] == "t9"
    assert diff["more"] == {"born": 0, "grew": 0, "shrank": 0, "split": 0, "merged": 0, "died": 0}


def test_build_diff_caps_each_list_and_counts_the_rest(lineage: dict[str, Any]) -> None:
    diff = build_diff(lineage, sort_themes(make_themes(6)), None, limit=1)
    assert len(diff["movers"]) == 1 and diff["more"]["grew"] == 1
    assert diff["kept"] is None, "without the previous themes nothing is known about kept themes"
    gone = diff["gone"][0]
    assert not gone["present"] and gone["example"] is None


def test_a_previous_themes_header_falls_back_to_the_current_theme_of_that_id(lineage: dict[str, Any]) -> None:
    themes = sort_themes(make_themes(6))
    diff = build_diff(lineage, themes, None)
    assert diff["merges"][0]["sources"][0]["header"] == themes[4]["cluster_header"]


def test_no_previous_run_means_no_diff_and_no_events_means_empty() -> None:
    themes = sort_themes(make_themes(2))
    assert build_diff(None, themes, None) is None
    assert build_diff({"previous_run_id": None}, themes, None) is None
    diff = build_diff({"previous_run_id": "prev", "diff": []}, themes, {"clusters": []})
    assert diff["empty"] and diff["counts"]["born"] == 0 and diff["movers"] == []
