"""find and items-in for collections: which theme a new text belongs to, and new items sorted at once.

- ``GET /clustering/v1/collections/{c}/clusters/find?text&similarity_threshold&limit&method``: the text is
  embedded with the model (and backend) the collection's latest run was embedded with, and looked up among
  that run's clustered chunks (`tasks.core.find`: a vote of the 15 nearest chunks, or ``method=centroid``).
- ``POST /clustering/v1/collections/{c}/items`` (``[{"text": ..., "metadata": {...}}]``, at most
  :data:`MAX_ITEMS`): the items are written into the collection's bucket as one JSON-lines object under its
  prefix (``api-items/<time>-<id>.jsonl``), so the next run clusters them with everything else, and each is
  assigned right away by the same rule as find (``"status": "queued"``: the assignment is provisional until that
  run).

The run's vectors (``item_vectors.npy``, published with ``items.parquet``) are loaded once per run and kept for
the collection's latest run only.
"""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations at runtime.

import json
import uuid
from datetime import UTC, datetime
from threading import Lock
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from flows.api.batching import Batcher
from flows.api.collection_store import Collection, CollectionStore, RunFiles, cluster_headers, load_finder
from flows.api.collections import dependencies
from flows.api.errors import BODY_REFUSALS, NOT_FOUND, REFUSALS, ApiError
from flows.api.schemas import ErrorBody
from tasks.core.embedding.engines import resolve_backend
from tasks.core.find import FIND_K, Match, ThemeFinder
from tasks.infra.errors import StorageError
from tasks.infra.params import RunParams
from tasks.infra.settings import Settings
from tasks.infra.storage import open_storage

#: Items one POST may hold, and characters per item text.
MAX_ITEMS = 1000
MAX_TEXT_CHARS = 20_000
#: Folder (under the collection's prefix) that posted items are written to.
ITEMS_FOLDER = "api-items"


class FoundCluster(BaseModel):
    cluster_id: str
    cluster_phrase: str = Field(description="The theme's header.")
    similarity: float = Field(description="Cosine of the theme's nearest chunk to the text (``knn``), or of its "
                                          "centroid (``centroid``).")
    votes: float = Field(description="The theme's share of the nearest chunks' vote (0 for ``centroid``).")
    subcluster_id: str | None = Field(description="The subtheme its voters favour (``knn``).")
    subcluster_phrase: str | None


class FindResult(BaseModel):
    clusters: list[FoundCluster] = Field(description="Best first; empty when no theme reaches the threshold.")
    method: str
    k: int | None
    run_id: str


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Becomes the item's fields (keys as in "
                                     "`properties-query`); may not hold the collection's text field.")


class ItemAssigned(BaseModel):
    index: int = Field(description="The item's position in the request.")
    cluster_id: str | None = Field(description="Its theme by the find rule (null before the first run, or when "
                                               "nothing reaches the threshold).")
    cluster_phrase: str | None
    subcluster_id: str | None
    similarity: float | None


class ItemsQueued(BaseModel):
    status: Literal["queued"] = Field(description="Written to the bucket; the next run clusters them.")
    object_key: str
    items: list[ItemAssigned]
    run_id: str | None = Field(description="The run the assignments come from (null before the first).")


class Finders:
    """The `ThemeFinder` of each collection's latest run (with the ids its labels stand for), built once per run."""

    def __init__(self) -> None:
        self._by_collection: dict[str, tuple[str, ThemeFinder, list[str], list[str]]] = {}
        self._lock = Lock()

    def get(self, collection: str, files: RunFiles) -> tuple[ThemeFinder, list[str], list[str]]:
        with self._lock:
            cached = self._by_collection.get(collection)
        if cached is not None and cached[0] == files.run_id:
            return cached[1:]
        finder, theme_ids, sub_ids = load_finder(files)
        with self._lock:
            self._by_collection[collection] = (files.run_id, finder, theme_ids, sub_ids)
        return finder, theme_ids, sub_ids


