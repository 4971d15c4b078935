"""What changed since the previous published run: headline figures (`run_changes`) and theme events (`build_diff`).

Both read the previous run leniently (``.get``): a field it lacks shows as unknown (None) rather than
failing the report, and no previous run (or the same run) means there is nothing to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.core.reporting.formatting import as_number, dom_id

DIFF_MAX_ITEMS = 8
"""At most this many entries per list of the night-over-night diff (the rest are counted)."""
EVENT_KINDS = ("born", "grew", "shrank", "split", "merged", "died")
"""The theme events the diff counts (`tasks.core.lineage`)."""


def _difference(now: Any, before: Any) -> float | None:
    """``now - before`` rounded to 2 places, or None when either is missing or not a number."""
    a, b = as_number(now), as_number(before)
    return None if a is None or b is None else round(a - b, 2)


def run_changes(manifest: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Headline changes since the previous published run (None when there is none, or it is this run).

    Args:
        manifest: This run's ``manifest.json``.
        previous: The previous published run's ``manifest.json``, if any.

    Returns:
        ``{"run_id", "finished_at", "documents", "chunks", "themes", "subthemes", "noise_pct"}``: the
        previous run's id and time, and this run minus the previous one for each figure (None if unknown).
    """
    if not previous or previous.get("run_id") == manifest.get("run_id"):
        return None
    now, before = manifest.get("counts", {}), previous.get("counts", {})
    out = {k: _difference(now.get(k), before.get(k)) for k in ("documents", "chunks", "themes", "subthemes")}
    out["noise_pct"] = _difference(manifest.get("noise_pct"), previous.get("noise_pct"))
    return {"run_id": previous.get("run_id"), "finished_at": previous.get("finished_at"), **out}


def _theme_ref(cluster_id: str, themes: dict[str, dict[str, Any]], size: int | None = None) -> dict[str, Any]:
    """A theme as the diff shows it: id, header, size and one example passage (when the run still has it)."""
    theme = themes.get(cluster_id)
    nodes = (theme or {}).get("nodes") or []
    return {"id": cluster_id, "dom": dom_id(cluster_id), "present": theme is not None,
            "header": (theme or {}).get("cluster_header", ""),
            "size": size if size is not None else (theme or {}).get("total_number_of_nodes"),
            "example": nodes[0] if nodes else None}


@dataclass(frozen=True)
class _Refs:
    """The two runs' themes by id, to turn an event's theme ids into `_theme_ref` entries."""

    current: dict[str, dict[str, Any]]
    previous: dict[str, dict[str, Any]]

    def now(self, cluster_id: str, size: int | None = None) -> dict[str, Any]:
        """A theme of this run."""
        return _theme_ref(cluster_id, self.current, size)

    def before(self, cluster_id: str, size: int | None = None) -> dict[str, Any]:
        """A theme of the previous run; without its header there, this run's theme of that id lends one."""
        ref = _theme_ref(cluster_id, self.previous, size)
        if not ref["header"] and cluster_id in self.current:
            ref["header"] = self.current[cluster_id].get("cluster_header", "")
        return ref


def _theme_events(lineage: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The lineage's theme-level events grouped by kind, each kind in the lineage's order."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in lineage.get("diff", []):
        if event.get("level") == "theme":
            by_kind.setdefault(event["event"], []).append(event)
    return by_kind


def _split(event: dict[str, Any], refs: _Refs) -> dict[str, Any]:
    """A previous theme and the current themes it split into."""
    return {"source": refs.before(event["cluster_id"], event["size_before"]), "moved": event.get("moved_share"),
            "parts": [refs.now(c) for c in event["current_ids"]]}


def _merge(event: dict[str, Any], refs: _Refs) -> dict[str, Any]:
    """A current theme and the previous themes that merged into it."""
    return {"target": refs.now(event["cluster_id"], event["size_after"]), "moved": event.get("moved_share"),
            "sources": [refs.before(p) for p in event["previous_ids"]]}


def _movers(events: list[dict[str, Any]], refs: _Refs, limit: int) -> list[dict[str, Any]]:
    """The themes that grew or shrank most (by chunks), each with the largest change as its bar's scale."""
    movers = sorted(events, key=lambda e: (-abs(e["size_after"] - e["size_before"]), e["cluster_id"]))
    top_move = max((abs(e["size_after"] - e["size_before"]) for e in movers), default=0)
    return [{**refs.now(e["cluster_id"], e["size_after"]), "before": e["size_before"], "after": e["size_after"],
             "change": e["size_after"] - e["size_before"], "moved": e.get("moved_share"), "scale": top_move}
            for e in movers[:limit]]


def build_diff(lineage: dict[str, Any] | None, themes: list[dict[str, Any]],
               previous_themes: dict[str, Any] | None, limit: int = DIFF_MAX_ITEMS) -> dict[str, Any] | None:
    """The report's "since the previous run" view of the manifest's ``lineage`` section.

    Args:
        lineage: ``manifest["lineage"]`` (None, or no previous run: no diff to show).
        themes: This run's themes (`sort_themes`).
        previous_themes: The previous run's ``themes.json`` (None when it was pruned or unreadable: the
            gone themes then show without an example).
        limit: Entries per list.

    Returns:
        ``{"previous_run_id", "counts", "sub_counts", "kept", "emerging", "splits", "merges", "movers",
        "gone", "more", "empty"}``; every theme inside is a `_theme_ref`. ``kept`` is None without the
        previous themes; ``more`` counts the entries beyond ``limit`` per event kind.
    """
    if not lineage or not lineage.get("previous_run_id"):
        return None
    refs = _Refs({t.get("cluster_id"): t for t in themes},
                 {t.get("cluster_id"): t for t in (previous_themes or {}).get("clusters", [])})
    by_kind = _theme_events(lineage)
    sub_counts = lineage.get("counts", {}).get("subtheme") or {}
    return {
        "previous_run_id": lineage["previous_run_id"],
        "counts": {k: len(by_kind.get(k, [])) for k in EVENT_KINDS},
        "sub_counts": {k: v for k, v in sub_counts.items() if k != "stable"},
        "kept": sum(1 for t in themes if t.get("cluster_id") in refs.previous) if refs.previous else None,
        "emerging": [refs.now(e["cluster_id"], e["size_after"]) for e in by_kind.get("born", [])[:limit]],
        "splits": [_split(e, refs) for e in by_kind.get("split", [])[:limit]],
        "merges": [_merge(e, refs) for e in by_kind.get("merged", [])[:limit]],
        "movers": _movers(by_kind.get("grew", []) + by_kind.get("shrank", []), refs, limit),
        "gone": [refs.before(e["cluster_id"], e["size_before"]) for e in by_kind.get("died", [])[:limit]],
        "more": {k: max(0, len(v) - limit) for k, v in by_kind.items()},
        "empty": not by_kind,
    }
