"""The API's job queue: every clustering request is a flow run of the ``recluster/adhoc`` deployment.

A POST is accepted into a journal and answered at once (`flows.api.intake`); the flow run is made right after,
with the ``task_id`` as its idempotency key. Its Prefect state gives the status; its parameters hold everything
the API needs later (the bucket, where the run publishes, the run id it publishes under), so the API keeps no
database of its own. Flow runs the API created carry the `API_TAG` tag: any other id is "not ours".
Each bucket gets its own state folder and output folder (``<state>/api/<slug>``, ``<output>/api/<slug>``),
so configurations over one bucket share its embeddings and graphs, and buckets never mix in one catalog.
Runs wait their turn on the work pool, whose concurrency limit is 1 (`flows.api.server`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterIdempotencyKey,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.states import Cancelling

from flows.api.intake import Accepted, Intake, Refused
from flows.api.schemas import JobStatus
from flows.api.security import bucket_slug
from tasks.infra.params import RunParams
from tasks.infra.runs import new_run_id
from tasks.infra.settings import Settings
from tasks.infra.storage import absolute_url

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
    flow_run_id: str | None = None  # None while the request waits in the intake


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
    # The task id is the idempotency key the intake created the run with (runs made before the intake: the id)
    return Job(task_id=run.idempotency_key or str(run.id), status=job_status(state_type), bucket=bucket or "",
               created_at=run.created, finished_at=run.end_time if state_type in TERMINAL else None,
               params=params, run_id=parameters.get("run_id"), output_url=parameters.get("output_url"),
               state_dir=parameters.get("state_dir"), error=error, terminal=state_type in TERMINAL,
               flow_run_id=str(run.id))


def job_from_accepted(entry: Accepted) -> Job:
    """The API's view of a request whose flow run is not made yet (or was refused)."""
    parameters = entry.parameters
    return Job(task_id=entry.task_id, status="failed" if entry.refusal else "pending", bucket=entry.bucket,
               created_at=entry.accepted_at, finished_at=None, params=parameters.get("params") or {},
               run_id=parameters.get("run_id"), output_url=parameters.get("output_url"),
               state_dir=parameters.get("state_dir"), error=entry.refusal, terminal=entry.refusal is not None)


def bucket_locations(settings: Settings, bucket_url: str) -> tuple[str, str]:
    """The state folder and output URL of one bucket's API runs."""
    slug = bucket_slug(bucket_url)
    state_dir = (settings.state_dir / "api" / slug).expanduser().resolve()
    return str(state_dir), f"{absolute_url(settings.output_url)}/api/{slug}"


def parse_task_id(task_id: str) -> UUID | None:
    """The UUID a ``task_id`` holds, or None when it is not one."""
    try:
        return UUID(task_id)
    except (ValueError, TypeError, AttributeError):
        return None


#: Prefect's answers that say a flow run can never be created from the request (not that Prefect is away).
REFUSED_STATUSES = frozenset({400, 403, 409, 422})


