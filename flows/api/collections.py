"""Collections under ``/clustering/v1/collections``, in OneAI's names: browse a collection's clusters, their
phrases and items, page by page, filtered by ``properties-query`` and dates.

- ``POST /collections``: a named bucket configuration (201); ``GET /collections``; ``GET``, ``DELETE
  /collections/{c}``; ``PUT /collections/{c}/settings`` (its run parameters);
- ``POST /collections/{c}/runs``: queue a run of it (a clustering job: poll ``/v2/ai/clusters/{task_id}``);
- ``GET /collections/{c}/clusters?page&limit&sort&include-phrases&phrases-limit&properties-query&from-date
  &to-date&date-field``;
- ``GET /collections/{c}/clusters/{id}/phrases``, ``/clusters/{id}/items``, ``/phrases/{id}/items`` (paged, same
  filters).

Routes read the collection's latest promoted run (`flows.api.collection_store`). A query that does not parse is
a 400 naming the token and its position; every key and value of it reaches DuckDB as a bound parameter.
"""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations at runtime.

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from flows.api.buckets import served_bucket
from flows.api.collection_store import (
    ITEM_COLUMNS,
    NAME,
    Collection,
    CollectionStore,
    RunFiles,
    item_record,
    paged,
    query,
)
from flows.api.errors import BODY_REFUSALS, NOT_FOUND, REFUSALS, ApiError
from flows.api.schemas import MAX_NAME_CHARS, MAX_PAGE_SIZE, ErrorBody, Name, TaskCreated, TaskId
from tasks.infra.params import KEY_PATTERN, RunParams, validate_params
from tasks.infra.query import MAX_QUERY_CHARS, QueryError, SqlFilter, compile_filter, slice_query
from tasks.infra.settings import Settings

#: The refusal of a filter that does not parse (the routes that take one declare it).
BAD_FILTER: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The properties-query or a date does not parse (the detail names "
          "the token and its position)."}}
#: Run parameters a collection's runs always have: they are what its routes read.
FIXED = {"promote": True, "publish_items": True}


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=NAME.pattern, description="Lower-case letters, digits, `-`, `_`; up to 64.")
    bucket: Name = Field(description="A bucket name (or URL) the deployment allows (`THEMESIFT_API_BUCKETS`).")
    prefix: str = Field("", max_length=MAX_NAME_CHARS, description="Only objects whose key starts with this.")
    params: RunParams = Field(default_factory=RunParams, description="Its runs' parameters (see the README).")


class CollectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    params: RunParams


class CollectionOut(BaseModel):
    name: str
    bucket: str
    prefix: str
    params: dict[str, Any]
    created_at: str
    updated_at: str
    latest_run_id: str | None = Field(description="The run its routes read (null before the first).")


class CollectionList(BaseModel):
    collections: list[CollectionOut]


class PhraseOut(BaseModel):
    phrase_id: str
    text: str
    items_count: int = Field(description="Items of this phrase that the filter keeps.")
    cluster_id: str | None
    subcluster_id: str | None


class ClusterOut(BaseModel):
    cluster_id: str
    collection: str
    cluster_phrase: str = Field(description="The theme's header.")
    phrases_count: int
    items_count: int
    metadata: dict[str, Any]
    phrases: list[PhraseOut] | None = None


class ClustersPage(BaseModel):
    clusters: list[ClusterOut]
    total_clusters: int
    total_pages: int
    page: int
    limit: int
    run_id: str


class PhrasesPage(BaseModel):
    phrases: list[PhraseOut]
    total_phrases: int
    total_pages: int
    page: int
    limit: int


class ItemOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    item_id: str
    collection: str
    text: str
    metadata: dict[str, Any]
    created_at: str | None
    cluster_id: str | None
    subcluster_id: str | None
    phrase_id: str | None
    page: int | None = Field(None, description="A PDF's chunk: the page it starts on (from 1).")
    page_end: int | None = Field(None, description="... and the page it ends on.")


