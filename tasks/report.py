"""The ``report`` stage: render one self-contained HTML report for a run.

The report is built from Jinja templates in ``reports/templates`` (a user template directory can
override any of them). It has no external resources: CSS and the small filter script are inlined, so
the file opens offline.

Escaping guarantees:

* Every template is autoescaped (``select_autoescape`` with ``default=True``), so every value that came
  from a document (headers, summaries, passages, filenames, keyphrases, object keys, details) is
  HTML-escaped wherever it is printed, in text and in quoted attributes alike.
* Data for the script reaches it only through ``|tojson`` inside a ``<script type="application/json">``
  block; ``tojson`` escapes ``<``, ``>``, ``&`` and ``'`` so ``</script>`` cannot close the block.
* The only ``Markup`` we create is the rendered script template (it reads no variables) and its CSP
  hash. A
  Content-Security-Policy pins scripts to that exact text by SHA-256 and forbids all network loads, so
  even a missed escape could not run an injected ``<script>`` or ``onerror=`` handler.
* No URL from the data is ever put in an ``href`` or ``src``.

This module holds plain functions (no Prefect imports); the pipeline wraps them elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jinja2
import numpy as np
import pyarrow as pa
from markupsafe import Markup

from tasks.errors import ConfigError
from tasks.storage import atomic_write

PACKAGED_TEMPLATE_DIR: Path = Path(__file__).resolve().parent.parent / "reports" / "templates"
"""The templates shipped with themesift."""

REPORT_TEMPLATE = "report.html"
SCRIPT_TEMPLATE = "_script.js.j2"
PASSAGE_MAX_CHARS = 300
"""Passages longer than this are cut (at a word boundary where one is near) and end in an ellipsis."""
SKIPS_MAX_ROWS = 200
"""At most this many skipped objects are listed; the rest are counted."""
MAP_MAX_POINTS = 200_000
"""The map draws every chunk up to this many; above it, a seeded sample of this size (the page says so)."""
MAP_MAX_PASSAGES = 20_000
"""Map points that carry their passage for the hover card; above it, a seeded sample (the page says so)."""
MAP_PASSAGE_CHARS = 180
"""Hover passages are clipped to this many characters."""
MAP_GRID = 9999
"""Map positions travel as integers 0..MAP_GRID (4 digits each instead of a float's 8-10)."""
TOP_DOCUMENTS = 8
"""Documents listed per theme in the drill-down (the chunk -> document roll-up)."""

_DASH = "\u2014"
_ELLIPSIS = "\u2026"


# --------------------------------------------------------------------------------------------------
# Jinja filters
# --------------------------------------------------------------------------------------------------


def _as_number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None if it is missing or not numeric."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_thousands(value: Any) -> str:
    """Format a count with thousands separators (``13083`` -> ``13,083``).

    Args:
        value: An int or float; anything non-numeric renders as an em dash.

    Returns:
        The formatted number.
    """
    number = _as_number(value)
    if number is None:
        return _DASH
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.1f}"


def fmt_percent(value: Any, digits: int = 1) -> str:
    """Format a value that is already a percentage (``9.24`` -> ``9.2%``).

    Args:
        value: The percentage, 0-100.
        digits: Decimal places.

    Returns:
        The formatted percentage; tiny non-zero values render as ``<0.1%``.
    """
    number = _as_number(value)
    if number is None:
        return _DASH
    smallest = 10.0**-digits
    if 0 < abs(number) < smallest:
        return f"<{smallest:.{digits}f}%"
    return f"{number:.{digits}f}%"