class JobQueue:
    """Creates, reads, lists and deletes the API's flow runs of one kind (``clusters``: the recluster flow,
    ``embeddings``: the embed flow) through one Prefect client."""

    def __init__(self, client: PrefectClient, settings: Settings, kind: str = "clusters") -> None:
        self.client = client
        self.settings = settings
        self.kind = kind
        self.deployment = DEPLOYMENTS[kind]
        self.tags = [API_TAG, KIND_TAG + kind]
        # Flow runs are created one at a time, by the intake's task: a Prefect server on SQLite answers concurrent
        # writes with "database is locked" and the clients' retries back off for seconds.
        self.intake = Intake(settings.state_dir / "api" / "accepted" / kind, self._create)
        self._deployment_id: UUID | None = None
        self._finished: dict[str, Job] = {}  # terminal jobs never change (until deleted through us)

    def start(self) -> None:
        """Pick up the requests a previous process accepted and start making flow runs."""
        self.intake.start()

    async def stop(self) -> None:
        await self.intake.stop()

    async def deployment_id(self) -> UUID:
        """The id of the deployment API runs are made from (looked up once)."""
        if self._deployment_id is None:
            self._deployment_id = (await self.client.read_deployment_by_name(self.deployment)).id
        return self._deployment_id

    async def submit(self, bucket: str, bucket_url: str, params: RunParams, *,
                     locations: tuple[str, str] | None = None, tags: tuple[str, ...] = ()) -> str:
        """Accept a run of ``params`` over ``bucket_url`` (on disk when this returns); returns the task id. The run
        uses the bucket's state and output folders unless ``locations`` names others (a collection's)."""
        state_dir, output_url = locations or bucket_locations(self.settings, bucket_url)
        parameters = {"params": params.model_dump(mode="json"), "bucket_url": bucket_url,
                      "output_url": output_url, "state_dir": state_dir, "run_id": new_run_id()}
        entry = Accepted(task_id=str(uuid4()), bucket=bucket, parameters=parameters,
                         tags=[*self.tags, BUCKET_TAG + bucket, *tags], accepted_at=datetime.now(UTC))
        await asyncio.to_thread(self.intake.write, entry)  # the disk write off the loop; the queueing on it
        self.intake.enqueue(entry)
        return entry.task_id

    async def _create(self, entry: Accepted) -> None:
        """Make an accepted request's flow run (the intake calls this, one request at a time)."""
        try:
            run = await self.client.create_flow_run_from_deployment(
                await self.deployment_id(), parameters=entry.parameters, tags=entry.tags,
                idempotency_key=entry.task_id)
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code in REFUSED_STATUSES:
                raise Refused(f"Prefect refused the flow run: {exc.response.text[:300]}") from exc
            raise
        if entry.withdrawn:  # deleted while its flow run was being made
            await self.client.delete_flow_run(run.id)

    async def get(self, task_id: str) -> Job | None:
        """The job, or None when the id is not one of the API's tasks of this kind."""
        uuid = parse_task_id(task_id)
        if uuid is None:
            return None
        task_id = str(uuid)
        if task_id in self._finished:
            return self._finished[task_id]
        entry = self.intake.entries.get(task_id) or self.intake.refused.get(task_id)
        if entry is not None:
            return job_from_accepted(entry)
        runs = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=self.tags),
                                          idempotency_key=FlowRunFilterIdempotencyKey(any_=[task_id])),
            limit=1)
        run = runs[0] if runs else await self.legacy_run(uuid)
        if run is None:
            return None
        job = job_from_flow_run(run)
        if job.terminal:
            self._finished[job.task_id] = job
        return job

    async def legacy_run(self, flow_run_id: UUID) -> FlowRun | None:
        """A flow run the API made before the intake, whose task id is its own id."""
        try:
            run = await self.client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            return None
        return run if set(self.tags) <= set(run.tags) and run.idempotency_key is None else None

    async def page(self, number: int, size: int) -> tuple[list[Job], int]:
        """One page of the API's jobs, newest first (the requests still in the intake before the flow runs), and
        how many there are in all."""
        waiting = [job_from_accepted(e) for e in [*self.intake.refused.values(), *self.intake.entries.values()]]
        waiting.sort(key=lambda j: j.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        filters: dict[str, Any] = {
            "flow_run_filter": FlowRunFilter(tags=FlowRunFilterTags(all_=self.tags)),
            "deployment_filter": DeploymentFilter(id=DeploymentFilterId(any_=[await self.deployment_id()])),
        }
        total = await self.client.count_flow_runs(**filters)
        start = number * size
        shown = waiting[start:start + size]
        runs = []
        if len(shown) < size:
            runs = await self.client.read_flow_runs(**filters, sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                                                    limit=size - len(shown), offset=max(0, start - len(waiting)))
        listed = {j.task_id for j in shown}  # a request may have become a flow run between the two reads
        shown += [job for job in map(job_from_flow_run, runs) if job.task_id not in listed]
        return shown, total + len(waiting)

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
        publish after its outputs are deleted), then delete it from Prefect. A request still in the intake is
        taken out of it."""
        self._finished.pop(job.task_id, None)
        if job.flow_run_id is None:
            if self.intake.withdraw(job.task_id) is not None:
                return
            made = await self.get(job.task_id)  # its flow run was made since the job was read
            if made is None or made.flow_run_id is None:
                return
            job = made
        flow_run_id = UUID(job.flow_run_id)
        if job.status in ("starting", "running"):
            await self.cancel(flow_run_id)
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