class ItemsPage(BaseModel):
    items: list[ItemOut]
    total_items: int
    total_pages: int
    page: int
    limit: int


PageNumber = Annotated[int, Query(ge=0, le=1_000_000, description="Page, from 0.")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
PropertiesQuery = Annotated[str | None, Query(alias="properties-query", max_length=MAX_QUERY_CHARS,
                                              description="`key1 eq 'val1' and (key2 neq 'val' or n gte 3)`")]
FromDate = Annotated[str | None, Query(alias="from-date", max_length=40)]
ToDate = Annotated[str | None, Query(alias="to-date", max_length=40)]
DateField = Annotated[str, Query(alias="date-field", max_length=200, pattern=KEY_PATTERN)]
ClusterId = Annotated[str, Path(max_length=64)]


def item_filter(properties_query: PropertiesQuery = None, from_date: FromDate = None, to_date: ToDate = None,
                date_field: DateField = "last_modified") -> SqlFilter | None:
    """The filter of a request over items.parquet (a route dependency); a 400 naming the token when it does not
    parse."""
    try:
        node = slice_query(properties_query, from_date, to_date, date_field)
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    return None if node is None else compile_filter(node, ITEM_COLUMNS)


def pages(total: int, limit: int) -> int:
    return math.ceil(total / limit)


async def queue_run(request: Request, store: CollectionStore, collection: Collection) -> str:
    """Queue a run of the collection (a clustering job); its task id."""
    params = validate_params({**collection.params, "prefix": collection.prefix, **FIXED})
    return await request.app.state.jobs.submit(collection.bucket, collection.bucket_url, params,
                                               locations=store.locations(collection.name),
                                               tags=(f"collection:{collection.name}",))


def dependencies(store: CollectionStore) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The route dependencies ``found`` (the collection named in the path, else a 404) and ``latest_run`` (it and
    its latest promoted run's files, else a 404 that says how to make one)."""

    def found(name: Annotated[str, Path(max_length=64)]) -> Collection:
        collection = store.get(name)
        if collection is None:
            raise ApiError(404, "no such collection")
        return collection

    async def latest_run(collection: Annotated[Collection, Depends(found)]) -> tuple[Collection, RunFiles]:
        files = await run_in_threadpool(store.latest, collection.name)
        if files is None:
            raise ApiError(404, "the collection has no published run yet: POST /clustering/v1/collections/"
                                f"{collection.name}/runs, then poll the task")
        return collection, files

    return found, latest_run


def collections_router(settings: Settings, guarded: list[Any]) -> APIRouter:
    """The collection routes, behind the same key check as the rest (``guarded``)."""
    router = APIRouter(prefix="/clustering/v1/collections", dependencies=guarded, tags=["collections"],
                       responses=REFUSALS)
    store = CollectionStore(settings)
    found, latest_run = dependencies(store)

    def out(collection: Collection) -> CollectionOut:
        return CollectionOut(**{k: v for k, v in collection.to_json().items() if k != "bucket_url"},
                             latest_run_id=store.latest_run_id(collection.name))

    @router.post("", status_code=201, response_model=CollectionOut,
                 responses={**BODY_REFUSALS, **NOT_FOUND, 409: {"description": "A collection of that name exists."}})
    async def create_collection(body: CollectionCreate) -> CollectionOut:
        """Name a bucket configuration; its routes read its latest run (queue one with ``POST .../runs``)."""
        if store.get(body.name) is not None:
            raise ApiError(409, "a collection of that name exists")
        bucket_url = await served_bucket(body.bucket, settings)
        params = body.params.model_dump(mode="json", exclude_defaults=True)
        collection = store.create(body.name, body.bucket, bucket_url, body.prefix, params)
        return out(collection)

    @router.get("", response_model=CollectionList)
    async def list_collections() -> CollectionList:
        """Every collection, by name."""
        return CollectionList(collections=[out(c) for c in await run_in_threadpool(store.all)])

    @router.get("/{name}", response_model=CollectionOut, responses=NOT_FOUND)
    async def read_collection(collection: Annotated[Collection, Depends(found)]) -> CollectionOut:
        """A collection's settings and the run its routes read."""
        return out(collection)

    @router.put("/{name}/settings", response_model=CollectionOut, responses={**BODY_REFUSALS, **NOT_FOUND})
    async def update_settings(body: CollectionSettings,
                              collection: Annotated[Collection, Depends(found)]) -> CollectionOut:
        """Replace a collection's run parameters (its next run uses them)."""
        updated = Collection(**{**collection.to_json(), "params": body.params.model_dump(
            mode="json", exclude_defaults=True), "updated_at": datetime.now(UTC).isoformat(timespec="seconds")})
        store.save(updated)
        return out(updated)

    @router.delete("/{name}", status_code=204, response_class=Response, responses=NOT_FOUND)
    async def delete_collection(collection: Annotated[Collection, Depends(found)]) -> Response:
        """Delete a collection, its runs' outputs and its state (the bucket is untouched)."""
        await run_in_threadpool(store.delete, collection)
        return Response(status_code=204)

    @router.post("/{name}/runs", response_model=TaskCreated, responses=NOT_FOUND)
    async def run_collection(collection: Annotated[Collection, Depends(found)], request: Request) -> TaskCreated:
        """Queue a run of the collection (poll ``GET /v2/ai/clusters/{task_id}``); when it completes, the
        collection's routes read it."""
        return TaskCreated(data=TaskId(task_id=await queue_run(request, store, collection)))

    @router.get("/{name}/clusters", response_model=ClustersPage, responses={**NOT_FOUND, **BAD_FILTER})
    async def clusters(latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                       page: PageNumber = 0, limit: Limit = 20,
                       sort: Literal["items_count", "phrases_count", "cluster_phrase"] = "items_count",
                       include_phrases: Annotated[bool, Query(alias="include-phrases")] = False,
                       phrases_limit: Annotated[int, Query(alias="phrases-limit", ge=1, le=100)] = 5,
                       where: Annotated[SqlFilter | None, Depends(item_filter)] = None) -> ClustersPage:
        """The collection's themes with the items and phrases the filter keeps, largest first (or by
        ``sort``); a theme the filter empties is left out."""
        collection, files = latest
        rows = await run_in_threadpool(query, "clusters", {"items": str(files.items)}, where)
        themes = {c["cluster_id"]: c for c in files.themes.get("clusters", [])}
        shaped = [cluster_out(collection.name, themes.get(r["theme_id"], {}), r) for r in rows]
        if sort == "cluster_phrase":
            shaped.sort(key=lambda c: (c.cluster_phrase.lower(), c.cluster_id))
        else:
            shaped.sort(key=lambda c: (-getattr(c, sort), c.cluster_id))
        shown = shaped[page * limit:(page + 1) * limit]
        if include_phrases and shown:
            top = await run_in_threadpool(query, "top_phrases", {
                "items": str(files.items), "phrases": str(files.phrases),
                "theme_ids": [c.cluster_id for c in shown], "per_cluster": phrases_limit}, where)
            for cluster in shown:
                cluster.phrases = [phrase_out(r) for r in top if r["theme_id"] == cluster.cluster_id]
        return ClustersPage(clusters=shown, total_clusters=len(shaped), total_pages=pages(len(shaped), limit),
                            page=page, limit=limit, run_id=files.run_id)

    @router.get("/{name}/clusters/{cluster_id}/phrases", response_model=PhrasesPage,
                responses={**NOT_FOUND, **BAD_FILTER})
    async def cluster_phrases(latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                              cluster_id: ClusterId, page: PageNumber = 0, limit: Limit = 20,
                              where: Annotated[SqlFilter | None, Depends(item_filter)] = None) -> PhrasesPage:
        """A theme's (or subtheme's) phrases, the most repeated first."""
        _, files = latest
        known_cluster(files, cluster_id)
        params = {"items": str(files.items), "phrases": str(files.phrases), "cluster_id": cluster_id}
        rows = await run_in_threadpool(paged, "cluster_phrases", params, where, page, limit)
        total = rows[0]["total"] if rows else 0
        return PhrasesPage(phrases=[phrase_out(r) for r in rows if r.get("phrase_id")], total_phrases=total,
                           total_pages=pages(total, limit), page=page, limit=limit)

    async def items_page(files: RunFiles, collection: str, scope: str, ident: str, page: int, limit: int,
                         where: SqlFilter | None) -> ItemsPage:
        params = {"items": str(files.items), "scope": scope, "id": ident}
        rows = await run_in_threadpool(paged, "items", params, where, page, limit)
        total = rows[0]["total"] if rows else 0
        return ItemsPage(items=[ItemOut(**item_record(r, collection)) for r in rows if r.get("chunk_id")],
                         total_items=total, total_pages=pages(total, limit), page=page, limit=limit)

    @router.get("/{name}/clusters/{cluster_id}/items", response_model=ItemsPage, responses={**NOT_FOUND, **BAD_FILTER})
    async def cluster_items(latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                            cluster_id: ClusterId, page: PageNumber = 0, limit: Limit = 20,
                            where: Annotated[SqlFilter | None, Depends(item_filter)] = None) -> ItemsPage:
        """A theme's (or subtheme's) items, the most central first."""
        collection, files = latest
        known_cluster(files, cluster_id)
        return await items_page(files, collection.name, "cluster", cluster_id, page, limit, where)

    @router.get("/{name}/phrases/{phrase_id}/items", response_model=ItemsPage, responses={**NOT_FOUND, **BAD_FILTER})
    async def phrase_items(latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                           phrase_id: Annotated[str, Path(max_length=64)], page: PageNumber = 0,
                           limit: Limit = 20,
                           where: Annotated[SqlFilter | None, Depends(item_filter)] = None) -> ItemsPage:
        """A phrase's items (its near-identical passages), the most central first."""
        collection, files = latest
        found_page = await items_page(files, collection.name, "phrase", phrase_id, page, limit, where)
        if found_page.total_items == 0 and where is None:
            raise ApiError(404, "no such phrase")
        return found_page

    return router


def known_cluster(files: RunFiles, cluster_id: str) -> None:
    ids = set()
    for theme in files.themes.get("clusters", []):
        ids.add(theme["cluster_id"])
        ids.update(sub["cluster_id"] for sub in theme.get("subclusters", []))
    if cluster_id not in ids:
        raise ApiError(404, "no such cluster")


def phrase_out(row: dict[str, Any]) -> PhraseOut:
    return PhraseOut(phrase_id=row["phrase_id"], text=row["text"] or "", items_count=int(row["items_count"]),
                     cluster_id=row.get("theme_id"), subcluster_id=row.get("subtheme_id"))


def cluster_out(collection: str, theme: dict[str, Any], row: dict[str, Any]) -> ClusterOut:
    """A theme as the collection routes show it, with the counts the filter left."""
    metadata = {"share": theme.get("share"), "cohesion": theme.get("cohesion"),
                "summary": theme.get("cluster_summary"), "total_items": theme.get("total_number_of_nodes"),
                "keyphrases": [k.get("phrase") for k in theme.get("keyphrases", [])][:8],
                "subclusters": [{"cluster_id": s["cluster_id"], "cluster_phrase": s.get("cluster_header") or "",
                                 "items_count": s.get("total_number_of_nodes")} for s in theme.get("subclusters", [])]}
    return ClusterOut(cluster_id=row["theme_id"], collection=collection,
                      cluster_phrase=theme.get("cluster_header") or row["theme_id"],
                      phrases_count=int(row["phrases_count"]), items_count=int(row["items_count"]),
                      metadata=metadata)