def fmt_fraction_pct(value: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage (``0.0316`` -> ``3.2%``).

    Args:
        value: The fraction, 0-1.
        digits: Decimal places.

    Returns:
        The formatted percentage.
    """
    number = _as_number(value)
    return _DASH if number is None else fmt_percent(number * 100, digits)


def fmt_seconds(value: Any) -> str:
    """Format a duration compactly (``0.09`` -> ``0.09s``, ``167.4`` -> ``2m 47s``, ``3720`` -> ``1h 02m``).

    Args:
        value: Seconds.

    Returns:
        A short human duration.
    """
    number = _as_number(value)
    if number is None or number < 0:
        return _DASH
    if number < 1:
        return f"{number:.2f}s"
    if number < 60:
        return f"{number:.1f}s"
    minutes, secs = divmod(round(number), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_score(value: Any, digits: int = 2) -> str:
    """Format a 0-1 score such as cohesion or centrality (``0.713`` -> ``0.71``)."""
    number = _as_number(value)
    return _DASH if number is None else f"{number:.{digits}f}"


def fmt_timestamp(value: Any) -> str:
    """Format an ISO-8601 timestamp as ``24 Nov 2026, 06:40 UTC``; unparseable input is shown as is."""
    if not isinstance(value, str) or not value:
        return _DASH
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%d %b %Y, %H:%M UTC")


def clip(value: Any, limit: int = PASSAGE_MAX_CHARS) -> str:
    """Collapse whitespace and cut text to ``limit`` characters, ending with an ellipsis if cut.

    The cut lands on a word boundary when one is within the last fifth of the limit; long unbroken
    strings are cut hard. The result is plain text: autoescaping still applies when it is printed.

    Args:
        value: The text.
        limit: Maximum length before the ellipsis.

    Returns:
        The clipped text.
    """
    text = " ".join(str(value).split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + _ELLIPSIS


def bar_width(value: Any, scale: Any = 1.0) -> str:
    """Turn ``value / scale`` into a CSS percentage clamped to 0-100, e.g. ``"42.5%"``.

    Only ever emits digits, a dot and ``%``, so it is safe inside a ``style`` attribute whatever
    the input was.
    """
    number, denominator = _as_number(value), _as_number(scale)
    if number is None or not denominator:
        return "0%"
    return f"{min(100.0, max(0.0, 100.0 * number / denominator)):.1f}%"


def ratio(value: Any, total: Any) -> float | None:
    """Return ``value / total``, or None when either is missing or ``total`` is zero."""
    number, denominator = _as_number(value), _as_number(total)
    if number is None or not denominator:
        return None
    return number / denominator


def dom_id(value: Any) -> str:
    """Make a string safe and readable as an HTML id fragment (``t0.1`` -> ``t0-1``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", str(value)).strip("-")[:64]
    return cleaned or "x"


def redact_url(value: Any) -> str:
    """Drop credentials, query and fragment from a URL before showing it (``s3://k:s@b/p?x`` -> ``s3://b/p``)."""
    text = str(value)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def fmt_delta(value: Any, unit: str = "") -> str:
    """Format a change with its sign (``12`` -> ``+12``, ``-3.5`` -> ``−3.5``, ``0`` -> ``no change``)."""
    number = _as_number(value)
    if number is None:
        return _DASH
    if number == 0:
        return "no change"
    sign = "+" if number > 0 else "\u2212"
    body = fmt_thousands(abs(number)) if not unit else f"{abs(number):.1f}"
    return f"{sign}{body}{unit}"


FILTERS: dict[str, Any] = {
    "thousands": fmt_thousands,
    "percent": fmt_percent,
    "fraction_pct": fmt_fraction_pct,
    "seconds": fmt_seconds,
    "score": fmt_score,
    "timestamp": fmt_timestamp,
    "clip": clip,
    "bar_width": bar_width,
    "ratio": ratio,
    "dom_id": dom_id,
    "redact_url": redact_url,
    "delta": fmt_delta,
}


# --------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Build the Jinja environment used for reports.

    Autoescaping is on for every template (``.html`` and everything else: static CSS/JS text is not
    affected, only printed values are). Undefined values raise, so a missing field fails the render
    instead of silently printing nothing.

    Args:
        template_dir: Optional directory whose templates override the packaged ones by name.

    Returns:
        The configured environment with the number-formatting filters registered.

    Raises:
        ConfigError: ``template_dir`` is given but is not a directory.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        template_dir = Path(template_dir)
        if not template_dir.is_dir():
            raise ConfigError(
                f"report template directory {template_dir} does not exist; "
                "create it or unset the report template setting"
            )
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(PACKAGED_TEMPLATE_DIR))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    # Compact JSON for the script data blocks (the map of 100k chunks is most of the file); tojson still
    # escapes < > & ' so no string can close the <script> block.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    return env


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


# The helpers below read fields leniently (``.get``): a missing field is left for the templates, whose
# StrictUndefined raises one clear ``jinja2.UndefinedError`` for it instead of a KeyError here.


def _by_size(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort clusters largest first, keeping the given order among equals."""
    return sorted(clusters, key=lambda c: -(_as_number(c.get("total_number_of_nodes")) or 0))


def sort_themes(themes: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the themes largest first, each with its subthemes largest first (input is not mutated)."""
    return [
        {**theme, "subclusters": _by_size(theme["subclusters"])} if "subclusters" in theme else theme
        for theme in _by_size(themes.get("clusters", []))
    ]


def _search_index(themes: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Text per theme card for the client-side filter: id, header, summary, keyphrases, subthemes, files."""
    index = []
    for theme in themes:
        parts = [theme.get("cluster_id"), theme.get("cluster_header"), theme.get("cluster_summary")]
        parts += [k.get("phrase") for k in theme.get("keyphrases", [])]
        parts += [s.get("cluster_header") for s in theme.get("subclusters", [])]
        parts += [n.get("filename") for n in theme.get("nodes", [])]
        text = " ".join(clip(p, 500) for p in parts if p is not None)
        index.append({"id": dom_id(theme.get("cluster_id")), "text": text.lower()})
    return index


def _skip_reasons(skips: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Count skips per reason code, most frequent first."""
    counts: dict[str, int] = {}
    for skip in skips:
        reason = str(skip.get("reason"))
        counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


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


def _quantise(values: np.ndarray) -> np.ndarray:
    """Map [-1, 1] floats to integers 0..MAP_GRID."""
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
    at = {int(row): i for i, row in enumerate(drawn.tolist())}
    carried = sorted(at[row] for row in passages if row in at)
    keys = assignments.column("object_key").take(pa.array(drawn[carried], pa.int64())).to_pylist() if carried else []
    files = sorted(set(keys))
    file_pos = {k: i for i, k in enumerate(files)}
    sublabels = []
    for i, theme in enumerate(themes):
        mine = t == i
        sublabels.append(_median_positions(x[mine], y[mine], s[mine], len(theme.get("subclusters", []))))
    return {
        "n": assignments.num_rows, "drawn": len(drawn),
        "x": x.tolist(), "y": y.tolist(), "t": t.tolist(), "s": s.tolist(),
        "p": carried, "pt": [clip(passages[int(drawn[i])], MAP_PASSAGE_CHARS) for i in carried],
        "pf": [file_pos[k] for k in keys], "files": files,
        "labels": _median_positions(x, y, t, len(themes)), "sublabels": sublabels,
    }


def theme_documents(assignments: pa.Table, top: int = TOP_DOCUMENTS) -> dict[str, list[dict[str, Any]]]:
    """The documents most about each theme: the chunk -> document roll-up for the drill-down.

    A document ranks high in a theme when many of its chunks are in it; ties go to the document that is
    more wholly about the theme (a larger share of its chunks), then to the object key.

    Args:
        assignments: The run's assignments (``doc_id``, ``object_key``, ``theme_id``).
        top: Documents kept per theme.

    Returns:
        ``{theme_id: [{"doc_id", "object_key", "chunks", "doc_chunks", "share"}, ...]}``, best first.
    """
    if assignments.num_rows == 0:
        return {}
    table = assignments.select(["doc_id", "object_key", "theme_id"])
    totals = dict(zip(*table.group_by("doc_id").aggregate([("doc_id", "count")]).to_pydict().values(), strict=True))
    counted = table.filter(pa.compute.is_valid(table.column("theme_id"))).group_by(
        ["theme_id", "doc_id", "object_key"]).aggregate([("doc_id", "count")])
    by_theme: dict[str, list[dict[str, Any]]] = {}
    for row in counted.to_pylist():
        total = totals[row["doc_id"]]
        by_theme.setdefault(row["theme_id"], []).append(
            {"doc_id": row["doc_id"], "object_key": row["object_key"], "chunks": row["doc_id_count"],
             "doc_chunks": total, "share": row["doc_id_count"] / total})
    return {tid: sorted(docs, key=lambda d: (-d["chunks"], -d["share"], d["object_key"]))[:top]
            for tid, docs in by_theme.items()}


def run_changes(manifest: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Headline changes since the previous published run (None when there is none, or it is this run).

    Returns:
        ``{"run_id", "finished_at", "documents", "chunks", "themes", "subthemes", "noise_pct"}``: the
        previous run's id and time, and this run minus the previous one for each figure (None if unknown).
    """
    if not previous or previous.get("run_id") == manifest.get("run_id"):
        return None
    now, before = manifest.get("counts", {}), previous.get("counts", {})

    def delta(a: Any, b: Any) -> float | None:
        a, b = _as_number(a), _as_number(b)
        return None if a is None or b is None else round(a - b, 2)

    out = {k: delta(now.get(k), before.get(k)) for k in ("documents", "chunks", "themes", "subthemes")}
    out["noise_pct"] = delta(manifest.get("noise_pct"), previous.get("noise_pct"))
    return {"run_id": previous.get("run_id"), "finished_at": previous.get("finished_at"), **out}


DIFF_MAX_ITEMS = 8
"""At most this many entries per list of the night-over-night diff (the rest are counted)."""


def _theme_ref(cluster_id: str, themes: dict[str, dict[str, Any]], size: int | None = None) -> dict[str, Any]:
    """A theme as the diff shows it: id, header, size and one example passage (when the run still has it)."""
    theme = themes.get(cluster_id)
    nodes = (theme or {}).get("nodes") or []
    return {"id": cluster_id, "dom": dom_id(cluster_id), "present": theme is not None,
            "header": (theme or {}).get("cluster_header", ""),
            "size": size if size is not None else (theme or {}).get("total_number_of_nodes"),
            "example": nodes[0] if nodes else None}


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
        ``{"previous_run_id", "counts", "sub_counts", "emerging", "splits", "merges", "movers", "gone",
        "empty"}``; every theme inside is a `_theme_ref`.
    """
    if not lineage or not lineage.get("previous_run_id"):
        return None
    cur = {t.get("cluster_id"): t for t in themes}
    prev = {t.get("cluster_id"): t for t in (previous_themes or {}).get("clusters", [])}
    events = [e for e in lineage.get("diff", []) if e.get("level") == "theme"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_kind.setdefault(e["event"], []).append(e)

    def prev_ref(cid: str, size: int | None = None) -> dict[str, Any]:
        ref = _theme_ref(cid, prev, size)
        if not ref["header"] and cid in cur:
            ref["header"] = cur[cid].get("cluster_header", "")
        return ref

    movers = sorted(by_kind.get("grew", []) + by_kind.get("shrank", []),
                    key=lambda e: (-abs(e["size_after"] - e["size_before"]), e["cluster_id"]))
    top_move = max((abs(e["size_after"] - e["size_before"]) for e in movers), default=0)
    sub_counts = {k: v for k, v in (lineage.get("counts", {}).get("subtheme") or {}).items() if k != "stable"}
    counts = {k: len(by_kind.get(k, [])) for k in ("born", "grew", "shrank", "split", "merged", "died")}
    return {
        "previous_run_id": lineage["previous_run_id"], "counts": counts, "sub_counts": sub_counts,
        "kept": sum(1 for t in themes if t.get("cluster_id") in prev) if prev else None,
        "emerging": [_theme_ref(e["cluster_id"], cur, e["size_after"]) for e in by_kind.get("born", [])[:limit]],
        "splits": [{"source": prev_ref(e["cluster_id"], e["size_before"]), "moved": e.get("moved_share"),
                    "parts": [_theme_ref(c, cur) for c in e["current_ids"]]} for e in by_kind.get("split", [])[:limit]],
        "merges": [{"target": _theme_ref(e["cluster_id"], cur, e["size_after"]), "moved": e.get("moved_share"),
                    "sources": [prev_ref(p) for p in e["previous_ids"]]} for e in by_kind.get("merged", [])[:limit]],
        "movers": [{**_theme_ref(e["cluster_id"], cur, e["size_after"]), "before": e["size_before"],
                    "after": e["size_after"], "change": e["size_after"] - e["size_before"],
                    "moved": e.get("moved_share"), "scale": top_move} for e in movers[:limit]],
        "gone": [prev_ref(e["cluster_id"], e["size_before"]) for e in by_kind.get("died", [])[:limit]],
        "more": {k: max(0, len(v) - limit) for k, v in by_kind.items()},
        "empty": not events,
    }


def _csp_hash(script: str) -> str:
    """The CSP source expression (``'sha256-...'``) that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_report(
    themes: dict[str, Any],
    manifest: dict[str, Any],
    skips: list[dict[str, Any]],
    *,
    env: jinja2.Environment | None = None,
    map_data: dict[str, Any] | None = None,
    documents: dict[str, list[dict[str, Any]]] | None = None,
    changes: dict[str, Any] | None = None,
    diff: dict[str, Any] | None = None,
) -> str:
    """Render the run report.

    Args:
        themes: The run's ``themes.json`` document (not modified; the report shows a size-sorted copy).
        manifest: The run's ``manifest.json`` document.
        skips: Skipped objects and records (``object_key``, ``record``, ``reason``, ``detail``).
        env: Environment to render with; defaults to ``make_environment()``.
        map_data: The chunk map (`build_map_data`, built against ``sorted_themes(themes)``); without
            it the page says the run has no map.
        documents: Documents most about each theme (`theme_documents`), by theme id.
        changes: Changes since the previous run (`run_changes`).
        diff: Theme events since the previous run (`build_diff`).

    Returns:
        The complete HTML document.

    Raises:
        jinja2.UndefinedError: A field the templates need is missing from the data.
    """
    env = env or make_environment()
    script = env.get_template(SCRIPT_TEMPLATE).render()
    sorted_themes = sort_themes(themes)
    shares = [_as_number(t.get("share")) or 0.0 for t in sorted_themes]
    context = {
        "themes": sorted_themes,
        "doc": themes,
        "manifest": manifest,
        "skips": skips[:SKIPS_MAX_ROWS],
        "skips_total": len(skips),
        "skip_reasons": _skip_reasons(skips),
        "max_share": max(shares, default=0.0),
        "search_index": _search_index(sorted_themes),
        "map_data": map_data,
        "map_themes": [{"id": t.get("cluster_id"), "dom": dom_id(t.get("cluster_id")),
                        "h": clip(t.get("cluster_header", ""), 80), "n": t.get("total_number_of_nodes"),
                        "subs": [clip(c.get("cluster_header", ""), 60) for c in t.get("subclusters", [])]}
                       for t in sorted_themes],
        "documents": documents or {},
        "changes": changes,
        "diff": diff,
        # Our own template output (it reads no variables), never document data.
        "script": Markup(script),
        "script_csp": Markup(_csp_hash(script)),
    }
    return env.get_template(REPORT_TEMPLATE).render(context)


def write_report(html: str, path: Path) -> Path:
    """Write the report atomically (see `tasks.storage.atomic_write`): never a partial file, mode 0644.

    Args:
        html: The rendered document.
        path: Destination file; its directory is created if missing.

    Returns:
        ``path``.
    """
    path = Path(path)
    atomic_write(path, html.encode("utf-8"))
    return path


import json as _json  # noqa: E402 - wrappers sit below the plain functions they wrap

from tasks.catalog import open_catalog  # noqa: E402
from tasks.graph import render_run_graph, render_theme_graph  # noqa: E402
from tasks.publish import promote_run, read_latest  # noqa: E402
from tasks.runs import RunRef, drop_scratch_arrays, prune_runs, utc_now  # noqa: E402
from tasks.settings import RunParams, Settings  # noqa: E402
from tasks.stage import stage_logger, stage_task, stopwatch  # noqa: E402
from tasks.storage import open_storage  # noqa: E402


def run_skips(settings: Settings, run_id: str) -> list[dict]:
    """The skips that concern a run's listed objects, as the report lists them."""
    with open_catalog(settings.catalog_path) as catalog:
        rows = catalog.rows("select_run_skips", {"run_id": run_id})
    return [{"object_key": k, "record": r, "reason": reason, "detail": d} for k, r, reason, d in rows]


def finish_run(settings: Settings, run_id: str, manifest: dict, finished_at: str) -> None:
    """Mark the run complete in the catalog."""
    with open_catalog(settings.catalog_path) as catalog:
        catalog.run("update_run_finished", {"run_id": run_id, "finished_at": finished_at.rstrip("Z"),
                                            "counts": _json.dumps(manifest["counts"]),
                                            "output_prefix": f"runs/{run_id}/"})


def md_escape(value: Any, limit: int = 120) -> str:
    """Document text made inert for a Markdown artifact: clipped, HTML-escaped, Markdown punctuation escaped."""
    text = clip(value, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+!|~-])", r"\\\1", text)


def theme_summary_markdown(manifest: dict, themes: list[dict], report_url: str, limit: int = 25) -> str:
    """The Markdown artifact: headline figures and the largest themes (every document string escaped)."""
    counts = manifest["counts"]
    lines = [f"# Themes in run {md_escape(manifest['run_id'], 80)}", "",
             f"{fmt_thousands(counts['documents'])} documents, {fmt_thousands(counts['chunks'])} chunks, "
             f"{fmt_thousands(counts['themes'])} themes, {fmt_thousands(counts['subthemes'])} subthemes, "
             f"noise {fmt_percent(manifest['noise_pct'])}, skipped {fmt_thousands(counts['objects_skipped'])} objects.",
             "", f"Report: `{report_url.replace('`', '')}`", "",
             "| theme | header | chunks | share | subthemes |", "|---|---|---:|---:|---:|"]
    for theme in themes[:limit]:
        lines.append(f"| {md_escape(theme['cluster_id'], 24)} | {md_escape(theme['cluster_header'])} | "
                     f"{fmt_thousands(theme['total_number_of_nodes'])} | {fmt_fraction_pct(theme['share'])} | "
                     f"{len(theme.get('subclusters', []))} |")
    if len(themes) > limit:
        lines += ["", f"… and {len(themes) - limit:,} smaller themes (see the report)."]
    return "\n".join(lines)


def theme_summary_table(themes: list[dict]) -> list[dict[str, Any]]:
    """The table artifact: one row per theme."""
    return [{"theme": clip(t["cluster_id"], 24), "header": clip(t["cluster_header"], 120),
             "chunks": t["total_number_of_nodes"], "share_pct": round(100 * (t.get("share") or 0.0), 2),
             "documents": t.get("documents"), "subthemes": len(t.get("subclusters", [])),
             "cohesion": t.get("cohesion")} for t in themes]


ARTIFACT_KEYS = {"link": "themesift-report", "markdown": "themesift-themes", "table": "themesift-theme-table"}
"""Keyed Prefect artifacts: the UI keeps one history per key, so every run adds a version of each."""


def publish_artifacts(manifest: dict, themes: list[dict], report_url: str) -> None:
    """Publish the report link, a theme summary and a theme table as artifacts of the current flow run."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    run_id = manifest["run_id"]
    create_link_artifact(link=report_url, link_text=f"themesift report {run_id}", key=ARTIFACT_KEYS["link"],
                         description=f"The HTML report of run {run_id} (one file, opens offline).")
    create_markdown_artifact(markdown=theme_summary_markdown(manifest, themes, report_url),
                             key=ARTIFACT_KEYS["markdown"], description=f"Theme summary of run {run_id}.")
    create_table_artifact(table=theme_summary_table(themes), key=ARTIFACT_KEYS["table"],
                          description=f"Every theme of run {run_id}, largest first.")


def read_assignments(storage, prefix: str) -> pa.Table:
    """A published run's assignments table."""
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(storage.get(prefix + "assignments.parquet")))


def previous_manifest(storage, run_id: str) -> dict | None:
    """The manifest of the run ``latest.json`` points at before this one is promoted (None if none)."""
    latest = read_latest(storage)
    if not latest or latest.get("run_id") == run_id:
        return None
    try:
        return _json.loads(storage.get(latest["manifest"]))
    except Exception:  # noqa: BLE001 - a pruned or unreadable previous run only means "no comparison"
        return None


def map_passages(settings: Settings, assignments: pa.Table, rows: np.ndarray) -> dict[int, str]:
    """Passage text of the given assignment rows (for the map's hover card), from the catalog."""
    if len(rows) == 0:
        return {}
    ids = pa.table({"row_no": pa.array(rows, pa.int64()),
                    "chunk_id": assignments.column("chunk_id").take(pa.array(rows, pa.int64()))})
    with open_catalog(settings.catalog_path) as catalog:
        return {int(r): text for r, text in catalog.rows("select_chunk_texts", chunk_ids_input=ids)}


def write_graphs(storage, prefix: str, assignments: pa.Table, themes: list[dict], title: str, seed: int) -> int:
    """Write ``graph.png`` and ``graphs/<cluster_id>.png`` for every theme; return how many PNGs were written."""
    if "x" not in assignments.column_names:
        return 0
    coords = np.stack([assignments.column("x").to_numpy(zero_copy_only=False),
                       assignments.column("y").to_numpy(zero_copy_only=False)], axis=1).astype(np.float32)
    t, s = chunk_indices(assignments, themes)
    storage.put(prefix + "graph.png", render_run_graph(coords, t, [x["cluster_header"] for x in themes],
                                                       title=title, seed=seed))
    for i, theme in enumerate(themes):
        png = render_theme_graph(coords, t, s, i, [c["cluster_header"] for c in theme.get("subclusters", [])],
                                 title=f"{clip(theme['cluster_id'], 24)} \u00b7 {clip(theme['cluster_header'], 90)}")
        storage.put(f"{prefix}graphs/{dom_id(theme['cluster_id'])}.png", png)
    return 1 + len(themes)


def previous_themes(storage, lineage: dict | None) -> dict | None:
    """The ``themes.json`` of the run this one was compared with (None when there is none or it is gone)."""
    ref = (lineage or {}).get("previous_run_id")
    if not ref:
        return None
    try:
        return _json.loads(storage.get(f"runs/{ref}/themes.json"))
    except Exception:  # noqa: BLE001 - a pruned previous run only means "no examples for gone themes"
        return None


@stage_task(name="report")
def report_task(run: RunRef, settings: Settings, params: RunParams, published: dict) -> dict:
    """Render the report and graph PNGs next to the run's outputs, make the run the latest, publish artifacts.

    With ``params.promote`` false the run is complete but ``latest.json`` keeps pointing where it did.
    Afterwards run folders beyond the newest ``params.keep_runs`` are deleted (`prune_runs`).
    """
    log = stage_logger()
    with stopwatch() as timing:
        storage = open_storage(settings.output_url, create=True, settings=settings)
        prefix = published["prefix"]
        manifest = _json.loads(storage.get(prefix + "manifest.json"))
        themes = _json.loads(storage.get(prefix + "themes.json"))
        seed = int(manifest.get("params", {}).get("seed") or 0)
        assignments = read_assignments(storage, prefix)
        ordered = sort_themes(themes)
        drawn, carried = map_rows(assignments, seed)
        map_data = build_map_data(assignments, ordered, map_passages(settings, assignments, carried), drawn)
        html = render_report(themes, manifest, run_skips(settings, run.run_id), map_data=map_data,
                             documents=theme_documents(assignments),
                             changes=run_changes(manifest, previous_manifest(storage, run.run_id)),
                             diff=build_diff(manifest.get("lineage"), ordered,
                                             previous_themes(storage, manifest.get("lineage"))))
        storage.put(prefix + "report.html", html.encode("utf-8"))
        graphs = write_graphs(storage, prefix, assignments, ordered, f"themesift run {run.run_id}", seed)
        finished = utc_now()
        if params.promote:
            promote_run(storage, run.run_id, finished)
        finish_run(settings, run.run_id, manifest, finished)
        drop_scratch_arrays(run, ("embeddings.npy", "knn.npz"))  # ~1.5 GB per million chunks, per run
        pruned = prune_runs(settings, storage, params.keep_runs)
    if pruned:
        log.info(f"report: retention keeps {params.keep_runs} runs; deleted {len(pruned)} older: {', '.join(pruned)}")
    report_url = f"{storage.url}/{prefix}report.html"
    try:
        publish_artifacts(manifest, ordered, report_url)
    except Exception as exc:  # noqa: BLE001 - the run is complete and promoted; artifacts are only UI links
        log.warning(f"report: could not publish Prefect artifacts ({exc}); the report is at {report_url}")
    log.info(f"report: {report_url} ({len(html) / 1e6:.1f} MB, {graphs} graph PNGs)")
    return {"run_id": run.run_id, "report_url": report_url, "output_url": storage.url,
            "themes": manifest["counts"]["themes"], "subthemes": manifest["counts"]["subthemes"],
            "chunks": manifest["counts"]["chunks"], "noise_pct": manifest["noise_pct"],
            "skipped": manifest["counts"]["objects_skipped"] + manifest["counts"]["records_skipped"],
            "seconds": timing["seconds"]}
