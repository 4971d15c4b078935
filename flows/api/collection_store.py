"""Collections: named bucket configurations, and queries over the items their latest promoted run published.

A collection is a JSON file, ``<state>/api/collections/<name>.json`` (bucket, prefix, run parameters). Its runs
keep their own state folder and output folder (``<state>/collections/<name>``, ``<output>/collections/<name>``),
so its lineage (stable theme ids night over night) is its own; they run with ``promote`` and ``publish_items``,
and the latest promoted run is what the collection routes read: ``themes.json``, ``phrases.parquet`` and
``items.parquet`` (`tasks.publish`), queried by DuckDB in memory with the statements in ``sql/collections/`` and
a filter compiled by `tasks.infra.query`. Nothing here opens the catalog a run may hold.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq

from tasks.core.find import ThemeFinder
from tasks.infra.catalog import WHERE_MARKER, load_sql
from tasks.infra.errors import StorageError
from tasks.infra.outputs import latest_run_id, run_prefix
from tasks.infra.query import SqlFilter
from tasks.infra.settings import Settings
from tasks.infra.storage import Storage, absolute_url, atomic_write, open_storage

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Where the filter finds its columns in items.parquet (constants: see `tasks.infra.query.compile_filter`).
ITEM_COLUMNS = {"metadata": "i.metadata", "object_key": "i.object_key", "last_modified": "i.last_modified"}
RUN_FILES = ("themes.json", "phrases.parquet", "items.parquet")
#: What find needs besides (runs published before find existed have neither: find then says to re-run).
FIND_FILES = ("manifest.json", "item_vectors.npy")


@dataclass(frozen=True)
class Collection:
    name: str
    bucket: str
    bucket_url: str
    prefix: str
    params: dict[str, Any]
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "bucket": self.bucket, "bucket_url": self.bucket_url, "prefix": self.prefix,
                "params": self.params, "created_at": self.created_at, "updated_at": self.updated_at}


@dataclass(frozen=True)
class RunFiles:
    """The latest promoted run of a collection, with local paths to what its queries read."""

    run_id: str
    themes: dict[str, Any]
    phrases: Path
    items: Path
    #: ``item_vectors.npy`` (row for row with items) and the model and backend they were embedded with.
    vectors: Path | None = None
    embedding: dict[str, Any] | None = None


class CollectionStore:
    """Collection definitions on disk, and the files of their latest runs (downloaded once per run when the
    output is not a local folder)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.state_dir / "api" / "collections"
        self.cache = settings.state_dir / "api" / "collection-runs"
        self._latest: dict[str, RunFiles] = {}  # a published run never changes: its parsed files are kept

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def get(self, name: str) -> Collection | None:
        if not NAME.fullmatch(name) or not self.path(name).is_file():
            return None
        return Collection(**json.loads(self.path(name).read_text(encoding="utf-8")))

    def all(self) -> list[Collection]:
        if not self.folder.is_dir():
            return []
        return [c for c in (self.get(p.stem) for p in sorted(self.folder.glob("*.json"))) if c is not None]

    def save(self, collection: Collection) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path(collection.name), json.dumps(collection.to_json()).encode("utf-8"))

    def create(self, name: str, bucket: str, bucket_url: str, prefix: str, params: dict[str, Any]) -> Collection:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        collection = Collection(name, bucket, bucket_url, prefix, params, now, now)
        self.save(collection)
        return collection

    def delete(self, collection: Collection) -> None:
        """Forget the collection and its runs' state and outputs."""
        self.path(collection.name).unlink(missing_ok=True)
        self._latest.pop(collection.name, None)
        state_dir, output_url = self.locations(collection.name)
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(self.cache / collection.name, ignore_errors=True)
        if output_url.startswith("file://"):
            shutil.rmtree(output_url.removeprefix("file://"), ignore_errors=True)
            return
        try:  # an object store: every object under the collection's output prefix
            storage = open_storage(output_url, settings=self.settings)
            for info in list(storage.list("")):
                storage.delete(info.key)
        except StorageError:
            pass  # nothing was ever published there

    def locations(self, name: str) -> tuple[str, str]:
        """The state folder and output URL of a collection's runs."""
        state_dir = (self.settings.state_dir / "collections" / name).expanduser().resolve()
        return str(state_dir), f"{absolute_url(self.settings.output_url)}/collections/{name}"

    def latest_run_id(self, name: str) -> str | None:
        """The id of the collection's latest promoted run (reads ``latest.json`` only), None before its first."""
        try:
            return latest_run_id(open_storage(self.locations(name)[1], settings=self.settings))
        except Exception:  # noqa: BLE001 - no output folder yet: no run yet
            return None

    def latest(self, name: str) -> RunFiles | None:
        """The collection's latest promoted run with its files, or None before its first one (or without items)."""
        _, output_url = self.locations(name)
        run_id = self.latest_run_id(name)
        if run_id is None:
            return None
        kept = self._latest.get(name)
        if kept is not None and kept.run_id == run_id:
            return kept
        files = run_files(open_storage(output_url, settings=self.settings), run_id, self.cache / name / run_id)
        if files is not None:
            self._latest[name] = files
        return files


