"""The Prefect artifacts' content: a Markdown theme summary and a theme table (every document string escaped)."""

from __future__ import annotations

import re
from typing import Any

from tasks.core.reporting.formatting import clip, fmt_fraction_pct, fmt_percent, fmt_thousands


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
