"""The recluster flow: bucket in, themes, subthemes and a report out.

start → ingest → chunk → embed → steer → knn → cluster → phrases → curate → project → summarize → lineage → publish →
report → finish.
The flow only wires the stage tasks; each stage reads and writes the catalog, the embedding cache and the
run's scratch folder itself, gets only the parameters it reads (`RunParams.view`), and hands the next one a
small record (counts, seconds). Deployments: ``recluster/nightly`` (cron, UTC) and ``recluster/adhoc`` in
``prefect.yaml``.
"""

from __future__ import annotations

from prefect import flow

from tasks.chunk import chunk_task
from tasks.chunk_partitions import chunk_fanned_out
from tasks.cluster import cluster_task
from tasks.curate import curate_task
from tasks.embed import embed_task
from tasks.embed_partitions import embed_fanned_out
from tasks.fan_out import dask_task_runner, declared_task_runner, fans_out
from tasks.finish import fail_run, finish_task
from tasks.infra.params import (
    ChunkParams,
    ClusterParams,
    FinishParams,
    GraphParams,
    IngestParams,
    LayoutParams,
    LineageParams,
    PhraseParams,
    RunParams,
    SteerParams,
    SummaryParams,
)
from tasks.infra.runs import run_lock
from tasks.infra.settings import Settings
from tasks.ingest import ingest_task
from tasks.ingest_partitions import ingest_fanned_out
from tasks.knn import knn_task
from tasks.lineage import lineage_task
from tasks.phrases import phrases_task
from tasks.project import project_task
from tasks.publish import publish_task
from tasks.report import report_task
from tasks.start import prepare_run, start_run_task
from tasks.steer import steer_task
from tasks.summarize import summarize_task


@flow(name="recluster", log_prints=False, validate_parameters=True, task_runner=declared_task_runner())
def recluster(params: RunParams | None = None, bucket_url: str | None = None,
              output_url: str | None = None, state_dir: str | None = None, run_id: str | None = None) -> dict:
    """Re-cluster the whole current corpus of a bucket and publish a new run.

    Args:
        params: run knobs (see the README table); defaults when omitted.
        bucket_url: overrides ``THEMESIFT_BUCKET_URL`` for this run.
        output_url: overrides ``THEMESIFT_OUTPUT_URL`` for this run.
        state_dir: overrides ``THEMESIFT_STATE_DIR`` for this run (the HTTP API keeps one per bucket).
        run_id: the id to publish under (the HTTP API picks it when it queues the run); default: a new one.

    Returns:
        The finish stage's record: run id, output URLs and headline counts.
    """
    params, settings = prepare_run(params, bucket_url=bucket_url, output_url=output_url, state_dir=state_dir,
                                   run_id=run_id)
    with run_lock(settings.state_dir):
        run = start_run_task(settings, params, run_id)
        try:
            fanned_out = fans_out(settings)
            ingest, chunk = (ingest_fanned_out, chunk_fanned_out) if fanned_out else (ingest_task, chunk_task)
            stages = {"ingest": ingest(run, settings, params.view(IngestParams)),
                      "chunk": chunk(run, settings, params.view(ChunkParams))}
            stages["embed"] = embed_fanned_out(run, settings) if fanned_out else embed_task(run, settings)
            stages["steer"] = steer_task(run, settings, params.view(SteerParams))
            stages["knn"] = knn_task(run, settings, params.view(GraphParams))
            stages["cluster"] = cluster_task(run, settings, params.view(ClusterParams))
            stages["phrases"] = phrases_task(run, settings, params.view(PhraseParams))
            stages["curate"] = curate_task(run, settings, params.view(LineageParams))
            stages["project"] = project_task(run, params.view(LayoutParams))
            stages["summarize"] = summarize_task(run, settings, params.view(SummaryParams))
            stages["lineage"] = lineage_task(run, settings, params.view(LineageParams))
            published = publish_task(run, settings, params, stages)
            reported = report_task(run, settings)
            return finish_task(run, settings, params.view(FinishParams), published, reported)
        except Exception:
            fail_run(run, settings)  # marked failed and its partial folder removed now, not at the next start
            raise


def recluster_flow(settings: Settings):
    """The recluster flow on the task runner the settings ask for: Dask (`tasks.ingest_partitions`,
    `tasks.chunk_partitions`, `tasks.embed_partitions`) when ``THEMESIFT_DASK_ADDRESS`` or
    ``THEMESIFT_DASK_WORKERS`` is set, else as declared."""
    runner = dask_task_runner(settings)
    return recluster if runner is None else recluster.with_options(task_runner=runner)
