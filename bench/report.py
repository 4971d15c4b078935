"""Benchmark the report at scale: a 100k-chunk report's file size and its load-to-interactive time in Chromium.

    .venv/bin/python bench/report.py [--chunks 100000] [--themes 400] [--json out.json] [--keep report.html]

It builds a synthetic run of ``--chunks`` chunks (themes and passages from
tests/unit/core/reporting/reporting_fixtures.py,
scaled up; embeddings drawn around per-theme and per-subtheme directions), lays it out with the real
`tasks.core.layout.project_embeddings`, builds the map data, document roll-up and report exactly as the report
stage does, and writes it. Then it opens the file in headless Chromium (Debian's ``chromium`` through
playwright) three times and reads, from the page itself: when its script finished (``data-ts-ready``) and
when the map's first frame was drawn (``data-ts-drawn-ms``, ms since navigation start). It also times map
frames while zooming (``data-render-ms``). Targets (issue 7): file ≤ 15 MB, load-to-interactive ≤ 3 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.core.reporting import (
    build_map_data,
    map_rows,
    render_report,
    run_changes,
    sort_themes,
    theme_documents,
)
from tests.integration.browser import browser, open_report
from tests.unit.core.reporting.reporting_fixtures import (
    make_manifest,
    make_map_inputs,
    make_skips,
    make_themes,
)


def scaled_themes(chunks: int, n_themes: int) -> dict:
    """A themes.json for ``chunks`` chunks: the fixture's themes with sizes scaled up, 10 % noise."""
    themes = make_themes(n_themes)
    clustered = int(chunks * 0.9)
    factor = clustered / sum(c["total_number_of_nodes"] for c in themes["clusters"])
    total = 0
    for c in themes["clusters"]:
        for s in c["subclusters"]:
            s["total_number_of_nodes"] = max(1, int(s["total_number_of_nodes"] * factor))
        c["total_number_of_nodes"] = max(sum(s["total_number_of_nodes"] for s in c["subclusters"]) + 1,
                                         int(c["total_number_of_nodes"] * factor))
        total += c["total_number_of_nodes"]
    themes["noise"]["total_number_of_nodes"] = chunks - total
    themes["total_number_of_nodes"] = chunks
    return themes


def main() -> int:
    """Build, render and time the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--themes", type=int, default=400)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="also keep the report here")
    args = parser.parse_args()

    themes = scaled_themes(args.chunks, args.themes)
    manifest = make_manifest(themes)
    started = time.perf_counter()
    assignments, passages = make_map_inputs(themes)  # includes project_embeddings
    layout_s = time.perf_counter() - started
    started = time.perf_counter()
    drawn, carried = map_rows(assignments)
    map_data = build_map_data(assignments, sort_themes(themes), {r: passages[r] for r in carried.tolist()}, drawn)
    html = render_report(themes, manifest, make_skips(), map_data=map_data, documents=theme_documents(assignments),
                         changes=run_changes(manifest, {**manifest, "run_id": "previous"}))
    render_s = time.perf_counter() - started
    out = args.keep or Path(tempfile.mkdtemp()) / "report.html"
    out.write_text(html, encoding="utf-8")
    size_mb = out.stat().st_size / 1e6

    loads, frames = [], []
    with browser() as chromium:
        for _ in range(3):
            with open_report(chromium, out) as (page, log):
                page.wait_for_selector("html[data-ts-drawn-ms]", state="attached")
                drawn_ms = float(page.get_attribute("html", "data-ts-drawn-ms"))
                loads.append(drawn_ms)
                box = page.locator("#ts-map").bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                for _ in range(5):
                    page.mouse.wheel(0, -300)
                    page.wait_for_timeout(60)
                    frames.append(float(page.get_attribute("#ts-map", "data-render-ms")))
                points = int(page.evaluate("JSON.parse(document.getElementById('ts-map-data').textContent).drawn"))
                errors = log.console_errors + log.page_errors
    result = {
        "chunks": args.chunks, "themes": len(themes["clusters"]), "points_drawn": points,
        "passages_on_hover": len(map_data["p"]), "file_mb": round(size_mb, 2),
        "layout_s": round(layout_s, 2), "render_s": round(render_s, 2),
        "load_to_interactive_ms": [round(x) for x in loads],
        "load_to_interactive_median_ms": round(statistics.median(loads)),
        "zoom_frame_ms_median": round(statistics.median(frames), 1), "zoom_frame_ms_max": round(max(frames), 1),
        "console_errors": errors,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
