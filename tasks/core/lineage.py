"""Theme lineage across runs: stable ids, carried headers and what changed (the lineage stage's core).

Contract of the numeric core (pure functions, no I/O):

- Clusters of one level are integer labels ``0..C-1`` per chunk (``-1`` = noise / none). Two runs are
  compared on the chunks they share (same ``chunk_id``): ``flow[c, p]`` counts shared chunks that are in
  current cluster ``c`` and previous cluster ``p``; ``cur_shared[c]`` and ``prev_shared[p]`` count each
  cluster's shared chunks whatever the other run did with them (noise included).
- **Matching** (one-to-one, greedy, deterministic): pairs whose Jaccard overlap on shared chunks,
  ``flow / (cur_shared + prev_shared - flow)``, is at least ``match_min_overlap`` are taken best first
  (ties: more shared chunks, then lower indices). Clusters left over on both sides are then matched by
  centroid cosine, best first, when it is at least ``match_min_cosine`` (this catches a theme whose old
  members were all deleted or re-chunked, and a theme that comes back). A matched current cluster keeps
  the previous id and header; the others get fresh ids that were never used before.
- **Events**, one row per affected cluster: ``split`` (a previous cluster sent at least
  ``event_min_share`` of its members to each of two or more current clusters), ``merged`` (two or
  more previous clusters each sent more than ``merge_min_share`` of their members into one current cluster),
  ``born`` (a current cluster that matched nothing and is no split part), ``died`` (a previous cluster
  that matched nothing, did not split and merged into nothing), ``grew`` / ``shrank`` (a matched pair
  whose size changed by at least ``event_min_change`` of the old size) and ``stable`` (the rest). The
  night-over-night diff is every event that is not ``stable``.

Subthemes are matched the same way, but only between the children of a current theme and the children
of the previous theme whose id it carries, so a subtheme id ``t<N>.<M>`` always names its parent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EVENT_ORDER = ("born", "split", "merged", "grew", "shrank", "died", "stable")
#: What joined the keywords of a header before headers became phrases; such headers are not carried over.
LIST_HEADER_SEP = " · "
_THEME_ID_RE = re.compile(r"^t(\d+)$")
_SUB_ID_RE = re.compile(r"^(t\d+)\.(\d+)$")


@dataclass(frozen=True)
class LineageRules:
    """Thresholds of the matching rule and of the events (all shares in [0, 1])."""

    match_min_overlap: float = 0.3
    match_min_cosine: float = 0.9
    event_min_share: float = 0.2
    event_min_change: float = 0.2
    merge_min_share: float = 0.5


@dataclass
class Level:
    """One level (themes or the subthemes of one theme) of one run, as the matcher sees it.

    Attributes:
        keys: ``(n,)`` chunk ids, unique.
        labels: ``(n,)`` int cluster index per chunk, ``-1`` = in none of these clusters.
        sizes: ``(C,)`` members per cluster (may exceed what ``labels`` shows for a partial view).
        centroids: ``(C, d)`` float32 unit vectors, or ``None`` when unknown.
        ids: ``C`` published ids (previous run only; the current run's are decided here).
    """

    keys: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray
    centroids: np.ndarray | None = None
    ids: list[str] = field(default_factory=list)


@dataclass
class Overlap:
    """Shared-chunk counts between a current and a previous level."""

    flow: np.ndarray  # (C, P) int64
    cur_shared: np.ndarray  # (C,) int64
    prev_shared: np.ndarray  # (P,) int64


def overlap(cur: Level, prev: Level) -> Overlap:
    """Count shared chunks per (current, previous) cluster pair; noise counts only in the ``*_shared`` totals."""
    n_cur, n_prev = len(cur.sizes), len(prev.sizes)
    _, ci, pi = np.intersect1d(cur.keys, prev.keys, assume_unique=True, return_indices=True)
    cl, pl = cur.labels[ci], prev.labels[pi]
    flow = np.zeros((n_cur, n_prev), dtype=np.int64)
    both = (cl >= 0) & (pl >= 0)
    np.add.at(flow, (cl[both], pl[both]), 1)
    cur_shared = np.bincount(cl[cl >= 0], minlength=n_cur).astype(np.int64)
    prev_shared = np.bincount(pl[pl >= 0], minlength=n_prev).astype(np.int64)
    return Overlap(flow, cur_shared, prev_shared)


def match_clusters(ov: Overlap, cur_centroids: np.ndarray | None, prev_centroids: np.ndarray | None,
                   rules: LineageRules) -> dict[int, int]:
    """Current index → previous index for every matched pair (see the module docstring for the rule)."""
    flow = ov.flow
    n_cur, n_prev = flow.shape
    union = ov.cur_shared[:, None] + ov.prev_shared[None, :] - flow
    jaccard = np.where(union > 0, flow / np.maximum(union, 1), 0.0)
    match: dict[int, int] = {}
    taken: set[int] = set()
    cand = [(-jaccard[c, p], -int(flow[c, p]), int(c), int(p))
            for c, p in zip(*np.nonzero((flow > 0) & (jaccard >= rules.match_min_overlap)), strict=True)]
    for _, _, c, p in sorted(cand):
        if c not in match and p not in taken:
            match[c] = p
            taken.add(p)
    if cur_centroids is None or prev_centroids is None or not n_cur or not n_prev:
        return match
    free_cur = [c for c in range(n_cur) if c not in match]
    free_prev = [p for p in range(n_prev) if p not in taken]
    if not free_cur or not free_prev:
        return match
    sims = cur_centroids[free_cur] @ prev_centroids[free_prev].T
    cand = [(-float(sims[i, j]), free_cur[i], free_prev[j])
            for i, j in zip(*np.nonzero(sims >= rules.match_min_cosine), strict=True)]
    for _, c, p in sorted(cand):
        if c not in match and p not in taken:
            match[c] = p
            taken.add(p)
    return match


def assign_ids(match: Mapping[int, int], prev_ids: Sequence[str], cur_sizes: np.ndarray,
               new_id) -> list[str]:
    """Published id per current cluster: the matched previous id, else ``new_id()`` in size order."""
    ids: list[str | None] = [prev_ids[match[c]] if c in match else None for c in range(len(cur_sizes))]
    for c in sorted(range(len(cur_sizes)), key=lambda c: (-int(cur_sizes[c]), c)):
        if ids[c] is None:
            ids[c] = new_id()
    return ids  # type: ignore[return-value]


def lineage_events(ov: Overlap, match: Mapping[int, int], cur_ids: Sequence[str], prev_ids: Sequence[str],
                   cur_sizes: np.ndarray, prev_sizes: np.ndarray, rules: LineageRules,
                   level: str = "theme") -> list[dict[str, Any]]:
    """One event row per affected cluster (see the module docstring), in `EVENT_ORDER`, then by size."""
    flow = ov.flow
    n_cur, n_prev = flow.shape
    # Share of each previous cluster's members (its whole previous size) that went to each current one: a
    # theme whose documents were mostly deleted neither splits nor merges on the few members it has left.
    dest = flow / np.maximum(prev_sizes[None, :], 1)  # (C, P)
    matched_prev = {p: c for c, p in match.items()}
    events: list[dict[str, Any]] = []
    split_parts: set[int] = set()
    merged_sources: set[int] = set()
    in_event_cur: set[int] = set()
    in_event_prev: set[int] = set()

    def row(event: str, cluster_id: str, prev: list[int], cur: list[int], moved: float | None) -> dict[str, Any]:
        return {"level": level, "cluster_id": cluster_id, "event": event,
                "previous_ids": [prev_ids[p] for p in prev], "current_ids": [cur_ids[c] for c in cur],
                "size_before": int(sum(int(prev_sizes[p]) for p in prev)),
                "size_after": int(sum(int(cur_sizes[c]) for c in cur)),
                "moved_share": None if moved is None else round(float(moved), 4)}

    for p in range(n_prev):
        parts = [int(c) for c in np.flatnonzero(dest[:, p] >= rules.event_min_share) if flow[c, p] > 0]
        if len(parts) >= 2:
            parts.sort(key=lambda c: (-int(flow[c, p]), c))
            keeper = matched_prev.get(p)
            kept = int(flow[keeper, p]) if keeper is not None else 0
            events.append(row("split", prev_ids[p], [p], parts, 1 - kept / max(int(ov.prev_shared[p]), 1)))
            split_parts.update(parts)
            in_event_prev.add(p)
            in_event_cur.update(c for c in parts if matched_prev.get(p) == c)
    for c in range(n_cur):
        sources = [int(p) for p in np.flatnonzero(dest[c, :] > rules.merge_min_share) if flow[c, p] > 0]
        if len(sources) >= 2:
            sources.sort(key=lambda p: (-int(flow[c, p]), p))
            from_others = int(sum(flow[c, p] for p in sources if match.get(c) != p))
            events.append(row("merged", cur_ids[c], sources, [c], from_others / max(int(ov.cur_shared[c]), 1)))
            merged_sources.update(sources)
            in_event_cur.add(c)
            in_event_prev.update(p for p in sources if match.get(c) == p)
    for c in range(n_cur):
        if c in in_event_cur:
            continue
        if c in match:
            p = match[c]
            before, after = int(prev_sizes[p]), int(cur_sizes[c])
            change = (after - before) / max(before, 1)
            kind = "grew" if change >= rules.event_min_change else (
                "shrank" if change <= -rules.event_min_change else "stable")
            moved = 1 - flow[c, p] / ov.prev_shared[p] if ov.prev_shared[p] else None
            events.append(row(kind, cur_ids[c], [p], [c], moved))
        elif c not in split_parts:
            events.append(row("born", cur_ids[c], [], [c], None))
    for p in range(n_prev):
        if p not in matched_prev and p not in in_event_prev and p not in merged_sources:
            events.append(row("died", prev_ids[p], [p], [], 1.0))
    rank = {e: i for i, e in enumerate(EVENT_ORDER)}
    events.sort(key=lambda e: (rank[e["event"]], -max(e["size_after"], e["size_before"]), e["cluster_id"]))
    return events


def diff_events(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The night-over-night diff: every event that is not ``stable``."""
    return [e for e in events if e["event"] != "stable"]


def theme_serial(cluster_id: str) -> int | None:
    """``N`` of a theme id ``t<N>`` (None for anything else)."""
    m = _THEME_ID_RE.match(cluster_id)
    return int(m.group(1)) if m else None


def sub_serial(cluster_id: str) -> tuple[str, int] | None:
    """``(t<N>, M)`` of a subtheme id ``t<N>.<M>`` (None for anything else)."""
    m = _SUB_ID_RE.match(cluster_id)
    return (m.group(1), int(m.group(2))) if m else None


class IdAllocator:
    """Fresh ids that no earlier run used: ``t<N>`` after the highest N, ``t<N>.<M>`` per parent likewise."""

    def __init__(self, used: Sequence[str]) -> None:
        self.next_theme = 1 + max((s for s in map(theme_serial, used) if s is not None), default=-1)
        self.next_sub: dict[str, int] = {}
        for parent, m in filter(None, map(sub_serial, used)):
            self.next_sub[parent] = max(self.next_sub.get(parent, 0), m + 1)

    def theme(self) -> str:
        """A new theme id."""
        self.next_theme += 1
        return f"t{self.next_theme - 1}"

    def subtheme(self, parent: str) -> str:
        """A new subtheme id under ``parent``."""
        m = self.next_sub.get(parent, 0)
        self.next_sub[parent] = m + 1
        return f"{parent}.{m}"


def centroids(emb: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """float32 ``(n, d)`` unit mean vector per label ``0..n-1`` (zeros for an empty label)."""
    out = np.zeros((n, emb.shape[1]), dtype=np.float64)
    mask = labels >= 0
    np.add.at(out, labels[mask], emb[mask])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------- one run against the previous


@dataclass
class PreviousRun:
    """What the matcher needs of the previous published run.

    Attributes:
        run_id: Its id.
        keys: ``(n,)`` chunk ids of its corpus.
        theme_ids, subtheme_ids: ``(n,)`` object arrays, the published id per chunk (``None`` = noise/none).
        clusters: Published id → ``{"parent_id", "level", "size", "header", "centroid"}`` (centroid may be None).
    """

    run_id: str
    keys: np.ndarray
    theme_ids: np.ndarray
    subtheme_ids: np.ndarray
    clusters: dict[str, dict[str, Any]]


@dataclass
class Lineage:
    """The outcome for one run: published ids per clustering label, carried headers and events."""

    previous_run_id: str | None
    theme_ids: list[str | None]
    subtheme_ids: list[str | None]
    headers: dict[str, str]
    events: list[dict[str, Any]]
    #: Cluster id -> what a person did to it (``renamed``, ``merged``, ``split``; `tasks.core.curation`).
    curated: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (scratch ``lineage.json``)."""
        return {"previous_run_id": self.previous_run_id, "theme_ids": self.theme_ids, "curated": self.curated,
                "subtheme_ids": self.subtheme_ids, "headers": self.headers, "events": self.events}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Lineage:
        """Inverse of `to_json`."""
        return cls(doc["previous_run_id"], list(doc["theme_ids"]), list(doc["subtheme_ids"]),
                   dict(doc["headers"]), list(doc["events"]), dict(doc.get("curated", {})))


def _prev_level(prev: PreviousRun, rows: np.ndarray, per_chunk: np.ndarray, ids: list[str]) -> Level:
    index = {cid: i for i, cid in enumerate(ids)}
    labels = np.fromiter((index.get(x, -1) if x is not None else -1 for x in per_chunk[rows]),
                         dtype=np.int64, count=len(rows))
    cents = [prev.clusters[i].get("centroid") for i in ids]
    known = all(c is not None for c in cents) and ids
    return Level(prev.keys[rows], labels, np.array([prev.clusters[i]["size"] for i in ids], dtype=np.int64),
                 np.asarray(cents, dtype=np.float32) if known else None, ids)


def run_lineage(keys: np.ndarray, theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray,
                theme_centroids: np.ndarray, sub_centroids: np.ndarray, previous: PreviousRun | None,
                used_ids: Sequence[str], rules: LineageRules, pinned: Mapping[int, str] | None = None) -> Lineage:
    """Decide this run's published ids and its events against ``previous`` (None: first run, rank ids).

    Args:
        keys: ``(n,)`` chunk ids, unique, row-aligned with the labels.
        theme: ``(n,)`` theme label per chunk (``-1`` noise); labels ``0..T-1``.
        subtheme: ``(n,)`` global subtheme label (``-1`` none); labels ``0..S-1``.
        subtheme_theme: ``(S,)`` parent theme label per subtheme label.
        theme_centroids, sub_centroids: ``(T, d)`` and ``(S, d)`` unit vectors.
        previous: The previous published run, or None.
        used_ids: Every id any earlier run published (fresh ids never reuse one).
        rules: Thresholds.
        pinned: Theme label -> the id it must carry (curation's merges), whatever the overlaps say.

    Returns:
        `Lineage` with an id for every label that has members (``None`` for empty labels).
    """
    keys = np.asarray(keys).astype(str)
    n_t = int(theme.max()) + 1 if theme.size and theme.max() >= 0 else 0
    n_s = len(subtheme_theme)
    t_sizes = np.bincount(theme[theme >= 0], minlength=n_t)
    s_sizes = np.bincount(subtheme[subtheme >= 0], minlength=n_s)
    alloc = IdAllocator(used_ids)
    headers: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    live_t = np.flatnonzero(t_sizes > 0)
    cur_t = Level(keys, _compact(theme, live_t), t_sizes[live_t], theme_centroids[live_t] if n_t else None)
    if previous is None:
        match: dict[int, int] = {}
        prev_t_ids: list[str] = []
    else:
        prev_t_ids = sorted((i for i, c in previous.clusters.items() if c["level"] == "theme"), key=_id_key)
        prev_t = _prev_level(previous, np.arange(len(previous.keys)), previous.theme_ids, prev_t_ids)
        ov = overlap(cur_t, prev_t)
        match = match_clusters(ov, cur_t.centroids, prev_t.centroids, rules)
    pins = {int(np.searchsorted(live_t, label)): cid for label, cid in (pinned or {}).items() if label in live_t}
    where_prev = {cid: p for p, cid in enumerate(prev_t_ids)}
    match = {c: p for c, p in match.items() if c not in pins and prev_t_ids[p] not in pins.values()}
    match.update({c: where_prev[cid] for c, cid in pins.items() if cid in where_prev})
    compact_ids = assign_ids(match, prev_t_ids, cur_t.sizes, alloc.theme)
    compact_ids = [pins.get(c, cid) for c, cid in enumerate(compact_ids)]  # a pin to an id the last run lacked
    theme_ids: list[str | None] = [None] * n_t
    for i, label in enumerate(live_t):
        theme_ids[label] = compact_ids[i]
    if previous is not None:
        events += lineage_events(ov, match, compact_ids, prev_t_ids, cur_t.sizes, prev_t.sizes, rules)
        headers.update(_carried({compact_ids[c]: previous.clusters[prev_t_ids[p]]["header"] for c, p in match.items()}))

    sub_ids: list[str | None] = [None] * n_s
    prev_rows_by_theme: dict[str, np.ndarray] = {}
    if previous is not None:
        order = np.argsort(previous.theme_ids.astype(str), kind="stable")
        values = previous.theme_ids.astype(str)[order]
        bounds = np.flatnonzero(np.r_[True, values[1:] != values[:-1], True])
        prev_rows_by_theme = {values[a]: order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)}
    for label in live_t:
        parent = theme_ids[label]
        kids = np.flatnonzero((subtheme_theme == label) & (s_sizes > 0))
        rows = np.flatnonzero(theme == label)
        cur_s = Level(keys[rows], _compact(subtheme[rows], kids), s_sizes[kids],
                      sub_centroids[kids] if len(kids) else None)
        prev_kids = sorted((i for i, c in (previous.clusters.items() if previous else [])
                            if c["level"] == "subtheme" and c["parent_id"] == parent), key=_id_key)
        if previous is not None and prev_kids:
            prev_s = _prev_level(previous, prev_rows_by_theme.get(parent, np.empty(0, np.int64)),
                                 previous.subtheme_ids, prev_kids)
            ov_s = overlap(cur_s, prev_s)
            match_s = match_clusters(ov_s, cur_s.centroids, prev_s.centroids, rules)
        else:
            prev_s, match_s = None, {}
        kid_ids = assign_ids(match_s, prev_kids, cur_s.sizes, lambda parent=parent: alloc.subtheme(parent))
        for i, lab in enumerate(kids):
            sub_ids[lab] = kid_ids[i]
        if prev_s is not None:
            events += [e for e in lineage_events(ov_s, match_s, kid_ids, prev_kids, cur_s.sizes, prev_s.sizes,
                                                 rules, level="subtheme")]
            carried = {kid_ids[c]: previous.clusters[prev_kids[p]]["header"] for c, p in match_s.items()}
            headers.update(_carried(carried))
    return Lineage(previous.run_id if previous else None, theme_ids, sub_ids, headers, events)


def _compact(labels: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Map the labels in ``live`` to ``0..len(live)-1`` and everything else to -1."""
    lut = np.full(int(max(labels.max(initial=-1), live.max(initial=-1))) + 2, -1, dtype=np.int64)
    lut[live] = np.arange(len(live))
    return lut[labels]  # index -1 hits the last slot, which stays -1


def _id_key(cluster_id: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", cluster_id))


def _carried(headers: dict[str, str]) -> dict[str, str]:
    """The previous headers worth carrying: not the keyword lists of the recipe before phrase headers ("gatsby ·
    said"), so a theme named that way gets its phrase header once and keeps that from then on."""
    return {cid: h for cid, h in headers.items() if LIST_HEADER_SEP not in h}