def run_files(storage: Storage, run_id: str, cache: Path) -> RunFiles | None:
    """A published run's files as local paths: its own folder when the output is a local folder, else copies in
    ``cache`` (downloaded once); None when the run did not publish items."""
    if storage.url.startswith("file://"):
        folder = Path(storage.url.removeprefix("file://")) / run_prefix(run_id)
    else:
        folder = cache
        if not (folder / RUN_FILES[-1]).is_file():
            for file in FIND_FILES:  # optional: older runs lack them
                try:
                    atomic_write(folder / file, storage.get(run_prefix(run_id) + file))
                except StorageError:
                    pass
            for file in RUN_FILES:  # items.parquet last: its presence says the download is complete
                try:
                    atomic_write(folder / file, storage.get(run_prefix(run_id) + file))
                except StorageError:
                    return None
    if not all((folder / f).is_file() for f in RUN_FILES):
        return None
    themes = json.loads((folder / "themes.json").read_text(encoding="utf-8"))
    embedding = None
    if all((folder / f).is_file() for f in FIND_FILES):
        embedding = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("embedding")
    return RunFiles(run_id, themes, folder / "phrases.parquet", folder / "items.parquet",
                    folder / "item_vectors.npy" if embedding else None, embedding)


def query(name: str, params: dict[str, Any], where: SqlFilter | None) -> list[dict[str, Any]]:
    """Run ``sql/collections/<name>.sql`` in an in-memory DuckDB with ``where`` in its marker; rows as dicts."""
    sql = load_sql(f"collections/{name}")
    if where is not None:
        sql = sql.replace(WHERE_MARKER, f"({where.sql})")
        params = {**params, **where.params}
    with duckdb.connect() as con:
        result = con.execute(sql, params)
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def paged(statement: str, params: dict[str, Any], where: SqlFilter | None, page: int, limit: int) -> list[dict]:
    """One page of a statement that counts its rows (``total``); past the last page, one row of totals only."""
    rows = query(statement, {**params, "limit": limit, "offset": page * limit}, where)
    if rows or page == 0:
        return rows
    first = query(statement, {**params, "limit": 1, "offset": 0}, where)
    return [{"total": first[0]["total"]}] if first else []


def cluster_headers(themes: dict[str, Any]) -> dict[str, str]:
    """Every theme's and subtheme's header in a ``themes.json``, by id."""
    out = {}
    for theme in themes.get("clusters", []):
        out[theme["cluster_id"]] = theme.get("cluster_header") or ""
        for sub in theme.get("subclusters", []):
            out[sub["cluster_id"]] = sub.get("cluster_header") or ""
    return out


def id_codes(ids: list[str | None]) -> tuple[list[str], np.ndarray]:
    """Distinct ids (sorted) and each row's code into them, -1 for None (the labels `tasks.core.find` takes)."""
    names = sorted({i for i in ids if i is not None})
    code = {name: c for c, name in enumerate(names)}
    return names, np.array([code[i] if i is not None else -1 for i in ids], np.int64)


def load_finder(files: RunFiles) -> tuple[ThemeFinder, list[str], list[str]]:
    """A run's `ThemeFinder` (its item vectors and each item's theme and subtheme), with the ids its labels
    stand for (themes, subthemes)."""
    table = pq.read_table(files.items, columns=["theme_id", "subtheme_id"])
    theme_ids, theme = id_codes(table.column("theme_id").to_pylist())
    sub_ids, sub = id_codes(table.column("subtheme_id").to_pylist())
    return ThemeFinder(np.load(files.vectors), theme, sub), theme_ids, sub_ids


def item_record(row: dict[str, Any], collection: str) -> dict[str, Any]:
    """An item as the routes return it (its metadata parsed, its time as ISO 8601)."""
    try:
        metadata = json.loads(row["metadata"]) if row.get("metadata") else {}
    except ValueError:
        metadata = {}
    modified = row.get("last_modified")
    return {"item_id": row["chunk_id"], "collection": collection, "text": row["text"],
            "metadata": metadata if isinstance(metadata, dict) else {"value": metadata},
            "created_at": datetime.fromtimestamp(modified, UTC).isoformat() if modified is not None else None,
            "cluster_id": row["theme_id"], "subcluster_id": row["subtheme_id"], "phrase_id": row["phrase_id"],
            "object_key": row["object_key"], "doc_id": row["doc_id"], "char_start": row["char_start"],
            "char_end": row["char_end"], **({"page": row["page"], "page_end": row["page_end"]}
                                            if row.get("page") is not None else {}),
            "centrality": round(float(row["centrality"]), 4) if row.get("centrality") is not None else None}
