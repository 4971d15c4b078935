"""``themesift doctor``: check the state folder and the output, and repair what can be repaired.

Checked: the catalog (every table read in full, so DuckDB verifies every block's checksum), the embedding
cache (every part's Parquet footer), and the output's ``latest.json`` (a pointer to a complete run). With
``repair``:

- a damaged catalog is set aside (``catalog.duckdb.damaged-<time>``) and a new one gets every table that still
  reads in full; what is lost is rebuilt by the next run, which re-reads from the bucket what the catalog no
  longer knows (a damaged ``objects``, ``documents`` or ``skips`` table drops all four bucket tables, so every
  object is read again; a damaged ``chunks`` table only re-chunks) and embeds nothing twice (the cache is
  apart); curation events come back from their journal files (the curate stage imports them every run). A
  damaged run-history table loses its rows: the runs published before stay in the output, and the next run's
  lineage compares with the run ``latest.json`` names.
- unreadable cache parts are quarantined (their passages are embedded again by the next run);
- a damaged or dangling ``latest.json`` is pointed at the newest complete run folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tasks.embed import embedding_cache
from tasks.infra.catalog import open_catalog
from tasks.infra.errors import BucketNotFoundError, StorageError
from tasks.infra.outputs import LATEST_KEY, MANIFEST_NAME, promote_run, read_latest, run_prefix
from tasks.infra.runs import run_lock
from tasks.infra.settings import Settings
from tasks.infra.storage import open_storage

#: Catalog tables in the order the schema creates them.
TABLES = ("objects", "documents", "chunks", "skips", "runs", "run_objects", "assignments", "clusters", "lineage",
          "phrases", "curation_events")
#: Tables that only make sense together: one damaged, all dropped (the bucket is read again).
BUCKET_TABLES = ("objects", "documents", "chunks", "skips")


@dataclass
class Finding:
    """One thing checked: its name, whether it is sound, what was found and what the repair did."""

    what: str
    ok: bool
    detail: str
    repaired: str = ""


def damaged_tables(path: Path) -> dict[str, str]:
    """The catalog's tables that cannot be read in full, with DuckDB's reason (a file that does not open at all
    is reported under ``"*"``)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        return {"*": str(exc).splitlines()[0][:200]}
    bad = {}
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table in (t for t in TABLES if t in present):
            try:  # hashing every row reads every block, so every checksum is verified
                con.execute(f"SELECT count(*), bit_xor(hash(x)) FROM {table} AS x").fetchone()
            except duckdb.Error as exc:
                bad[table] = str(exc).splitlines()[0][:200]
    finally:
        con.close()
    return bad


def salvage_catalog(path: Path, bad: dict[str, str]) -> str:
    """Set the damaged catalog aside and build a new one from what still reads; say what was kept."""
    aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    os.replace(path, aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        os.replace(wal, aside.with_name(aside.name + ".wal"))
    drop = set(bad)
    if "*" in bad or drop & set(BUCKET_TABLES) - {"chunks"}:
        drop |= set(BUCKET_TABLES)
    kept = []
    with open_catalog(path) as catalog:
        if "*" not in bad:
            catalog.con.execute(f"ATTACH '{aside}' AS old (READ_ONLY)")
            for table in TABLES:
                if table in drop:
                    continue
                try:
                    catalog.con.execute(f"INSERT INTO {table} SELECT * FROM old.{table}")
                    kept.append(table)
                except duckdb.Error:  # absent from an older catalog, or damaged after all
                    drop.add(table)
            catalog.con.execute("DETACH old")
    rebuilt = sorted(drop - {"*"}) or list(TABLES)
    return (f"set aside as {aside.name}; kept {', '.join(kept) or 'nothing'}; the next run rebuilds "
            f"{', '.join(rebuilt)}")


def check_catalog(settings: Settings, repair: bool) -> Finding:
    path = settings.catalog_path
    if not path.exists():
        return Finding("catalog", True, f"{path} does not exist yet (the first run creates it)")
    bad = damaged_tables(path)
    if not bad:
        return Finding("catalog", True, f"{path}: every table reads in full")
    detail = f"{path}: " + "; ".join(f"{t}: {why}" for t, why in bad.items())
    return Finding("catalog", False, detail, salvage_catalog(path, bad) if repair else "")


def check_cache(settings: Settings) -> Finding:
    cache = embedding_cache(settings)
    parts = cache.parts()  # listing quarantines the unreadable parts
    if cache.quarantined:
        return Finding("embedding cache", False, f"{cache.dir}: {len(cache.quarantined)} unreadable part(s): "
                       f"{'; '.join(cache.quarantined[:5])}", f"moved to {cache.dir / 'quarantine'}")
    return Finding("embedding cache", True, f"{cache.dir}: {len(parts)} parts, every footer reads")


def check_latest(settings: Settings, repair: bool) -> Finding:
    try:
        storage = open_storage(settings.output_url, settings=settings)
    except BucketNotFoundError:
        return Finding("latest.json", True, f"{settings.output_url} does not exist yet (the first run creates it)")
    where = f"{storage.url.rstrip('/')}/{LATEST_KEY}"
    try:
        pointer = read_latest(storage)
        problem = None if pointer is None or _complete(storage, pointer["run_id"]) else \
            f"points at {pointer['run_id']}, which has no manifest (not a complete run)"
    except StorageError as exc:
        pointer, problem = None, str(exc).split(":")[0] if "damaged" not in str(exc) else "damaged"
    if problem is None:
        return Finding("latest.json", True, f"{where}: " + (f"points at {pointer['run_id']}" if pointer
                                                             else "no published run yet"))
    if not repair:
        return Finding("latest.json", False, f"{where}: {problem}")
    runs = sorted({o.key.split("/")[1] for o in storage.list("runs/") if o.key.endswith("/" + MANIFEST_NAME)})
    if not runs:
        storage.delete(LATEST_KEY)
        return Finding("latest.json", False, f"{where}: {problem}", "deleted: no complete run to point at")
    manifest = json.loads(storage.get(run_prefix(runs[-1]) + MANIFEST_NAME))
    promote_run(storage, runs[-1], manifest.get("finished_at", ""))
    return Finding("latest.json", False, f"{where}: {problem}", f"pointed at {runs[-1]}, the newest complete run")


def _complete(storage, run_id: str) -> bool:
    return any(True for _ in storage.list(run_prefix(run_id) + MANIFEST_NAME))


def doctor(settings: Settings, *, repair: bool = False) -> list[Finding]:
    """Check (and with ``repair``, mend) the catalog, the embedding cache and ``latest.json``, holding the
    state's lock so no run changes them meanwhile."""
    with run_lock(settings.state_dir):
        return [check_catalog(settings, repair), check_cache(settings), check_latest(settings, repair)]
