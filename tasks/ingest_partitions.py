"""The ingest stage fanned out: the objects to read, in partitions, decoded by mapped Prefect tasks on Dask.

With the Dask task runner (``THEMESIFT_DASK_ADDRESS`` or ``THEMESIFT_DASK_WORKERS``, `tasks.fan_out`)
the ingest stage becomes: the plan (list the bucket, compare with the catalog: `tasks.ingest.plan_ingest`),
one `decode_partition` task per partition of objects to read (at most `PARTITION_OBJECTS` objects and
`PARTITION_BYTES` of listed size), and the flow process committing each returned partition to the catalog
in one transaction, as the single-process path commits its groups. Workers read the objects from the bucket
themselves (S3, or a folder they share) and return the decoded documents and skips; they never touch the
catalog. A worker killed mid-partition loses that partition only (Dask runs it again elsewhere); a killed flow
resumes from the objects already committed, since an object committed is unchanged at the next listing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from tasks.core.decode import Decoded, DecodeOptions
from tasks.fan_out import completed_partitions
from tasks.infra.catalog import open_catalog
from tasks.infra.params import IngestParams
from tasks.infra.progress import stage_progress
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stopwatch
from tasks.infra.storage import ObjectInfo, Storage, open_storage
from tasks.ingest import (
    close_ingest,
    commit_groups,
    commit_objects,
    excluded_prefix,
    new_counts,
    plan_ingest,
    read_and_decode,
    summary_line,
)

#: A partition holds at most this many objects ...
PARTITION_OBJECTS = 256
#: ... and at most this many bytes (listed sizes), so one large object does not hold many small ones back.
PARTITION_BYTES = 16 * 1024 * 1024

#: One bucket client per URL in each worker process, opened by its first partition.
_STORAGES: dict[str, Storage] = {}
_OPENING = threading.Lock()


def worker_storage(settings: Settings) -> Storage:
    """This process's client for the settings' bucket (opened once, then kept)."""
    with _OPENING:
        if settings.bucket_url not in _STORAGES:
            _STORAGES[settings.bucket_url] = open_storage(settings.bucket_url, settings=settings)
        return _STORAGES[settings.bucket_url]


def decode_partition(infos: Sequence[ObjectInfo], settings: Settings, options: DecodeOptions,
                     max_mb: float) -> list[tuple[str | None, Decoded]]:
    """Read and decode one partition's objects on a worker: (content hash, decoded) per object, in order.
    Every problem with an object is its own whole-object skip, as in the single-process path."""
    storage = worker_storage(settings)
    return [read_and_decode(storage, info, options, max_mb) for info in infos]


def ingest_fanned_out(run: RunRef, settings: Settings, params: IngestParams) -> dict:
    """The ingest stage on the flow's task runner (Dask): plan, map the partitions, commit each partition as it
    returns, then the same record as `tasks.ingest.ingest_task`. Called from the flow body."""
    log = stage_logger()
    with stopwatch() as timing:
        storage = open_storage(settings.bucket_url, settings=settings)
        with open_catalog(settings.catalog_path) as catalog:
            plan = plan_ingest(storage, catalog, params, excluded_prefix(settings, log))
            infos = plan.infos()
            cuts = commit_groups(infos, max_objects=PARTITION_OBJECTS, max_bytes=PARTITION_BYTES)
            log.info(f"ingest: {len(infos):,} objects to read in {len(cuts):,} partitions on the Dask task runner")
            progress = stage_progress("ingest", log, "objects")
            progress(0, len(infos))
            counts, done = new_counts(), 0
            rows = {row[0]: row for row in plan.to_read}  # the plan's catalog row of each object, by key
            parts = [[infos[i] for i in cut] for cut in cuts]
            for part, decoded_part in completed_partitions(decode_partition, "ingest-partition", parts, settings,
                                                           plan.options, params.max_object_mb):
                results = [(rows[info.key], digest, decoded)
                           for info, (digest, decoded) in zip(part, decoded_part, strict=True)]
                commit_objects(catalog, run.run_id, results, plan.options, counts)  # one transaction
                done += len(part)
                progress(done, len(infos))
            summary = close_ingest(catalog, run.run_id, params, plan, counts)
    log.info(summary_line(summary))
    return {**summary.as_dict(), "seconds": timing["seconds"]}
