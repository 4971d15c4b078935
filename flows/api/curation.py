"""Curation routes: rename a theme, merge themes, split a phrase out, and list or withdraw what was done.

- ``POST /clustering/v1/collections/{c}/clusters/{id}/rename`` ``{"cluster_phrase": ...}``;
- ``POST /clustering/v1/collections/{c}/merge`` ``{"source_clusters": [...], "destination_cluster": ...}``;
- ``POST /clustering/v1/collections/{c}/phrases/{id}/split``;
- ``GET /clustering/v1/collections/{c}/curation``; ``DELETE .../curation/{event_id}`` (a withdrawal).

Each is checked against the collection's latest run (the ids must be in it), written as an event to the
collection's curation journal (`tasks.curate`: the API never opens the catalog a run may hold) and a run of the
collection is queued at once; that run, and every later one, applies the events in force through the stable ids
(`tasks.core.curation`). The response carries the event and the run's ``task_id``.
"""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations at runtime.

import re
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from flows.api.collection_store import Collection, CollectionStore, RunFiles, cluster_headers, query
from flows.api.collections import dependencies, queue_run
from flows.api.errors import BODY_REFUSALS, NOT_FOUND, REFUSALS, ApiError
from flows.api.schemas import ErrorBody
from tasks.core.curation import active_events, split_key
from tasks.curate import journal_dir, read_journal, write_event
from tasks.infra.settings import Settings

THEME_ID = re.compile(r"^t\d+$")
MAX_HEADER_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster_phrase: str = Field(min_length=1, max_length=MAX_HEADER_CHARS, description="The theme's new name.")


class Merge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_clusters: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=50)
    destination_cluster: str = Field(max_length=64)


class EventOut(BaseModel):
    event_id: str
    kind: str
    created_at: str
    payload: dict[str, Any]
    in_force: bool = Field(description="False once withdrawn.")


class CurationDone(BaseModel):
    event: EventOut
    task_id: str | None = Field(description="The run queued to apply it (poll /v2/ai/clusters/{task_id}); null "
                                            "with `run=false`, when the next run applies it.")


RunNow = Annotated[bool, Query(description="Queue a run of the collection now (false: several edits, then "
                                           "one `POST .../runs`).")]


class CurationList(BaseModel):
    events: list[EventOut]


def curation_router(settings: Settings, guarded: list[Any]) -> APIRouter:
    """The curation routes, behind the same key check as the rest (``guarded``)."""
    router = APIRouter(prefix="/clustering/v1/collections", dependencies=guarded, tags=["collections"],
                       responses=REFUSALS)
    store = CollectionStore(settings)
    found, latest_run = dependencies(store)
    bad = {400: {"model": ErrorBody, "description": "The request contradicts itself (e.g. a theme merged into "
                                                    "itself)."}}

    def journal(collection: Collection) -> FilePath:
        return FilePath(store.locations(collection.name)[0])

    async def record(request: Request, collection: Collection, kind: str, payload: dict,
                     run: bool = True) -> CurationDone:
        event = await run_in_threadpool(write_event, journal(collection), kind, payload)
        task_id = await queue_run(request, store, collection) if run else None
        return CurationDone(event=EventOut(event_id=event.event_id, kind=kind, created_at=event.created_at,
                                           payload=payload, in_force=True), task_id=task_id)

    @router.post("/{name}/clusters/{cluster_id}/rename", response_model=CurationDone,
                 responses={**BODY_REFUSALS, **NOT_FOUND, **bad})
    async def rename(request: Request, body: Rename,
                     latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                     cluster_id: Annotated[str, Path(max_length=64)], run: RunNow = True) -> CurationDone:
        """Name a theme (or subtheme) by hand; it keeps the name while its id lives."""
        collection, files = latest
        if cluster_id not in cluster_headers(files.themes):
            raise ApiError(404, "no such cluster in the collection's latest run")
        header = " ".join(body.cluster_phrase.split())
        if not header or _CONTROL.search(body.cluster_phrase.replace("\n", " ").replace("\t", " ")):
            raise ApiError(400, "a name is printable text, not only spaces")
        return await record(request, collection, "rename", {"cluster_id": cluster_id, "header": header}, run)

    @router.post("/{name}/merge", response_model=CurationDone, responses={**BODY_REFUSALS, **NOT_FOUND, **bad})
    async def merge(request: Request, body: Merge,
                    latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                    run: RunNow = True) -> CurationDone:
        """Merge themes into a destination theme; they stay merged in every later run."""
        collection, files = latest
        sources = list(dict.fromkeys(body.source_clusters))
        if body.destination_cluster in sources:
            raise ApiError(400, "the destination is among the sources")
        themes = {c["cluster_id"] for c in files.themes.get("clusters", [])}
        for cid in [*sources, body.destination_cluster]:
            if not THEME_ID.fullmatch(cid) or cid not in themes:
                raise ApiError(404, "every cluster merged must be a theme of the collection's latest run "
                                    "(subthemes are not merged)")
        return await record(request, collection, "merge",
                            {"sources": sources, "destination": body.destination_cluster}, run)

    @router.post("/{name}/phrases/{phrase_id}/split", response_model=CurationDone, responses={**NOT_FOUND, **bad})
    async def split(request: Request, latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                    phrase_id: Annotated[str, Path(max_length=64)], run: RunNow = True) -> CurationDone:
        """Split a phrase (its near-identical passages) out of its theme into a theme of its own."""
        collection, files = latest
        try:
            key = split_key(phrase_id)
        except ValueError:
            raise ApiError(404, "no such phrase") from None
        if not await run_in_threadpool(phrase_exists, files, phrase_id):
            raise ApiError(404, "no such phrase in the collection's latest run")
        return await record(request, collection, "split", {"phrase_id": phrase_id, "key": key}, run)

    @router.get("/{name}/curation", response_model=CurationList, responses=NOT_FOUND)
    async def list_curation(collection: Annotated[Collection, Depends(found)]) -> CurationList:
        """Every curation event of the collection, oldest first, and whether it is still in force."""
        events = await run_in_threadpool(read_journal, journal_dir(journal(collection)))
        live = {e.event_id for e in active_events(events)}
        return CurationList(events=[EventOut(event_id=e.event_id, kind=e.kind, created_at=e.created_at,
                                             payload=dict(e.payload), in_force=e.event_id in live)
                                    for e in sorted(events, key=lambda e: (e.created_at, e.event_id))])

    @router.delete("/{name}/curation/{event_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
    async def withdraw(request: Request, collection: Annotated[Collection, Depends(found)],
                       event_id: Annotated[str, Path(max_length=64)], run: RunNow = True) -> Response:
        """Withdraw an event: the next run (queued now) no longer applies it."""
        events = await run_in_threadpool(read_journal, journal_dir(journal(collection)))
        if event_id not in {e.event_id for e in active_events(events)}:
            raise ApiError(404, "no such curation event in force")
        await record(request, collection, "withdraw", {"event_id": event_id}, run)
        return Response(status_code=204)

    return router


def phrase_exists(files: RunFiles, phrase_id: str) -> bool:
    return bool(query("phrase_exists", {"phrases": str(files.phrases), "phrase_id": phrase_id}, None))
