"""``themesift query``: a published run's clusters, phrases and items, filtered and paged, without a server.

The same statements (``sql/collections/``) and the same properties-query language as the collection routes,
over the run's ``items.parquet`` and ``phrases.parquet`` (runs with ``publish_items``, every collection run),
read from any output location: a folder, or S3 (the files are downloaded once into the state folder).
``find`` embeds a text with the run's model and looks it up as ``GET .../clusters/find`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from flows.api.collection_store import (
    ITEM_COLUMNS,
    RunFiles,
    cluster_headers,
    item_record,
    load_finder,
    paged,
    query,
    run_files,
)
from tasks.core.find import FIND_K
from tasks.embed import run_encoder
from tasks.infra.errors import ConfigError
from tasks.infra.outputs import latest_run_id
from tasks.infra.query import SqlFilter, compile_filter, slice_query
from tasks.infra.settings import Settings
from tasks.infra.storage import open_storage


def open_run(settings: Settings, run_id: str | None) -> RunFiles:
    """A run of the settings' output location (its latest promoted one by default), ready to query."""
    storage = open_storage(settings.output_url, settings=settings)
    run_id = run_id or latest_run_id(storage)
    if run_id is None:
        raise ConfigError(f"no published run at {settings.output_url}")
    files = run_files(storage, run_id, Path(settings.state_dir) / "query-cache" / run_id)
    if files is None:
        raise ConfigError(f"run {run_id} has no items.parquet: run it with publish_items=true")
    return files


def item_filter(where: str | None, from_date: str | None, to_date: str | None, date_field: str) -> SqlFilter | None:
    """The compiled filter (`tasks.infra.query.QueryError`, a ConfigError, when it does not parse)."""
    node = slice_query(where, from_date, to_date, date_field)
    return None if node is None else compile_filter(node, ITEM_COLUMNS)


def clusters(files: RunFiles, where: SqlFilter | None) -> list[dict[str, Any]]:
    """The run's themes over the items the filter keeps, largest first."""
    names = cluster_headers(files.themes)
    rows = query("clusters", {"items": str(files.items)}, where)
    rows.sort(key=lambda r: (-r["items_count"], r["theme_id"]))
    return [{"cluster_id": r["theme_id"], "cluster_phrase": names.get(r["theme_id"], ""),
             "items_count": r["items_count"], "phrases_count": r["phrases_count"]} for r in rows]


def phrases(files: RunFiles, cluster_id: str, where: SqlFilter | None, page: int,
            limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of a theme's or subtheme's phrases, most repeated first, and how many there are."""
    params = {"items": str(files.items), "phrases": str(files.phrases), "cluster_id": cluster_id}
    rows = paged("cluster_phrases", params, where, page, limit)
    total = rows[0]["total"] if rows else 0
    return [{k: r[k] for k in ("phrase_id", "items_count", "text")} for r in rows if r.get("phrase_id")], total


def items(files: RunFiles, scope: str, ident: str, where: SqlFilter | None, page: int,
          limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of a cluster's (``scope="cluster"``) or a phrase's items, most central first, and the total."""
    rows = paged("items", {"items": str(files.items), "scope": scope, "id": ident}, where, page, limit)
    total = rows[0]["total"] if rows else 0
    return [item_record(r, "") for r in rows if r.get("chunk_id")], total


def find(files: RunFiles, settings: Settings, text: str, *, threshold: float, limit: int,
         method: str = "knn") -> list[dict[str, Any]]:
    """The themes ``text`` belongs to, best first (the rule of ``GET .../clusters/find``)."""
    if files.vectors is None or not files.embedding:
        raise ConfigError(f"run {files.run_id} has no item vectors (published before find existed): run it again")
    finder, theme_ids, sub_ids = load_finder(files)
    encode = run_encoder(settings.model_copy(update={"model": files.embedding.get("model") or settings.model,
                                                     "embed_backend": files.embedding.get("embed_backend")
                                                     or settings.embed_backend}))
    [found] = finder.find(np.asarray(encode([text]), np.float32), method=method, k=FIND_K, threshold=threshold,
                          limit=limit)
    names = cluster_headers(files.themes)
    return [{"cluster_id": theme_ids[m.theme], "cluster_phrase": names.get(theme_ids[m.theme], ""),
             "similarity": round(m.similarity, 4), "votes": round(m.votes, 4),
             "subcluster_id": sub_ids[m.subtheme] if m.subtheme >= 0 else None} for m in found]
