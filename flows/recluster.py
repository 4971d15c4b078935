"""The recluster flow: bucket in, themes, subthemes and a report out.

ingest → chunk → embed → knn → cluster → project → summarize → lineage → publish → report. The flow only wires the stage
tasks; each stage reads and writes the catalog, the embedding cache and the run's scratch folder itself
and hands the next one a small record (counts, seconds). Deployments: ``recluster/nightly`` (cron, UTC)
and ``recluster/adhoc`` in ``prefect.yaml``.
"""

from __future__ import annotations

from prefect import flow

from tasks.chunk import chunk_task
from tasks.cluster import cluster_task
from tasks.embed import embed_task
from tasks.ingest import ingest_task
from tasks.knn import knn_task
from tasks.lineage import lineage_task
from tasks.project import project_task
from tasks.publish import publish_task
from tasks.report import report_task
from tasks.runs import run_lock, start_run_task
from tasks.settings import RunParams, load_settings, validate_params
from tasks.summarize import summarize_task


@flow(name="recluster", log_prints=False, validate_parameters=True)
def recluster(params: RunParams | None = None, bucket_url: str | None = None,
              output_url: str | None = None) -> dict:
    """Re-cluster the whole current corpus of a bucket and publish a new run.

    Args:
        params: run knobs (see the README table); defaults when omitted.
        bucket_url: overrides ``THEMESIFT_BUCKET_URL`` for this run.
        output_url: overrides ``THEMESIFT_OUTPUT_URL`` for this run.

    Returns:
        The report stage's record: run id, output URLs and headline counts.
    """
    params = validate_params(params)
    settings = load_settings(bucket_url=bucket_url, output_url=output_url)
    with run_lock(settings.state_dir):
        run = start_run_task(settings, params)
        stages = {"ingest": ingest_task(run, settings, params), "chunk": chunk_task(run, settings, params)}
        stages["embed"] = embed_task(run, settings)
        stages["knn"] = knn_task(run, settings, params)
        stages["cluster"] = cluster_task(run, settings, params)
        stages["project"] = project_task(run, settings, params)
        stages["summarize"] = summarize_task(run, settings, params)
        stages["lineage"] = lineage_task(run, settings, params)
        stages["publish"] = publish_task(run, settings, params, stages)
        return report_task(run, settings, params, stages["publish"])
