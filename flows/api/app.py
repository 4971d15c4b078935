"""The FastAPI application: Telnyx Clusters' routes, bearer keys, bounded requests.

Routes (all but ``/health`` need ``Authorization: Bearer <key>``):

- ``POST /v2/ai/clusters``: queue a clustering of an allowed bucket → ``{"data": {"task_id"}}`` (200), at once:
  the request is journalled and its flow run made right after (`flows.api.intake`).
- ``GET /v2/ai/clusters``: the jobs, newest first, ``page[number]`` (from 0) and ``page[size]``.
- ``GET /v2/ai/clusters/{task_id}``: status and, once completed, the clusters (``top_n_nodes``,
  ``show_subclusters``).
- ``GET /v2/ai/clusters/{task_id}/graph``: the run's ``graph.png`` or one theme's (``cluster_id``).
- ``DELETE /v2/ai/clusters/{task_id}``: the job and its outputs (its bucket's embeddings stay) → 204.

Refusals are ``{"errors": [{"code", "title", "detail"}]}`` except FastAPI's own 422 ``detail[]``. The key and
the body size are checked by `Gatekeeper` before anything is parsed, so an unauthenticated request learns
nothing (not even whether its body was valid); a ``task_id`` that is not one of ours is 404 whatever it holds.
"""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations at runtime.

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import PrefectHTTPStatusError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.api.buckets import served_bucket
from flows.api.collections import collections_router
from flows.api.curation import curation_router
from flows.api.embeddings import embeddings_router
from flows.api.errors import BODY_REFUSALS, NOT_FOUND, REFUSALS, ApiError, error_response
from flows.api.finding import finding_router
from flows.api.jobs import Job, JobQueue, bucket_locations
from flows.api.results import ResponseCache, RunOutputs, shape_clusters
from flows.api.schemas import (
    MAX_PAGE_SIZE,
    ClusterRequest,
    ClusterResult,
    ClusterResultEnvelope,
    ErrorBody,
    Health,
    PageMeta,
    TaskCreated,
    TaskId,
    TaskList,
    TaskSummary,
)
from flows.api.search import SearchIndexes
from flows.api.security import key_matches
from tasks.infra.settings import Settings

#: Largest request body accepted (a request names a bucket and parameters; a long ``files`` list fits).
MAX_BODY_BYTES = 1 << 20
#: Paths open without a key: the health check, and the API's description (the schema, no data).
PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