def finding_router(settings: Settings, guarded: list[Any]) -> APIRouter:
    """The find and items-in routes, behind the same key check as the rest (``guarded``)."""
    router = APIRouter(prefix="/clustering/v1/collections", dependencies=guarded, tags=["collections"],
                       responses=REFUSALS)
    store = CollectionStore(settings)
    found, latest_run = dependencies(store)
    finders = Finders()

    batchers: dict[tuple[str, str], Batcher] = {}

    async def look_up(request: Request, files: RunFiles, collection: str, texts: list[str], method: str,
                      threshold: float, limit: int) -> tuple[list[list[Match]], list[str], list[str]]:
        """Embed ``texts`` as the run's chunks were (batched with other requests') and find their themes."""
        if files.vectors is None or not files.embedding:
            raise ApiError(409, "the collection's latest run has no item vectors (published before find existed): "
                                "run it again")
        model = files.embedding.get("model") or settings.model
        backend = files.embedding.get("embed_backend") or resolve_backend(settings.embed_backend,
                                                                          device=settings.device)
        if (model, backend) not in batchers:  # the model loads once, in a worker thread
            encode = await run_in_threadpool(request.app.state.search.encoder, model, backend)
            batchers.setdefault((model, backend), Batcher(encode))
        vectors = await batchers[(model, backend)].embed(texts)
        finder, theme_ids, sub_ids = await run_in_threadpool(finders.get, collection, files)
        found = await run_in_threadpool(finder.find, vectors, method=method, k=FIND_K, threshold=threshold,
                                        limit=limit)
        return found, theme_ids, sub_ids

    @router.get("/{name}/clusters/find", response_model=FindResult,
                responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "The latest run has no item vectors: "
                                                                               "run it again."}})
    async def find(request: Request, latest: Annotated[tuple[Collection, RunFiles], Depends(latest_run)],
                   text: Annotated[str, Query(min_length=1, max_length=MAX_TEXT_CHARS)],
                   similarity_threshold: Annotated[float, Query(ge=-1, le=1)] = 0.0,
                   limit: Annotated[int, Query(ge=1, le=20)] = 3,
                   method: Literal["knn", "centroid"] = "knn") -> FindResult:
        """The themes of the latest run that ``text`` belongs to, best first (see the module docstring)."""
        collection, files = latest
        matches, theme_ids, sub_ids = await look_up(request, files, collection.name, [text], method,
                                                    similarity_threshold, limit)
        names = cluster_headers(files.themes)
        clusters = [FoundCluster(cluster_id=theme_ids[m.theme], cluster_phrase=names.get(theme_ids[m.theme], ""),
                                 similarity=round(m.similarity, 4), votes=round(m.votes, 4),
                                 subcluster_id=sub_ids[m.subtheme] if m.subtheme >= 0 else None,
                                 subcluster_phrase=names.get(sub_ids[m.subtheme]) if m.subtheme >= 0 else None)
                    for m in matches[0]]
        return FindResult(clusters=clusters, method=method, k=FIND_K if method == "knn" else None,
                          run_id=files.run_id)

    @router.post("/{name}/items", response_model=ItemsQueued,
                 responses={**BODY_REFUSALS, **NOT_FOUND,
                            502: {"model": ErrorBody, "description": "The bucket refused the write."}})
    async def add_items(request: Request, collection: Annotated[Collection, Depends(found)],
                        items: Annotated[list[ItemIn], Body(min_length=1, max_length=MAX_ITEMS)],
                        similarity_threshold: Annotated[float, Query(ge=-1, le=1)] = 0.0) -> ItemsQueued:
        """Write items into the collection's bucket (the next run clusters them) and assign each to its theme
        now, by the find rule."""
        text_field = RunParams(**{k: v for k, v in collection.params.items() if k == "text_field"}).text_field
        if any(text_field in item.metadata for item in items):
            raise ApiError(400, f"metadata may not hold the collection's text field {text_field!r}")
        key = items_key(collection.prefix)
        lines = "".join(json.dumps({**item.metadata, text_field: item.text}, ensure_ascii=False) + "\n"
                        for item in items)
        try:
            await run_in_threadpool(put_object, settings, collection.bucket_url, key, lines.encode("utf-8"))
        except StorageError as exc:
            raise ApiError(502, f"the bucket refused the items: {exc}") from None
        files = await run_in_threadpool(store.latest, collection.name)
        assigned = [ItemAssigned(index=i, cluster_id=None, cluster_phrase=None, subcluster_id=None, similarity=None)
                    for i in range(len(items))]
        if files is not None and files.vectors is not None:
            matches, theme_ids, sub_ids = await look_up(request, files, collection.name,
                                                        [item.text for item in items], "knn", similarity_threshold, 1)
            names = cluster_headers(files.themes)
            for slot, found_here in zip(assigned, matches, strict=True):
                if found_here:
                    m = found_here[0]
                    slot.cluster_id = theme_ids[m.theme]
                    slot.cluster_phrase = names.get(slot.cluster_id)
                    slot.subcluster_id = sub_ids[m.subtheme] if m.subtheme >= 0 else None
                    slot.similarity = round(m.similarity, 4)
        return ItemsQueued(status="queued", object_key=key, items=assigned,
                           run_id=files.run_id if files is not None else None)

    return router


def items_key(prefix: str) -> str:
    """A new object key under the collection's prefix (so its runs read it), unique and in time order."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    joint = "" if not prefix or prefix.endswith("/") else "/"
    return f"{prefix}{joint}{ITEMS_FOLDER}/{stamp}-{uuid.uuid4().hex[:12]}.jsonl"


def put_object(settings: Settings, bucket_url: str, key: str, data: bytes) -> None:
    open_storage(bucket_url, settings=settings).put(key, data)
