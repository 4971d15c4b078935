"""Curation: a person's renames, merges and phrase splits, re-applied to every later run through the stable ids.

Events (stored in the catalog's ``curation_events``, oldest first):

- ``rename`` ``{"cluster_id", "header"}``: the theme (or subtheme) keeps that header while its id lives;
- ``merge`` ``{"sources": [ids], "destination": id}``: the themes that carry any of those ids in a run become one
  theme with the destination's id (its subthemes are the merged themes' subthemes);
- ``split`` ``{"phrase_id", "key"}``: the passages of the phrase whose normalised text hashes to ``key`` (the
  hex in a phrase id), and their phrase mates, become a theme of their own (no subthemes);
- ``withdraw`` ``{"event_id"}``: an earlier event no longer applies.

How a run applies them (`apply_curation`, pure): the run's themes first get their *provisional* ids, the ones
the lineage would give them (`tasks.core.lineage.run_lineage` against the previous run); merges relabel the
themes that carry their ids and **pin** the result to the destination id, so the lineage stage gives it that id
whatever the overlaps say; splits move the phrase's passages to a new theme, which the lineage then matches
night over night like any other (its passages are the same). Labels are compacted afterwards (themes and
subthemes emptied by a merge or a split are dropped, order kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("rename", "merge", "split", "withdraw")


@dataclass(frozen=True)
class CurationEvent:
    event_id: str
    kind: str
    created_at: str
    payload: Mapping[str, Any]


def active_events(events: Iterable[CurationEvent]) -> list[CurationEvent]:
    """The events still in force, oldest first: every one but the withdrawals and what they withdrew."""
    ordered = sorted(events, key=lambda e: (e.created_at, e.event_id))
    withdrawn = {e.payload.get("event_id") for e in ordered if e.kind == "withdraw"}
    return [e for e in ordered if e.kind != "withdraw" and e.event_id not in withdrawn]


def renames(events: Sequence[CurationEvent]) -> dict[str, str]:
    """Header per cluster id (the latest rename of an id wins)."""
    return {e.payload["cluster_id"]: e.payload["header"] for e in events if e.kind == "rename"}


def split_key(phrase_id: str) -> int:
    """The normalised-text hash a phrase id carries (``p_<16 hex>[-n]``); ValueError for anything else."""
    body = phrase_id.removeprefix("p_").split("-", 1)[0]
    if not phrase_id.startswith("p_") or len(body) != 16:
        raise ValueError(f"not a phrase id: {phrase_id!r}")
    return int(body, 16)


@dataclass
class Curated:
    """A run's labels after curation, and what the lineage stage needs to finish it.

    Attributes:
        theme, subtheme, subtheme_theme: the clustering arrays, relabelled and compacted.
        pinned: theme label -> the id it must get (merges).
        marks: theme label -> what was done to it (``merged``, ``split``), for the report.
        applied: event ids that changed this run (a merge or split whose clusters were not in it did not).
    """

    theme: np.ndarray
    subtheme: np.ndarray
    subtheme_theme: np.ndarray
    pinned: dict[int, str] = field(default_factory=dict)
    marks: dict[int, list[str]] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)


def apply_curation(theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray,
                   provisional_ids: Sequence[str | None], phrase_label: np.ndarray, phrase_keys: np.ndarray,
                   events: Sequence[CurationEvent], predecessors: Sequence[str | None] | None = None) -> Curated:
    """Apply the merges and splits of ``events`` (see the module docstring) to one run's labels.

    Args:
        theme, subtheme, subtheme_theme: the cluster stage's arrays (``-1``: noise / none).
        provisional_ids: the id each theme label would get from the lineage (None for an empty label).
        predecessors: the previous run's theme most of each label's chunks were in (None: none, or no majority).
            A merge takes a theme whose provisional id *or* predecessor is one of its ids: when the clustering
            cuts a merged theme in two again, both parts descend from it and are merged again.
        phrase_label: ``(n,)`` each row's phrase; phrase_keys: ``(n,)`` uint64 normalised-text hash per row.
        events: active events, oldest first (renames are the lineage stage's, and ignored here).
    """
    theme = np.asarray(theme, np.int64).copy()
    subtheme = np.asarray(subtheme, np.int64).copy()
    parent = np.asarray(subtheme_theme, np.int64).copy()
    ids: dict[int, str] = {label: cid for label, cid in enumerate(provisional_ids) if cid is not None}
    came_from = dict(enumerate(predecessors or []))
    pinned: dict[int, str] = {}
    marks: dict[int, list[str]] = {}
    applied: list[str] = []
    for event in events:
        if event.kind == "merge":
            wanted = {*event.payload["sources"], event.payload["destination"]}
            labels = [label for label, cid in ids.items()
                      if (cid in wanted or came_from.get(label) in wanted) and (theme == label).any()]
            if not labels:
                continue
            dest = event.payload["destination"]
            sizes = {label: int((theme == label).sum()) for label in labels}
            target = next((label for label in labels if ids[label] == dest), max(labels, key=lambda x: (sizes[x], -x)))
            if len(labels) > 1 or ids[target] != dest:
                applied.append(event.event_id)
            for label in labels:
                if label != target:
                    theme[theme == label] = target
                    parent[parent == label] = target
                    ids.pop(label)
                    pinned.pop(label, None)
                    marks.pop(label, None)
            ids[target] = pinned[target] = dest
            if "merged" not in marks.setdefault(target, []):
                marks[target].append("merged")
        elif event.kind == "split":
            rows = np.flatnonzero(phrase_keys == np.uint64(event.payload["key"]))
            if rows.size == 0:
                continue
            rows = np.flatnonzero(np.isin(phrase_label, np.unique(phrase_label[rows])))
            new = int(max(theme.max(initial=-1), parent.max(initial=-1), max(ids, default=-1))) + 1
            theme[rows] = new
            subtheme[rows] = -1
            marks[new] = ["split"]
            applied.append(event.event_id)
    theme, subtheme, parent, lut = _compact(theme, subtheme, parent)
    return Curated(theme, subtheme, parent, {int(lut[k]): v for k, v in pinned.items() if lut[k] >= 0},
                   {int(lut[k]): v for k, v in marks.items() if lut[k] >= 0}, applied)


def _compact(theme: np.ndarray, subtheme: np.ndarray,
             parent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Themes and subthemes without members dropped, labels renumbered in their order; the theme lookup table."""
    top = int(max(theme.max(initial=-1), parent.max(initial=-1))) + 1
    live = np.zeros(top, bool)
    live[theme[theme >= 0]] = True
    lut = np.full(top + 1, -1, np.int64)  # index -1 (noise) hits the last slot
    lut[np.flatnonzero(live)] = np.arange(int(live.sum()))
    theme = lut[theme]
    sub_live = np.zeros(parent.shape[0], bool)
    sub_live[subtheme[subtheme >= 0]] = True
    sub_live &= lut[parent] >= 0
    sub_lut = np.full(parent.shape[0] + 1, -1, np.int64)
    sub_lut[np.flatnonzero(sub_live)] = np.arange(int(sub_live.sum()))
    subtheme = sub_lut[subtheme]
    return theme, subtheme, lut[parent[sub_live]], lut
