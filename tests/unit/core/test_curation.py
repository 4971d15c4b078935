"""Curation: merges and phrase splits applied to one run's labels, withdrawals, and the lineage's pins."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.curation import CurationEvent, active_events, apply_curation, renames, split_key
from tasks.core.lineage import LineageRules, PreviousRun, run_lineage


def event(eid: str, kind: str, **payload) -> CurationEvent:
    return CurationEvent(eid, kind, f"2026-12-01T00:00:{eid[-2:]}", payload)


def labels():
    """Four themes of 10 rows (ids t1..t4), two subthemes in theme 0 and one in theme 2, and 5 noise rows."""
    theme = np.r_[np.repeat([0, 1, 2, 3], 10), np.full(5, -1)]
    subtheme = np.full(45, -1)
    subtheme[0:5], subtheme[5:10], subtheme[20:26] = 0, 1, 2
    return theme, subtheme, np.array([0, 0, 2]), ["t1", "t2", "t3", "t4"]


def test_a_merge_relabels_the_themes_that_carry_its_ids_and_pins_the_destination():
    theme, subtheme, parent, ids = labels()
    phrase = np.arange(45)
    out = apply_curation(theme, subtheme, parent, ids, phrase, np.arange(45, dtype=np.uint64),
                         [event("e01", "merge", sources=["t1", "t4"], destination="t3")])
    assert out.theme.max() == 1, "four themes, three merged: two left"
    merged = out.theme[0]
    assert (out.theme[:10] == merged).all() and (out.theme[20:40] == merged).all() and (out.theme[40:] == -1).all()
    assert out.pinned == {merged: "t3"} and out.marks == {merged: ["merged"]} and out.applied == ["e01"]
    assert sorted(out.subtheme_theme.tolist()) == [merged] * 3, "the merged themes' subthemes are the merged one's"
    assert set(out.subtheme[subtheme >= 0]) == {0, 1, 2}


def test_a_merge_whose_themes_are_gone_changes_nothing_and_one_alone_takes_the_destination_id():
    theme, subtheme, parent, ids = labels()
    keys = np.arange(45, dtype=np.uint64)
    gone = apply_curation(theme, subtheme, parent, ids, np.arange(45), keys,
                          [event("e01", "merge", sources=["t9"], destination="t8")])
    assert (gone.theme == theme).all() and gone.pinned == {} and gone.applied == []
    alone = apply_curation(theme, subtheme, parent, ids, np.arange(45), keys,
                           [event("e02", "merge", sources=["t2"], destination="t7")])
    assert (alone.theme == theme).all() and alone.pinned == {1: "t7"} and alone.applied == ["e02"]


def test_a_split_phrase_and_its_phrase_mates_become_a_theme_of_their_own():
    theme, subtheme, parent, ids = labels()
    keys = np.arange(45, dtype=np.uint64)
    keys[[2, 21]] = 777  # the phrase's text, in two themes
    phrase = np.arange(45)
    phrase[[3, 4]] = phrase[2]  # near duplicates grouped with row 2
    out = apply_curation(theme, subtheme, parent, ids, phrase, keys, [event("e01", "split", phrase_id="p_x", key=777)])
    new = out.theme[2]
    assert new == 4 and set(np.flatnonzero(out.theme == new)) == {2, 3, 4, 21}
    assert (out.subtheme[[2, 3, 4, 21]] == -1).all() and out.marks == {4: ["split"]} and out.pinned == {}
    assert split_key("p_00000000000003e8-2") == 1000
    with pytest.raises(ValueError):
        split_key("t3")


def test_labels_emptied_are_dropped_and_the_rest_keep_their_order():
    theme, subtheme, parent, ids = labels()
    keys = np.arange(45, dtype=np.uint64)
    keys[20:30] = 5  # theme 2 is one phrase
    out = apply_curation(theme, subtheme, parent, ids, np.where(keys == 5, 99, np.arange(45)), keys,
                         [event("e01", "split", phrase_id="p_x", key=5)])
    assert out.theme.max() == 3 and (out.theme[30:40] == 2).all() and (out.theme[20:30] == 3).all()
    assert out.subtheme_theme.tolist() == [0, 0], "the emptied theme's subtheme is dropped"


def test_withdrawn_events_and_renames():
    events = [event("e01", "rename", cluster_id="t1", header="Refunds"),
              event("e02", "merge", sources=["t2"], destination="t3"),
              event("e03", "withdraw", event_id="e02"),
              event("e04", "rename", cluster_id="t1", header="Money back")]
    live = active_events(reversed(events))
    assert [e.event_id for e in live] == ["e01", "e04"]
    assert renames(live) == {"t1": "Money back"}


def test_a_pinned_theme_takes_its_id_whatever_the_overlaps_say():
    keys = np.array([f"c{i}" for i in range(30)])
    prev_theme = np.array(["t1"] * 10 + ["t2"] * 20, dtype=object)
    clusters = {"t1": {"level": "theme", "size": 10, "header": "One", "centroid": None, "parent_id": None},
                "t2": {"level": "theme", "size": 20, "header": "Two", "centroid": None, "parent_id": None}}
    previous = PreviousRun("r1", keys, prev_theme, np.full(30, None, dtype=object), clusters)
    theme = np.zeros(30, np.int64)  # everything in one theme: the overlap prefers t2
    cent = np.ones((1, 4), np.float32) / 2
    args = (keys, theme, np.full(30, -1), np.zeros(0, np.int64), cent, np.zeros((0, 4), np.float32), previous,
            ["t1", "t2"], LineageRules())
    assert run_lineage(*args).theme_ids == ["t2"]
    pinned = run_lineage(*args, pinned={0: "t1"})
    assert pinned.theme_ids == ["t1"] and pinned.headers.get("t1") == "One"
    fresh = run_lineage(*args, pinned={0: "t0"})  # an id the last run no longer had
    assert fresh.theme_ids == ["t0"]


def test_a_merged_theme_cut_in_two_again_by_the_clustering_is_merged_again():
    theme, subtheme, parent, _ = labels()
    # Last night t3 held themes 2 and 3 merged; tonight the clustering cut it in two again, and the lineage gave
    # one part t3 and the other a fresh id: both descend from t3 and are merged again.
    ids, came_from = ["t1", "t2", "t3", "t5"], ["t1", "t2", "t3", "t3"]
    merge = [event("e01", "merge", sources=["t4"], destination="t3")]
    keys = np.arange(45, dtype=np.uint64)
    out = apply_curation(theme, subtheme, parent, ids, np.arange(45), keys, merge, came_from)
    assert out.theme.max() == 2 and (out.theme[20:40] == out.theme[20]).all() and out.pinned == {2: "t3"}
    without = apply_curation(theme, subtheme, parent, ids, np.arange(45), keys, merge)
    assert without.theme.max() == 3, "by the provisional ids alone the fresh part would stay apart"
