"""Render a run's report: the template context from the run's documents, then one self-contained HTML page.

The helpers read fields leniently (``.get``): a missing field is left for the templates, whose
StrictUndefined raises one clear ``jinja2.UndefinedError`` for it instead of a KeyError here.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jinja2
from markupsafe import Markup

from tasks.core.reporting.assets import SCRIPT_FILE, STYLE_FILE, static_text
from tasks.core.reporting.environment import make_environment
from tasks.core.reporting.formatting import as_number, clip, dom_id

REPORT_TEMPLATE = "report.html"
SKIPS_MAX_ROWS = 200
"""At most this many skipped objects are listed; the rest are counted."""


def _by_size(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort clusters largest first, keeping the given order among equals."""
    return sorted(clusters, key=lambda c: -(as_number(c.get("total_number_of_nodes")) or 0))


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


def _map_themes(themes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the map script shows of each theme: id, anchor, clipped header, size and subtheme headers."""
    return [{"id": t.get("cluster_id"), "dom": dom_id(t.get("cluster_id")),
             "h": clip(t.get("cluster_header", ""), 80), "n": t.get("total_number_of_nodes"),
             "subs": [clip(c.get("cluster_header", ""), 60) for c in t.get("subclusters", [])]}
            for t in themes]


def _skip_reasons(skips: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Count skips per reason code, most frequent first."""
    counts: dict[str, int] = {}
    for skip in skips:
        reason = str(skip.get("reason"))
        counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _inline(name: str) -> str:
    """A static file's text as it is inlined: starting on its own line after the opening tag."""
    return "\n" + static_text(name)


def _csp_hash(script: str) -> str:
    """The CSP source expression (``'sha256-...'``) that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _static_context() -> dict[str, Markup]:
    """The inlined CSS and script and the script's CSP hash: our own files, never document data."""
    script = _inline(SCRIPT_FILE)
    return {"style": Markup(_inline(STYLE_FILE)), "script": Markup(script), "script_csp": Markup(_csp_hash(script))}


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
        env: Environment to render with; defaults to `make_environment()`.
        map_data: The chunk map (`build_map_data`, built against ``sort_themes(themes)``); without
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
    sorted_themes = sort_themes(themes)
    shares = [as_number(t.get("share")) or 0.0 for t in sorted_themes]
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
        "map_themes": _map_themes(sorted_themes),
        "documents": documents or {},
        "changes": changes,
        "diff": diff,
        **_static_context(),
    }
    return env.get_template(REPORT_TEMPLATE).render(context)
