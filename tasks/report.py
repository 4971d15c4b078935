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
    return env


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


# The helpers below read fields leniently (``.get``): a missing field is left for the templates, whose
# StrictUndefined raises one clear ``jinja2.UndefinedError`` for it instead of a KeyError here.


def _by_size(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort clusters largest first, keeping the given order among equals."""
    return sorted(clusters, key=lambda c: -(_as_number(c.get("total_number_of_nodes")) or 0))


def _sorted_themes(themes: dict[str, Any]) -> list[dict[str, Any]]:
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
) -> str:
    """Render the run report.

    Args:
        themes: The run's ``themes.json`` document (not modified; the report shows a size-sorted copy).
        manifest: The run's ``manifest.json`` document.
        skips: Skipped objects and records (``object_key``, ``record``, ``reason``, ``detail``).
        env: Environment to render with; defaults to ``make_environment()``.

    Returns:
        The complete HTML document.

    Raises:
        jinja2.UndefinedError: A field the templates need is missing from the data.
    """
    env = env or make_environment()
    script = env.get_template(SCRIPT_TEMPLATE).render()
    sorted_themes = _sorted_themes(themes)
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
from tasks.publish import promote_run  # noqa: E402
from tasks.runs import RunRef, drop_scratch_arrays, utc_now  # noqa: E402
from tasks.settings import Settings  # noqa: E402
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


@stage_task(name="report")
def report_task(run: RunRef, settings: Settings, published: dict) -> dict:
    """Render the run's HTML report next to its outputs, then make the run the latest."""
    log = stage_logger()
    with stopwatch() as timing:
        storage = open_storage(settings.output_url, create=True)
        prefix = published["prefix"]
        manifest = _json.loads(storage.get(prefix + "manifest.json"))
        themes = _json.loads(storage.get(prefix + "themes.json"))
        storage.put(prefix + "report.html", render_report(themes, manifest, run_skips(settings, run.run_id)).encode("utf-8"))
        finished = utc_now()
        promote_run(storage, run.run_id, finished)
        finish_run(settings, run.run_id, manifest, finished)
        drop_scratch_arrays(run, ("embeddings.npy", "knn.npz"))  # ~1.5 GB per million chunks, per run
    report_url = f"{storage.url}/{prefix}report.html"
    log.info(f"report: {report_url}")
    return {"run_id": run.run_id, "report_url": report_url, "output_url": storage.url,
            "themes": manifest["counts"]["themes"], "subthemes": manifest["counts"]["subthemes"],
            "chunks": manifest["counts"]["chunks"], "noise_pct": manifest["noise_pct"],
            "skipped": manifest["counts"]["objects_skipped"] + manifest["counts"]["records_skipped"],
            "seconds": timing["seconds"]}
