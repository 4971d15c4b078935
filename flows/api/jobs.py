"""The API's job queue: every clustering request is a flow run of the ``recluster/adhoc`` deployment.

The flow run's id is the ``task_id``; its Prefect state gives the status; its parameters hold everything
the API needs later (the bucket, where the run publishes, the run id it publishes under), so the API keeps
no database of its own. Flow runs the API created carry the `API_TAG` tag: any other id is "not ours".
Each bucket gets its own state folder and output folder (``<state>/api/<slug>``, ``<output>/api/<slug>``),
so configurations over one bucket share its embeddings and graphs, and buckets never mix in one catalog.
Runs wait their turn on the work pool, whose concurrency limit is 1 (`flows.api.server`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling

from flows.api.schemas import JobStatus
from flows.api.security import bucket_slug
from tasks.infra.params import RunParams
from tasks.infra.runs import new_run_id
from tasks.infra.settings import Settings

API_TAG = "themesift-api"
BUCKET_TAG = "bucket:"
KIND_TAG = "kind:"
DEPLOYMENTS = {"clusters": "recluster/adhoc", "embeddings": "embed/adhoc"}
STATUS_OF_STATE: dict[StateType, JobStatus] = {
    StateType.SCHEDULED: "pending", StateType.PAUSED: "pending", StateType.PENDING: "starting",
    StateType.RUNNING: "running", StateType.COMPLETED: "completed", StateType.FAILED: "failed",
    StateType.CRASHED: "failed", StateType.CANCELLED: "failed", StateType.CANCELLING: "failed",
}
#: How long a DELETE waits for a started run to be cancelled before deleting its record anyway.
CANCEL_WAIT_S = 20.0
TERMINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


@dataclass(frozen=True)
class Job:
    """What the API shows of one flow run."""

    task_id: str
    status: JobStatus
    bucket: str
    created_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    output_url: str | None = None
    state_dir: str | None = None
    error: str | None = None
    terminal: bool = False


def job_status(state_type: StateType | None) -> JobStatus:
    """Telnyx's status for a Prefect state type (no state yet: ``pending``)."""
    return STATUS_OF_STATE.get(state_type, "pending") if state_type is not None else "pending"


def job_from_flow_run(run: FlowRun) -> Job:
    """The API's view of a flow run it created."""
    state_type = run.state.type if run.state else None
    parameters = run.parameters or {}
    params = parameters.get("params") or {}
    bucket = next((t[len(BUCKET_TAG):] for t in run.tags if t.startswith(BUCKET_TAG)), parameters.get("bucket_url"))
    error = None
    if state_type is not None and job_status(state_type) == "failed":
        error = (run.state.message or run.state.name or "failed").strip()
    return Job(task_id=str(run.id), status=job_status(state_type), bucket=bucket or "",
               created_at=run.created, finished_at=run.end_time if state_type in TERMINAL else None,
               params=params, run_id=parameters.get("run_id"), output_url=parameters.get("output_url"),
               state_dir=parameters.get("state_dir"), error=error, terminal=state_type in TERMINAL)


def absolute_url(url: str) -> str:
    """A storage URL with a local folder made absolute (the worker's flow runs start in another folder)."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        raw = url[len("file://"):] if url.startswith("file://") else url
        return f"file://{Path(raw).expanduser().resolve()}"
    return url.rstrip("/")


def bucket_locations(settings: Settings, bucket_url: str) -> tuple[str, str]:
    """The state folder and output URL of one bucket's API runs."""
    slug = bucket_slug(bucket_url)
    state_dir = (settings.state_dir / "api" / slug).expanduser().resolve()
    return str(state_dir), f"{absolute_url(settings.output_url)}/api/{slug}"


def parse_task_id(task_id: str) -> UUID | None:
    """The flow run id a ``task_id`` names, or None when it is not a UUID."""
    try:
        return UUID(task_id)
    except (ValueError, TypeError, AttributeError):
        return None


