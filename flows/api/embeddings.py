"""The embedding routes Telnyx's tutorial calls before clustering, under ``/v2/ai/embeddings``.

- ``POST /v2/ai/embeddings``: queue the embed flow on an allowed bucket → a task (``queued``).
- ``GET /v2/ai/embeddings/{task_id}``: ``queued`` / ``processing`` / ``success`` / ``partial_success`` (some
  files or records skipped) / ``failure``.
- ``GET /v2/ai/embeddings/buckets``: the buckets with a finished embedding task.
- ``GET /v2/ai/embeddings/buckets/{bucket_name}``: each file's status and ``error_reason`` (from the skips).
- ``POST /v2/ai/embeddings/similarity-search``: the ``num_of_docs`` passages nearest to a query.
"""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations at runtime.

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from flows.api.buckets import allowed_bucket, served_bucket
from flows.api.errors import BODY_REFUSALS, NOT_FOUND, REFUSALS, ApiError
from flows.api.jobs import Job, JobQueue, bucket_locations
from flows.api.schemas import (
    BucketNames,
    BucketNamesEnvelope,
    EmbeddingRequest,
    EmbeddingStatus,
    EmbeddingTask,
    EmbeddingTaskEnvelope,
    FileStatusList,
    SearchHits,
    SimilaritySearchRequest,
)
from flows.api.search import SearchIndexes
from tasks.infra.settings import Settings

STATUS: dict[str, EmbeddingStatus] = {"pending": "queued", "starting": "queued", "running": "processing",
                                      "failed": "failure"}


def embedding_status(job: Job, outcome: dict[str, Any] | None) -> EmbeddingStatus:
    """Telnyx's embedding status: a completed task is ``partial_success`` when any file or record was skipped."""
    if job.status != "completed":
        return STATUS[job.status]
    if outcome and (outcome.get("files_failed") or outcome.get("files_with_skipped_records")):
        return "partial_success"
    return "success"


def embeddings_router(settings: Settings, guarded: list[Any]) -> APIRouter:
    """The embedding routes, behind the same key check as the rest (``guarded``)."""
    router = APIRouter(prefix="/v2/ai/embeddings", dependencies=guarded, tags=["embeddings"], responses=REFUSALS)

    def jobs(request: Request) -> JobQueue:
        return request.app.state.embed_jobs

    def search(request: Request) -> SearchIndexes:
        return request.app.state.search

    def task(job: Job, request: Request) -> EmbeddingTask:
        outcome = None
        if job.status == "completed" and job.state_dir and job.run_id:
            outcome = search(request).task_outcome(job.state_dir, job.run_id)
        return EmbeddingTask(task_id=job.task_id, status=embedding_status(job, outcome), created_at=job.created_at,
                             finished_at=job.finished_at, bucket=job.bucket, error=job.error)

    @router.post("", response_model=EmbeddingTaskEnvelope, responses={**BODY_REFUSALS, **NOT_FOUND})
    async def embed_bucket(body: EmbeddingRequest, request: Request) -> EmbeddingTaskEnvelope:
        """Read, chunk and embed a bucket's files and make them searchable; poll the task for its status."""
        if body.embedding_model not in (None, settings.model):
            raise ApiError(422, f"this deployment embeds with {settings.model}; leave embedding_model out")
        bucket_url = await served_bucket(body.bucket_name, settings)
        task_id = await jobs(request).submit(body.bucket_name, bucket_url, body.run_params())
        job = await jobs(request).get(task_id)
        return EmbeddingTaskEnvelope(data=task(job, request))

    @router.get("/buckets", response_model=BucketNamesEnvelope)
    async def embedded_buckets(request: Request) -> BucketNamesEnvelope:
        """The buckets an embedding task finished on."""
        return BucketNamesEnvelope(data=BucketNames(buckets=await jobs(request).completed_buckets()))

    @router.get("/buckets/{bucket_name}", response_model=FileStatusList, responses=NOT_FOUND)
    async def bucket_files(bucket_name: Annotated[str, Path()], request: Request) -> FileStatusList:
        """Each file of an embedded bucket with its status and, for a skipped one, why."""
        state_dir, _ = bucket_locations(settings, allowed_bucket(bucket_name, settings))
        files = await run_in_threadpool(search(request).files, state_dir)
        if files is None:
            raise ApiError(404, "bucket not embedded")
        return FileStatusList.model_validate({"data": files})

    @router.post("/similarity-search", response_model=SearchHits, responses={**BODY_REFUSALS, **NOT_FOUND})
    async def similarity_search(body: SimilaritySearchRequest, request: Request) -> SearchHits:
        """The passages of an embedded bucket nearest in meaning to ``query``, nearest first."""
        state_dir, _ = bucket_locations(settings, allowed_bucket(body.bucket_name, settings))
        hits = await run_in_threadpool(search(request).search, state_dir, body.query, body.num_of_docs)
        if hits is None:
            raise ApiError(404, "bucket not embedded")
        return SearchHits.model_validate({"data": hits})

    @router.get("/{task_id}", response_model=EmbeddingTaskEnvelope, responses=NOT_FOUND)
    async def embedding_task(task_id: Annotated[str, Path()], request: Request) -> EmbeddingTaskEnvelope:
        """An embedding task's status."""
        job = await jobs(request).get(task_id)
        if job is None:
            raise ApiError(404, "no such task")
        return EmbeddingTaskEnvelope(data=task(job, request))

    return router
