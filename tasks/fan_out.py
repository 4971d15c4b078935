"""What the fanned-out stages share: whether a run fans out, the Dask task runner, and mapping a stage's
partition function over its partitions as Prefect tasks.

With ``THEMESIFT_DASK_ADDRESS`` (a running scheduler) or ``THEMESIFT_DASK_WORKERS`` (a local cluster) the
flows run on Prefect's ``DaskTaskRunner`` (prefect-dask) and the ingest, chunk and embed stages map their
partitions (`tasks.ingest_partitions`, `tasks.chunk_partitions`, `tasks.embed_partitions`); the flow process
commits each partition's result as it comes back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tasks.infra.errors import ConfigError
from tasks.infra.settings import Settings, load_settings

SCHEMES = ("tcp://", "tls://", "inproc://", "ws://", "wss://", "ucx://")


def fans_out(settings: Settings) -> bool:
    """Whether the settings ask for Dask (a scheduler address or a local cluster size)."""
    return bool(settings.dask_address or settings.dask_workers)


def dask_task_runner(settings: Settings) -> Any:
    """Prefect's ``DaskTaskRunner`` for the settings (an existing scheduler, or a local cluster of
    ``dask_workers`` single-threaded processes); None when Dask is not asked for."""
    if not fans_out(settings):
        return None
    if settings.dask_address and not settings.dask_address.startswith(SCHEMES):
        raise ConfigError(f"THEMESIFT_DASK_ADDRESS {settings.dask_address!r} is not a Dask scheduler address; "
                          "use tcp://host:8786")
    # prefect-dask brings dask and distributed (~1 s to import): only deployments that fan out pay it.
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


def declared_task_runner() -> Any:
    """The task runner a deployment's worker gets: Dask when its environment names a scheduler or a local
    cluster size (the CLI picks per run with `flows.recluster.recluster_flow`); Prefect's default otherwise."""
    if not (os.environ.get("THEMESIFT_DASK_ADDRESS") or os.environ.get("THEMESIFT_DASK_WORKERS", "0") != "0"):
        return None
    return dask_task_runner(load_settings())


def completed_partitions(fn: Callable[..., Any], name: str, partitions: Sequence[Any],
                         *shared: Any) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(partition, *shared)`` for every partition as mapped Prefect tasks on the flow's task runner;
    yield (partition, result) as each completes. ``fn`` must be a module-level function: Dask pickles it by
    name. Called from a flow body."""
    # Only flows that fan out get here, inside a Prefect flow run: Prefect is imported already.
    from prefect import task
    from prefect.cache_policies import NO_CACHE
    from prefect.futures import as_completed
    from prefect.utilities.annotations import unmapped

    if not partitions:
        return
    mapped = task(fn, name=name, cache_policy=NO_CACHE, persist_result=False, retries=2)
    futures = mapped.map(list(partitions), *(unmapped(value) for value in shared))
    by_run = {future.task_run_id: part for future, part in zip(futures, partitions, strict=True)}
    for future in as_completed(futures):
        yield by_run[future.task_run_id], future.result()
