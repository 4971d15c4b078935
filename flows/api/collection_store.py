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

from flows.api.jobs import absolute_url
from tasks.infra.catalog import WHERE_MARKER, load_sql
from tasks.infra.outputs import latest_run_id, run_prefix
from tasks.infra.query import SqlFilter
from tasks.infra.settings import Settings
from tasks.infra.storage import atomic_write, open_storage

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Where the filter finds its columns in items.parquet (constants: see `tasks.infra.query.compile_filter`).
ITEM_COLUMNS = {"metadata": "i.metadata", "object_key": "i.object_key", "last_modified": "i.last_modified"}
RUN_FILES = ("themes.json", "phrases.parquet", "items.parquet")


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


class CollectionStore:
    """Collection definitions on disk, and the files of their latest runs (downloaded once per run when the
    output is not a local folder)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.state_dir / "api" / "collections"
        self.cache = settings.state_dir / "api" / "collection-runs"

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
        state_dir, output_url = self.locations(collection.name)
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(self.cache / collection.name, ignore_errors=True)
        if output_url.startswith("file://"):
            shutil.rmtree(output_url.removeprefix("file://"), ignore_errors=True)

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
        storage = open_storage(output_url, settings=self.settings)
        if output_url.startswith("file://"):
            folder = Path(output_url.removeprefix("file://")) / run_prefix(run_id)
        else:
            folder = self.cache / name / run_id
            if not (folder / RUN_FILES[-1]).is_file():
                for file in RUN_FILES:
                    atomic_write(folder / file, storage.get(run_prefix(run_id) + file))
        if not all((folder / f).is_file() for f in RUN_FILES):
            return None
        themes = json.loads((folder / "themes.json").read_text(encoding="utf-8"))
        return RunFiles(run_id, themes, folder / "phrases.parquet", folder / "items.parquet")


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
            "char_end": row["char_end"],
            "centrality": round(float(row["centrality"]), 4) if row.get("centrality") is not None else None}