def create_app(settings: Settings, prefect_api_url: str, key_hashes: list[str]) -> FastAPI:
    """The API for one deployment: its settings, the Prefect API its jobs run on, the accepted key digests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Prefect's client is the API's only way to its jobs: one per process, opened with the app.
        async with PrefectClient(api=prefect_api_url) as client:
            queues = app.state.jobs, app.state.embed_jobs = (JobQueue(client, settings, "clusters"),
                                                             JobQueue(client, settings, "embeddings"))
            for queue in queues:
                queue.start()
            try:
                yield
            finally:
                for queue in queues:
                    await queue.stop()

    app = FastAPI(title="themesift", version="1", lifespan=lifespan,
                  description="Theme discovery over a bucket of text, in Telnyx Inference Clusters' routes.")
    app.state.outputs = RunOutputs(settings)
    app.state.responses = ResponseCache()
    app.state.search = SearchIndexes(settings)

    async def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
        if not key_matches(header, key_hashes):
            raise ApiError(401, "a valid API key is required: Authorization: Bearer <key>")

    def jobs(request: Request) -> JobQueue:
        return request.app.state.jobs

    async def own_job(task_id: Annotated[str, Path()], request: Request) -> Job:
        job = await jobs(request).get(task_id)
        if job is None:
            raise ApiError(404, "no such task")
        return job

    install_error_handlers(app)
    app.add_middleware(Gatekeeper, key_hashes=key_hashes)

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:
        """Liveness: answers without a key and says nothing about the data."""
        return Health(status="ok")

    guarded = [Depends(authorised)]

    @app.post("/v2/ai/clusters", status_code=200, response_model=TaskCreated, dependencies=guarded,
              responses={**REFUSALS, **BODY_REFUSALS, 404: {"model": ErrorBody, "description": "No such bucket here."}},
              tags=["clusters"])
    async def create_clusters(body: ClusterRequest, request: Request) -> TaskCreated:
        """Queue a clustering of a bucket (or its ``prefix`` / ``files``); poll the returned ``task_id``."""
        bucket_url = await served_bucket(body.bucket, settings)
        params = body.run_params()
        chunking = ("chunk_unit", "chunk_size", "chunk_overlap")
        embedded = request.app.state.search.meta(bucket_locations(settings, bucket_url)[0])
        if embedded and not body.model_fields_set & set(chunking):
            # Cluster what was embedded: the bucket's embedding task chose the chunking (Telnyx's order of calls).
            params = params.model_copy(update={k: embedded[k] for k in chunking})
        task_id = await jobs(request).submit(body.bucket, bucket_url, params)
        return TaskCreated(data=TaskId(task_id=task_id))

    @app.get("/v2/ai/clusters", response_model=TaskList, dependencies=guarded, responses=REFUSALS, tags=["clusters"])
    async def list_clusters(request: Request,
                            page_number: Annotated[int, Query(alias="page[number]", ge=0, le=1_000_000)] = 0,
                            page_size: Annotated[int, Query(alias="page[size]", ge=1, le=MAX_PAGE_SIZE)] = 20,
                            ) -> TaskList:
        """The clustering jobs, newest first."""
        found, total = await jobs(request).page(page_number, page_size)
        meta = PageMeta(total_pages=math.ceil(total / page_size), total_results=total, page_number=page_number,
                        page_size=page_size)
        return TaskList(data=[task_summary(j) for j in found], meta=meta)

    @app.get("/v2/ai/clusters/{task_id}", response_model=ClusterResultEnvelope, dependencies=guarded,
             responses={**REFUSALS, **NOT_FOUND}, tags=["clusters"])
    async def fetch_clusters(job: Annotated[Job, Depends(own_job)], request: Request,
                             top_n_nodes: Annotated[int, Query(ge=0, le=100)] = 0,
                             show_subclusters: bool = False) -> Response:
        """A job's status and, once completed, its clusters with their ``top_n_nodes`` most central passages."""
        key = (job.task_id, top_n_nodes, show_subclusters)
        cached = request.app.state.responses.get(key) if job.terminal else None
        if cached is not None:
            return Response(cached, media_type="application/json")
        result: dict[str, Any] = {"status": job.status, "bucket": job.bucket, "clusters": [], "run_id": job.run_id,
                                  "error": job.error}
        if job.status == "completed":
            themes = await run_in_threadpool(request.app.state.outputs.themes, job.output_url, job.run_id)
            if themes is None:
                raise ApiError(404, "the task's outputs are gone")
            result["clusters"] = shape_clusters(themes, top_n_nodes, show_subclusters)
            result["total_number_of_nodes"] = themes.get("total_number_of_nodes")
        body = ClusterResultEnvelope(data=ClusterResult.model_validate(result)).model_dump_json().encode("utf-8")
        if job.terminal:
            request.app.state.responses.put(key, body)
        return Response(body, media_type="application/json")

    @app.get("/v2/ai/clusters/{task_id}/graph", dependencies=guarded, response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "The map as a PNG."},
                        **REFUSALS, **NOT_FOUND}, tags=["clusters"])
    async def cluster_graph(job: Annotated[Job, Depends(own_job)], request: Request,
                            cluster_id: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        """The run's map (``graph.png``), or one theme's (``cluster_id``), as ``image/png``."""
        png = None
        if job.status == "completed":
            png = await run_in_threadpool(request.app.state.outputs.graph_png, job.output_url, job.run_id,
                                          cluster_id)
        if png is None:
            raise ApiError(404, "no graph for this task" + (" and cluster" if cluster_id is not None else ""))
        return Response(png, media_type="image/png")

    @app.delete("/v2/ai/clusters/{task_id}", status_code=204, response_class=Response, dependencies=guarded,
                responses={**REFUSALS, **NOT_FOUND}, tags=["clusters"])
    async def delete_clusters(job: Annotated[Job, Depends(own_job)], request: Request) -> Response:
        """Delete the job and its published outputs; the bucket's embeddings stay for the next configuration."""
        await jobs(request).delete(job)
        request.app.state.responses.drop(job.task_id)
        if job.output_url and job.run_id:
            await run_in_threadpool(request.app.state.outputs.delete, job.output_url, job.run_id)
        return Response(status_code=204)

    app.include_router(embeddings_router(settings, guarded))
    app.include_router(collections_router(settings, guarded))
    app.include_router(finding_router(settings, guarded))
    app.include_router(curation_router(settings, guarded))
    return app


def task_summary(job: Job) -> TaskSummary:
    """A job as the list shows it."""
    return TaskSummary(task_id=job.task_id, status=job.status, bucket=job.bucket, created_at=job.created_at,
                       finished_at=job.finished_at, min_cluster_size=job.params.get("min_cluster_size"),
                       min_subcluster_size=job.params.get("min_subcluster_size"))


def install_error_handlers(app: FastAPI) -> None:
    """Our refusals and Starlette's (unknown route, wrong method) in the ``errors`` shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the first route's methods; a path may have several
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return error_response(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, except that an `Infinity` or `NaN` the client sent is echoed as text: strict JSON
        # (which the response is) has no such numbers, and FastAPI's default handler fails on them with a 500.
        return JSONResponse({"detail": finite(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(PrefectHTTPStatusError)
    @app.exception_handler(httpx.HTTPError)
    async def queue_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The Prefect client has already retried (PREFECT_CLIENT_RETRY_EXTRA_CODES); say so instead of a 500,
        # and keep the cause in the server's log for the operator.
        logging.getLogger("themesift.api").warning(f"job queue error on {request.url.path}: {exc!r:.500}")
        return error_response(503, "the job queue did not answer; retry shortly")


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its text (``"inf"``, ``"nan"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (for a 405's ``Allow`` header)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods - {"HEAD"})


class BodyTooLarge(StarletteHTTPException):
    """A request body went over `MAX_BODY_BYTES` while it streamed in."""

    def __init__(self) -> None:
        super().__init__(413, f"request bodies are limited to {MAX_BODY_BYTES} bytes")


class Gatekeeper:
    """ASGI middleware run before any routing or parsing: refuses a request without a valid key (401) unless it
    is for a public path, and a body over `MAX_BODY_BYTES` (413, by its declared length or as it streams)."""

    def __init__(self, app: ASGIApp, key_hashes: list[str]) -> None:
        self.app = app
        self.key_hashes = key_hashes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = None
        if scope["path"] not in PUBLIC_PATHS and not key_matches(headers.get("authorization"), self.key_hashes):
            refusal = error_response(401, "a valid API key is required: Authorization: Bearer <key>")
        declared = headers.get("content-length")
        if refusal is None and declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            refusal = error_response(413, BodyTooLarge().detail)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise BodyTooLarge()
            return message

        await self.app(scope, bounded_receive, send)
