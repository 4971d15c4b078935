"""Stable ids and lineage events over planted, evolving clusterings (the numeric core of tasks/core/lineage.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.lineage import IdAllocator, Lineage, LineageRules, PreviousRun, centroids, diff_events, run_lineage
from tasks.core.themes_json import apply_lineage

RULES = LineageRules()
DIM = 16


def directions(n: int, seed: int = 0) -> np.ndarray:
    """n nearly orthogonal unit vectors."""
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Night:
    """One planted clustering: named groups of chunk keys, optional subgroups, embeddings around a direction."""

    def __init__(self, groups: dict[str, list[str]], subs: dict[str, dict[str, list[str]]] | None = None,
                 noise: list[str] | None = None, dirs: dict[str, np.ndarray] | None = None) -> None:
        self.names = list(groups)
        self.keys = np.array(sorted({k for ks in groups.values() for k in ks} | set(noise or [])))
        row = {k: i for i, k in enumerate(self.keys)}
        self.theme = np.full(len(self.keys), -1, dtype=np.int64)
        for label, name in enumerate(self.names):
            self.theme[[row[k] for k in groups[name]]] = label
        self.subtheme = np.full(len(self.keys), -1, dtype=np.int64)
        parents = []
        for name, kids in (subs or {}).items():
            for kid_keys in kids.values():
                self.subtheme[[row[k] for k in kid_keys]] = len(parents)
                parents.append(self.names.index(name))
        self.subtheme_theme = np.array(parents, dtype=np.int64)
        dirs = dirs or {}
        self.emb = np.zeros((len(self.keys), DIM), dtype=np.float32)
        for label, name in enumerate(self.names):
            self.emb[self.theme == label] = dirs.get(name, directions(1, hash(name) % 1000)[0])

    def lineage(self, previous: PreviousRun | None, used: list[str]):
        n_t = len(self.names)
        return run_lineage(self.keys, self.theme, self.subtheme, self.subtheme_theme,
                           centroids(self.emb, self.theme, n_t),
                           centroids(self.emb, self.subtheme, len(self.subtheme_theme)), previous, used, RULES)

    def published(self, run_id: str, result) -> PreviousRun:
        """What publish stores for the next run: ids per chunk, clusters with sizes and centroids."""
        t_ids = np.array([result.theme_ids[t] if t >= 0 else None for t in self.theme], dtype=object)
        s_ids = np.array([result.subtheme_ids[s] if s >= 0 else None for s in self.subtheme], dtype=object)
        t_cent = centroids(self.emb, self.theme, len(self.names))
        s_cent = centroids(self.emb, self.subtheme, len(self.subtheme_theme))
        clusters = {}
        for label, cid in enumerate(result.theme_ids):
            clusters[cid] = {"parent_id": None, "level": "theme", "size": int((self.theme == label).sum()),
                             "header": f"header of {self.names[label]}", "centroid": t_cent[label]}
        for label, cid in enumerate(result.subtheme_ids):
            clusters[cid] = {"parent_id": result.theme_ids[self.subtheme_theme[label]], "level": "subtheme",
                             "size": int((self.subtheme == label).sum()), "header": f"sub {cid}",
                             "centroid": s_cent[label]}
        return PreviousRun(run_id, self.keys, t_ids, s_ids, clusters)

    def id_of(self, result, name: str) -> str:
        return result.theme_ids[self.names.index(name)]


def keys(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(start, start + n)]


DIRS = dict(zip("ABCDEFG", directions(7, 42), strict=True))


def three_nights() -> tuple[Night, Night, Night]:
    """Night 1: A-E. Night 2: F appears, B splits, C and D merge, E disappears, A grows. Night 3 = night 2."""
    a1, a2 = keys("a", 30), keys("a", 30, 30)
    night1 = Night({"A": a1 + a2, "B": keys("b", 80), "C": keys("c", 40), "D": keys("d", 40), "E": keys("e", 50)},
                   subs={"A": {"a-one": a1, "a-two": a2}}, noise=keys("n", 20), dirs=DIRS)
    cd_dir = (DIRS["C"] + DIRS["D"]) / np.linalg.norm(DIRS["C"] + DIRS["D"])
    night2_groups = {"A": a1 + a2 + keys("a", 20, 60), "B1": keys("b", 50), "B2": keys("b", 30, 50),
                     "CD": keys("c", 40) + keys("d", 40), "F": keys("f", 35)}
    dirs2 = {"A": DIRS["A"], "B1": DIRS["B"], "B2": directions(1, 7)[0], "CD": cd_dir, "F": DIRS["F"]}
    night2 = Night(night2_groups, subs={"A": {"a-one": a1, "a-two": a2 + keys("a", 20, 60)}},
                   noise=keys("n", 20), dirs=dirs2)
    night3 = Night(night2_groups, subs={"A": {"a-one": a1, "a-two": a2 + keys("a", 20, 60)}},
                   noise=keys("n", 20), dirs=dirs2)
    return night1, night2, night3


def test_first_run_numbers_themes_by_size_and_has_no_events():
    night1, _, _ = three_nights()
    result = night1.lineage(None, [])
    assert [night1.id_of(result, n) for n in "BAECD"] == ["t0", "t1", "t2", "t3", "t4"], "ties by label"
    assert sorted(result.subtheme_ids) == ["t1.0", "t1.1"]
    assert result.events == [] and result.previous_run_id is None


def test_three_nights_keep_ids_and_detect_each_planted_event():
    night1, night2, night3 = three_nights()
    r1 = night1.lineage(None, [])
    prev1 = night1.published("run1", r1)
    used = list(prev1.clusters)
    r2 = night2.lineage(prev1, used)
    ids1 = {n: night1.id_of(r1, n) for n in night1.names}
    ids2 = {n: night2.id_of(r2, n) for n in night2.names}

    assert ids2["A"] == ids1["A"], "an unchanged theme keeps its id"
    assert ids2["B1"] == ids1["B"], "the larger part of a split keeps the id"
    assert ids2["CD"] in (ids1["C"], ids1["D"]), "a merge keeps one source's id"
    assert ids2["B2"] not in ids1.values() and ids2["F"] not in ids1.values()
    assert len(set(ids2.values())) == len(ids2)

    events = {(e["event"], e["cluster_id"]): e for e in r2.events if e["level"] == "theme"}
    assert ("born", ids2["F"]) in events and events[("born", ids2["F"])]["size_after"] == 35
    split = events[("split", ids1["B"])]
    assert split["current_ids"] == [ids2["B1"], ids2["B2"]] and split["size_before"] == 80
    assert split["moved_share"] == pytest.approx(30 / 80)
    merged = events[("merged", ids2["CD"])]
    assert sorted(merged["previous_ids"]) == sorted([ids1["C"], ids1["D"]]) and merged["size_after"] == 80
    assert ("died", ids1["E"]) in events and events[("died", ids1["E"])]["size_before"] == 50
    grew = events[("grew", ids1["A"])]
    assert (grew["size_before"], grew["size_after"], grew["moved_share"]) == (60, 80, 0.0)
    assert {k for k, _ in events} == {"born", "split", "merged", "died", "grew"}, "B2 is a split part, not born"
    assert r2.headers[ids1["A"]] == "header of A", "a kept theme keeps its header"

    subs = {(e["event"], e["cluster_id"]) for e in r2.events if e["level"] == "subtheme"}
    a_one, a_two = (r1.subtheme_ids[i] for i in range(2))
    assert r2.subtheme_ids == [a_one, a_two]
    assert subs == {("stable", a_one), ("grew", a_two)}

    # Night 3 is night 2 again: identical ids, and nothing in the diff.
    prev2 = night2.published("run2", r2)
    r3 = night3.lineage(prev2, used + list(prev2.clusters))
    assert r3.theme_ids == r2.theme_ids and r3.subtheme_ids == r2.subtheme_ids
    assert diff_events(r3.events) == []
    assert {e["event"] for e in r3.events} == {"stable"}


def test_a_theme_whose_members_were_all_replaced_is_matched_by_centroid():
    old = Night({"A": keys("a", 40), "B": keys("b", 40)}, dirs=DIRS)
    r1 = old.lineage(None, [])
    new = Night({"A": keys("x", 45), "B": keys("b", 40)}, dirs=DIRS)  # A's documents were all rewritten
    r2 = new.lineage(old.published("run1", r1), list(r1.theme_ids))
    assert new.id_of(r2, "A") == old.id_of(r1, "A")
    assert not any(e["event"] in ("born", "died") for e in r2.events)


def test_keyword_list_headers_of_the_old_recipe_are_not_carried():
    old = Night({"A": keys("a", 40), "B": keys("b", 40)}, dirs=DIRS)
    r1 = old.lineage(None, [])
    previous = old.published("run1", r1)
    previous.clusters[old.id_of(r1, "A")]["header"] = "gatsby · said"  # what headers looked like before phrases
    r2 = old.lineage(previous, list(r1.theme_ids))
    assert old.id_of(r2, "A") == old.id_of(r1, "A"), "the id is kept"
    assert old.id_of(r2, "A") not in r2.headers, "but the list header is not: the theme gets its phrase header"
    assert r2.headers[old.id_of(r2, "B")] == "header of B"


def test_fresh_ids_never_reuse_an_old_one():
    alloc = IdAllocator(["t0", "t1", "t7", "t7.3", "t2.0"])
    assert [alloc.theme(), alloc.theme()] == ["t8", "t9"]
    assert alloc.subtheme("t7") == "t7.4" and alloc.subtheme("t3") == "t3.0" and alloc.subtheme("t2") == "t2.1"


def test_a_dead_theme_id_is_not_given_to_a_new_theme():
    night1 = Night({"A": keys("a", 40), "B": keys("b", 30)}, dirs=DIRS)
    r1 = night1.lineage(None, [])
    night2 = Night({"A": keys("a", 40), "G": keys("g", 30)}, dirs=DIRS)
    r2 = night2.lineage(night1.published("run1", r1), list(r1.theme_ids))
    assert night2.id_of(r2, "G") == "t2" and night1.id_of(r1, "B") == "t1"
    assert {(e["event"], e["cluster_id"]) for e in r2.events} == {("stable", "t0"), ("born", "t2"), ("died", "t1")}


def test_same_input_gives_the_same_lineage():
    _, night2, _ = three_nights()
    night1 = three_nights()[0]
    prev = night1.published("run1", night1.lineage(None, []))
    a = night2.lineage(prev, list(prev.clusters)).to_json()
    b = night2.lineage(prev, list(prev.clusters)).to_json()
    assert a == b


def test_empty_runs():
    empty = Night({})
    result = empty.lineage(None, [])
    assert result.theme_ids == [] and result.events == []
    night1 = Night({"A": keys("a", 40)}, dirs=DIRS)
    prev = night1.published("run1", night1.lineage(None, []))
    gone = empty.lineage(prev, ["t0"])
    assert [(e["event"], e["cluster_id"]) for e in gone.events] == [("died", "t0")]


def test_a_carried_header_yields_when_tonight_a_sibling_earned_it_and_renames_stay():
    # Last night t1 was "Warranty"; tonight the summaries name t2 "Warranty" and t1 "Dvd players". Carrying
    # "Warranty" to t1 would publish two sibling themes of that name: t1 keeps its fresh header instead.
    def summary(label, header, children=()):
        return {"label": label, "header": header,
                "children": [{"label": c, "header": h} for c, h in children]}

    summaries = [summary(0, "Dvd players", [(0, "Refund"), (1, "Remote")]), summary(1, "Warranty"),
                 summary(2, "Battery")]
    lineage = Lineage(previous_run_id="r0", theme_ids=["t1", "t2", "t3"], subtheme_ids=["t1.1", "t1.2"],
                      headers={"t1": "warranty", "t3": "Battery life", "t1.1": "Remote"},
                      events=[], curated={})
    out = apply_lineage(summaries, lineage)
    assert [t["header"] for t in out] == ["Dvd players", "Warranty", "Battery life"]
    # Subthemes: "Remote" carried to t1.1 clashes with t1.2's fresh "Remote".
    assert [c["header"] for c in out[0]["children"]] == ["Refund", "Remote"]
    # A person's rename is kept as written even when it repeats a sibling's header.
    renamed = Lineage(previous_run_id="r0", theme_ids=["t1", "t2", "t3"], subtheme_ids=["t1.1", "t1.2"],
                      headers={"t1": "Warranty"}, events=[], curated={"t1": ["renamed"]})
    again = apply_lineage([summary(0, "Dvd players"), summary(1, "Warranty"), summary(2, "Battery")], renamed)
    assert [t["header"] for t in again] == ["Warranty", "Warranty", "Battery"]