class JobQueue:
    """Creates, reads, lists and deletes the API's flow runs of one kind (``clusters``: the recluster flow,
    ``embeddings``: the embed flow) through one Prefect client."""

    def __init__(self, client: PrefectClient, settings: Settings, kind: str = "clusters") -> None:
        self.client = client
        self.settings = settings
        self.kind = kind
        self.deployment = DEPLOYMENTS[kind]
        self.tags = [API_TAG, KIND_TAG + kind]
        # One flow-run creation at a time from this process: a Prefect server on SQLite answers concurrent writes
        # with "database is locked" and the clients' retries back off for seconds (20 POSTs at once took 31 s).
        self._creating = asyncio.Lock()
        self._deployment_id: UUID | None = None
        self._finished: dict[str, Job] = {}  # terminal jobs never change (until deleted through us)

    async def deployment_id(self) -> UUID:
        """The id of the deployment API runs are made from (looked up once)."""
        if self._deployment_id is None:
            self._deployment_id = (await self.client.read_deployment_by_name(self.deployment)).id
        return self._deployment_id

    async def submit(self, bucket: str, bucket_url: str, params: RunParams) -> str:
        """Queue a run of ``params`` over ``bucket_url``; returns the task id."""
        state_dir, output_url = bucket_locations(self.settings, bucket_url)
        parameters = {"params": params.model_dump(mode="json"), "bucket_url": bucket_url,
                      "output_url": output_url, "state_dir": state_dir, "run_id": new_run_id()}
        deployment_id = await self.deployment_id()
        async with self._creating:
            run = await self.client.create_flow_run_from_deployment(
                deployment_id, parameters=parameters, tags=[*self.tags, BUCKET_TAG + bucket])
        return str(run.id)

    async def get(self, task_id: str) -> Job | None:
        """The job, or None when the id is not a flow run the API created."""
        if task_id in self._finished:
            return self._finished[task_id]
        flow_run_id = parse_task_id(task_id)
        if flow_run_id is None:
            return None
        try:
            run = await self.client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            return None
        if not set(self.tags) <= set(run.tags):
            return None
        job = job_from_flow_run(run)
        if job.terminal:
            self._finished[job.task_id] = job
        return job

    async def page(self, number: int, size: int) -> tuple[list[Job], int]:
        """One page of the API's jobs, newest first, and how many there are in all."""
        filters: dict[str, Any] = {
            "flow_run_filter": FlowRunFilter(tags=FlowRunFilterTags(all_=self.tags)),
            "deployment_filter": DeploymentFilter(id=DeploymentFilterId(any_=[await self.deployment_id()])),
        }
        total = await self.client.count_flow_runs(**filters)
        runs = await self.client.read_flow_runs(**filters, sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                                                limit=size, offset=number * size)
        return [job_from_flow_run(run) for run in runs], total

    async def completed_buckets(self, limit: int = 200) -> list[str]:
        """The buckets with a completed job of this kind (among the newest ``limit`` jobs: Prefect's page limit is
        200), sorted by name."""
        runs = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=self.tags),
                                          state=FlowRunFilterState(type=FlowRunFilterStateType(
                                              any_=[StateType.COMPLETED]))),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[await self.deployment_id()])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
        return sorted({job_from_flow_run(run).bucket for run in runs})

    async def delete(self, job: Job) -> None:
        """Stop the job's flow run if it has started (waiting a while for the worker to end it, so it cannot
        publish after its outputs are deleted), then delete it from Prefect."""
        flow_run_id = UUID(job.task_id)
        if job.status in ("starting", "running"):
            await self.cancel(flow_run_id)
        self._finished.pop(job.task_id, None)
        try:
            await self.client.delete_flow_run(flow_run_id)
        except ObjectNotFound:
            pass

    async def cancel(self, flow_run_id: UUID, wait_s: float = CANCEL_WAIT_S) -> None:
        """Ask the worker to cancel a started flow run; return once it is over or ``wait_s`` has passed."""
        try:
            await self.client.set_flow_run_state(flow_run_id, Cancelling(message="deleted through the API"),
                                                 force=True)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                run = await self.client.read_flow_run(flow_run_id)
                if run.state is None or run.state.type in TERMINAL:
                    return
                await asyncio.sleep(0.5)
        except ObjectNotFound:
            return
