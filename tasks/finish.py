"""Finish stage: close a run once its report exists.

In this order: upload the manifest (the run folder's completeness marker, so it is the folder's last file),
point ``latest.json`` at the run (unless ``promote`` is false), mark the run complete in the catalog, drop
its large scratch files, apply the retention, and publish the Prefect artifacts (UI links only: a failure
there is a warning, the run is already complete).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tasks.core.reporting import sort_themes
from tasks.core.reporting.artifacts import ARTIFACT_KEYS, theme_summary_markdown, theme_summary_table
from tasks.infra.catalog import open_catalog
from tasks.infra.outputs import (
    MANIFEST_NAME,
    discard_run,
    json_bytes,
    latest_run_id,
    promote_run,
    prune_runs,
    run_prefix,
)
from tasks.infra.params import FinishParams
from tasks.infra.runs import RunRef, utc_now
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.infra.storage import Storage, open_storage


def complete_manifest(draft: dict, finished_at: str, seconds: Mapping[str, float]) -> dict:
    """The draft manifest with its finish time and the publish and report stages' seconds."""
    manifest = dict(draft, finished_at=finished_at)
    timings = {k: v for k, v in draft["timings"].items() if k != "total"}
    timings.update(seconds)
    timings["total"] = round(sum(timings.values()), 3)
    manifest["timings"] = timings
    return manifest


def mark_complete(settings: Settings, run_id: str, manifest: dict, finished_at: str) -> None:
    """Mark the run complete in the catalog, with its counts and output folder."""
    with open_catalog(settings.catalog_path) as catalog:
        catalog.run("update_run_finished", {"run_id": run_id, "finished_at": finished_at.rstrip("Z"),
                                            "counts": json.dumps(manifest["counts"]),
                                            "output_prefix": run_prefix(run_id)})


def publish_artifacts(manifest: dict, themes: list[dict], report_url: str) -> None:
    """Publish the report link, a theme summary and a theme table as artifacts of the current flow run."""
    # Prefect costs ~1 s to import: only a flow run (which has imported it already) gets here.
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    run_id = manifest["run_id"]
    create_link_artifact(link=report_url, link_text=f"themesift report {run_id}", key=ARTIFACT_KEYS["link"],
                         description=f"The HTML report of run {run_id} (one file, opens offline).")
    create_markdown_artifact(markdown=theme_summary_markdown(manifest, themes, report_url),
                             key=ARTIFACT_KEYS["markdown"], description=f"Theme summary of run {run_id}.")
    create_table_artifact(table=theme_summary_table(themes), key=ARTIFACT_KEYS["table"],
                          description=f"Every theme of run {run_id}, largest first.")


def close_run(run: RunRef, settings: Settings, params: FinishParams, storage: Storage,
              seconds: Mapping[str, float]) -> tuple[dict, list[str]]:
    """Write the manifest last, promote, mark complete, tidy; return the manifest and the pruned run ids."""
    finished = utc_now()
    manifest = complete_manifest(json.loads(run.manifest_path.read_text(encoding="utf-8")), finished, seconds)
    storage.put(run_prefix(run.run_id) + MANIFEST_NAME, json_bytes(manifest))
    if params.promote:
        promote_run(storage, run.run_id, finished)
    mark_complete(settings, run.run_id, manifest, finished)
    run.drop_large_files()
    latest = run.run_id if params.promote else run.previous_run_id
    return manifest, prune_runs(settings, storage, params.keep_runs, latest)


def fail_run(run: RunRef, settings: Settings) -> None:
    """After a stage failed: mark the run ``failed`` at once and remove what it had published, so no half run
    lingers until the next one. Best effort: whatever cannot be tidied now, the next run's start does."""
    log = stage_logger()
    try:
        output = open_storage(settings.output_url, settings=settings)
        with open_catalog(settings.catalog_path) as catalog:
            if discard_run(catalog, output, settings.state_dir, run.run_id, latest_run_id(output), "failed"):
                log.warning(f"run {run.run_id} failed: marked failed and its partial outputs removed")
    except Exception as exc:  # noqa: BLE001 - the run's own error is the one to report; the next start tidies up
        log.warning(f"run {run.run_id} failed and could not be tidied up now ({exc}); the next run will")


def run_result(run: RunRef, manifest: dict, report_url: str, output_url: str, seconds: float) -> dict[str, Any]:
    """What the flow returns: the run id, where its report is, and its headline counts."""
    counts = manifest["counts"]
    return {"run_id": run.run_id, "report_url": report_url, "output_url": output_url,
            "themes": counts["themes"], "subthemes": counts["subthemes"], "chunks": counts["chunks"],
            "noise_pct": manifest["noise_pct"], "skipped": counts["objects_skipped"] + counts["records_skipped"],
            "seconds": seconds}


@stage_task(name="finish")
def finish_task(run: RunRef, settings: Settings, params: FinishParams, published: dict, reported: dict) -> dict:
    """Upload the manifest (last), promote the run, mark it complete, tidy up, publish the artifacts."""
    log = stage_logger()
    with stopwatch() as timing:
        storage = open_storage(settings.output_url, create=True, settings=settings)
        seconds = {"publish": published["seconds"], "report": reported["seconds"]}
        manifest, pruned = close_run(run, settings, params, storage, seconds)
    if pruned:
        log.info(f"finish: retention keeps {params.keep_runs} runs; deleted {len(pruned)} older: {', '.join(pruned)}")
    themes = sort_themes(json.loads(run.themes_path.read_text(encoding="utf-8")))
    try:
        publish_artifacts(manifest, themes, reported["report_url"])
    except Exception as exc:  # noqa: BLE001 - the run is complete and promoted; artifacts are only UI links
        log.warning(f"finish: could not publish Prefect artifacts ({exc}); the report is at {reported['report_url']}")
    return run_result(run, manifest, reported["report_url"], storage.url, timing["seconds"])
