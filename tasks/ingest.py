"""Ingest stage: list the bucket, read only new or changed objects, decode them into documents.

Change detection compares each listed object's ETag and size (and, once read, its content hash) with the
catalog, so an unchanged object is never fetched again. Objects are committed in groups (at most
`GROUP_OBJECTS` objects and `GROUP_BYTES`), each group's documents, skips and catalog rows in one transaction
with one statement per table: a run killed mid-way leaves every object either fully ingested or not at all.
Objects that vanished from the listing leave the corpus (their documents and chunks are dropped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tasks.core.decode import Decoded, DecodeOptions, Skip, decode_object
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.errors import ConfigError, StorageError, UnsafeKeyError
from tasks.infra.params import IngestParams
from tasks.infra.progress import Progress, stage_progress
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.infra.storage import ObjectInfo, Storage, check_key, content_hash, nested_prefix, open_storage

#: Objects committed in one transaction, at most ... (the default of ``THEMESIFT_INGEST_COMMIT_SIZE``)
GROUP_OBJECTS = 64
#: ... and at most this many bytes of them (listed sizes), so a group never holds much decoded text in memory.
GROUP_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class IngestSummary:
    """Counts of one ingest (small enough to pass between tasks and put in the manifest)."""

    objects_listed: int
    objects_new: int
    objects_changed: int
    objects_unchanged: int
    objects_deleted: int
    objects_skipped: int
    records_skipped: int
    objects_read: int
    documents: int
    encoded_lines_left_out: int = 0  # in the objects read this run (`tasks.core.decode.without_encoded`)

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict."""
        return dataclasses.asdict(self)


def decode_options(params: IngestParams) -> DecodeOptions:
    """The decoding knobs of a run."""
    return DecodeOptions(params.text_field, params.id_field, params.csv_text_column, params.html_mode)


def list_objects(storage: Storage, params: IngestParams) -> list[ObjectInfo]:
    """List objects under ``params.prefix``, restricted to ``params.files`` when given.

    Raises:
        ConfigError: when a file named in ``files`` is not in the bucket.
    """
    listing = list(storage.list(params.prefix))
    if params.files is None:
        return listing
    wanted = {f if f.startswith(params.prefix) else params.prefix + f for f in params.files}
    found = [o for o in listing if o.key in wanted]
    missing = sorted(wanted - {o.key for o in found})
    if missing:
        raise ConfigError(f"files not found under {storage.url}: {', '.join(missing[:10])}")
    return found


def document_id(object_key: str, record_no: int | None, record_id: str | None) -> str:
    """A stable document id from the object key and the record's position or id."""
    raw = f"{object_key}\x00{record_no if record_id is None else 'id:' + record_id}"
    return "d_" + hashlib.blake2b(raw.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class IngestPlan:
    """What one ingest must do: the listing and the catalog's rows of the objects to read."""

    listing: list[ObjectInfo]
    changes: int
    to_read: list[tuple]
    options: DecodeOptions

    def infos(self) -> list[ObjectInfo]:
        """The objects to read, as listed."""
        return [ObjectInfo(key, size, etag, modified) for key, size, etag, modified, *_ in self.to_read]


def plan_ingest(storage: Storage, catalog: Catalog, params: IngestParams, exclude: str | None = None) -> IngestPlan:
    """List the bucket and compare the listing with the catalog: which objects are new or changed."""
    listing = [o for o in list_objects(storage, params) if not (exclude and o.key.startswith(exclude))]
    options = decode_options(params)
    catalog.run("create_listing", listing_input=_listing_table(listing, options))
    changes = catalog.rows("select_object_changes")
    return IngestPlan(listing, len(changes), [row for row in changes if row[4] != "unchanged"], options)


def commit_objects(catalog: Catalog, run_id: str, results: Sequence[tuple[tuple, str | None, Decoded]],
                   options: DecodeOptions, counts: dict[str, int]) -> None:
    """Record a group of read objects ((catalog row from the plan, content hash, decoded) each) in one
    transaction, with one statement per table for the whole group, and count them."""
    stored = []
    with catalog.transaction():
        for row, digest, decoded in results:
            key, size, etag, modified, change, status, old_hash, same_decoding = row
            counts["read"] += digest is not None
            counts["encoded_lines"] += decoded.encoded_lines
            if (change == "changed" and same_decoding and digest is not None and digest == old_hash
                    and status != "deleted"):
                # Same bytes under a new ETag: its documents and chunks are still right.
                counts["touched"] += 1
                catalog.run("update_object_listing", {"key": key, "size": size, "etag": etag,
                                                      "last_modified": modified, "run_id": run_id})
            else:
                counts[change] += 1
                stored.append((ObjectInfo(key, size, etag, modified), digest, decoded))
        if stored:
            _store_objects(catalog, run_id, stored, options)


def close_ingest(catalog: Catalog, run_id: str, params: IngestParams, plan: IngestPlan,
                 counts: dict[str, int]) -> IngestSummary:
    """After every object is committed: drop the vanished ones, record the run's corpus, count it."""
    deleted = [] if params.files is not None else [r[0] for r in catalog.rows("select_deleted_objects",
                                                                              {"prefix": params.prefix})]
    if deleted:
        with catalog.transaction():
            keys = _keys_table(deleted)
            _forget_objects(catalog, keys)
            catalog.run("mark_objects_deleted", {"run_id": run_id}, keys_input=keys)
    with catalog.transaction():
        catalog.run("delete_run_objects", {"run_id": run_id})
        catalog.run("insert_run_objects", {"run_id": run_id})
    skipped_objects, skipped_records, documents = _corpus_counts(catalog, run_id)
    return IngestSummary(
        objects_listed=len(plan.listing), objects_new=counts["new"], objects_changed=counts["changed"],
        objects_unchanged=plan.changes - len(plan.to_read) + counts["touched"], objects_deleted=len(deleted),
        objects_skipped=skipped_objects, records_skipped=skipped_records, objects_read=counts["read"],
        documents=documents, encoded_lines_left_out=counts["encoded_lines"],
    )


def new_counts() -> dict[str, int]:
    """The running counts `commit_objects` keeps."""
    return {"new": 0, "changed": 0, "touched": 0, "read": 0, "encoded_lines": 0}


def ingest_bucket(storage: Storage, catalog: Catalog, *, run_id: str, params: IngestParams,
                  progress: Progress | None = None, exclude: str | None = None,
                  group_objects: int = GROUP_OBJECTS) -> IngestSummary:
    """Bring the catalog up to date with the bucket and record the run's corpus.

    Args:
        storage: the bucket.
        catalog: an open catalog.
        run_id: the run being built (its ``run_objects`` rows are rewritten).
        params: prefix, files, decoding knobs and the size cap.
        progress: called with (objects done, objects to read).
        exclude: a key prefix never read (the output location, when it lies inside the bucket).
        group_objects: most objects committed in one transaction.
    """
    plan = plan_ingest(storage, catalog, params, exclude)
    counts = new_counts()
    infos = plan.infos()
    if progress:
        progress(0, len(infos))
    for group in commit_groups(infos, max_objects=group_objects):
        results = [(plan.to_read[i], *read_and_decode(storage, infos[i], plan.options, params.max_object_mb))
                   for i in group]
        commit_objects(catalog, run_id, results, plan.options, counts)
        if progress:
            progress(group[-1] + 1, len(infos))
    return close_ingest(catalog, run_id, params, plan, counts)


def commit_groups(infos: Sequence[ObjectInfo], *, max_objects: int = GROUP_OBJECTS,
                  max_bytes: int = GROUP_BYTES) -> list[list[int]]:
    """Indices of ``infos`` cut, in order, into groups of at most ``max_objects`` objects and ``max_bytes``
    (an object larger than that is a group of its own): the objects committed in one transaction."""
    cuts: list[list[int]] = []
    size = 0
    for i, info in enumerate(infos):
        if not cuts or len(cuts[-1]) >= max_objects or size + info.size > max_bytes:
            cuts.append([])
            size = 0
        cuts[-1].append(i)
        size += info.size
    return cuts


def _listing_table(listing: list[ObjectInfo], options: DecodeOptions) -> pa.Table:
    return pa.table({
        "decode_config": pa.array([options.fingerprint(o.key) for o in listing], pa.string()),
        "key": pa.array([o.key for o in listing], pa.string()),
        "size": pa.array([o.size for o in listing], pa.int64()),
        "etag": pa.array([o.etag for o in listing], pa.string()),
        "last_modified": pa.array([o.last_modified for o in listing], pa.float64()),
    })


def read_and_decode(storage: Storage, info: ObjectInfo, options: DecodeOptions,
                     max_mb: float) -> tuple[str | None, Decoded]:
    """Fetch and decode one object; every problem becomes a whole-object skip. Returns (hash, decoded)."""
    try:
        check_key(info.key)
    except UnsafeKeyError as exc:
        return None, Decoded([], [Skip("unsafe_key", str(exc))])
    if info.size > max_mb * 1024 * 1024:
        return None, Decoded([], [Skip("too_large", f"{info.size:,} bytes is over max_object_mb={max_mb:g}")])
    try:
        data = storage.get(info.key)
    except UnsafeKeyError as exc:
        return None, Decoded([], [Skip("unsafe_key", str(exc))])
    except StorageError as exc:
        return None, Decoded([], [Skip("read_error", str(exc))])
    return content_hash(data), decode_object(info.key, data, options)


def _keys_table(keys: Sequence[str]) -> pa.Table:
    return pa.table({"key": pa.array(list(keys), pa.string())})


def _forget_objects(catalog: Catalog, keys: pa.Table) -> None:
    """Drop the chunks, documents and skips of the objects in ``keys`` (inside the caller's transaction)."""
    for name in ("delete_objects_chunks", "delete_objects_documents", "delete_objects_skips"):
        catalog.run(name, keys_input=keys)


def _store_objects(catalog: Catalog, run_id: str, stored: list[tuple[ObjectInfo, str | None, Decoded]],
                   options: DecodeOptions) -> None:
    """Replace everything the catalog holds for a group of objects (inside the caller's transaction)."""
    keys = _keys_table([info.key for info, _, _ in stored])
    _forget_objects(catalog, keys)
    catalog.run("delete_objects", keys_input=keys)
    documents = [_documents_table(info.key, decoded) for info, _, decoded in stored if decoded.records]
    if documents:
        catalog.run("insert_documents", documents_input=pa.concat_tables(documents))
    skips = [_skips_table(info.key, decoded.skips, run_id) for info, _, decoded in stored if decoded.skips]
    if skips:
        catalog.run("insert_skips", skips_input=pa.concat_tables(skips))
    catalog.run("insert_objects", objects_input=pa.table({
        "key": keys.column("key"),
        "size": pa.array([info.size for info, _, _ in stored], pa.int64()),
        "etag": pa.array([info.etag for info, _, _ in stored], pa.string()),
        "last_modified": pa.array([info.last_modified for info, _, _ in stored], pa.float64()),
        "content_hash": pa.array([digest for _, digest, _ in stored], pa.string()),
        "decode_config": pa.array([options.fingerprint(info.key) for info, _, _ in stored], pa.string()),
        "status": pa.array(["ok" if decoded.records else "skipped" for _, _, decoded in stored], pa.string()),
        "n_documents": pa.array([len(decoded.records) for _, _, decoded in stored], pa.int32()),
        "updated_run": pa.array([run_id] * len(stored), pa.string()),
    }))


def _documents_table(key: str, decoded: Decoded) -> pa.Table:
    recs = decoded.records
    return pa.table({
        "doc_id": [document_id(key, r.record_no, r.record_id) for r in recs],
        "object_key": [key] * len(recs),
        "record_no": pa.array([r.record_no for r in recs], pa.int32()),
        "record_id": pa.array([r.record_id for r in recs], pa.string()),
        "text": [r.text for r in recs],
        "n_chars": pa.array([len(r.text) for r in recs], pa.int32()),
        "metadata": [json.dumps(r.metadata, ensure_ascii=False, default=str) for r in recs],
    })


def _skips_table(key: str, skips: list[Skip], run_id: str) -> pa.Table:
    return pa.table({
        "object_key": [key] * len(skips),
        "record_no": pa.array([s.record_no for s in skips], pa.int32()),
        "reason": [s.reason for s in skips],
        "detail": [s.detail for s in skips],
        "run_id": [run_id] * len(skips),
    })


def _corpus_counts(catalog: Catalog, run_id: str) -> tuple[int, int, int]:
    """(skipped objects, skipped records, documents) for the run's listed objects."""
    skips = catalog.rows("select_run_skips", {"run_id": run_id})
    whole = sum(1 for s in skips if s[1] is None)
    documents = catalog.rows("count_run_documents", {"run_id": run_id})[0][0]
    return whole, len(skips) - whole, documents


def excluded_prefix(settings: Settings, log: Any) -> str | None:
    """The key prefix ingest never reads: the output location when it lies inside the bucket (with a warning)."""
    inside = nested_prefix(settings.bucket_url, settings.output_url)
    if inside:
        log.warning(f"ingest: the output location is inside the bucket, under {inside!r}: its objects are not "
                    "read as documents (better: publish outside the bucket)")
    return inside


def summary_line(summary: IngestSummary) -> str:
    """The stage's closing log line."""
    return (f"ingest: {summary.objects_listed:,} objects listed ({summary.objects_new:,} new, "
            f"{summary.objects_changed:,} changed, {summary.objects_unchanged:,} unchanged, "
            f"{summary.objects_deleted:,} deleted); {summary.objects_skipped:,} objects and "
            f"{summary.records_skipped:,} records skipped; {summary.documents:,} documents"
            + (f"; {summary.encoded_lines_left_out:,} lines of encoded binary (uuencode, base64) left out of the "
               "objects read" if summary.encoded_lines_left_out else ""))


@stage_task(name="ingest")
def ingest_task(run: RunRef, settings: Settings, params: IngestParams) -> dict:
    """List the bucket, read new and changed objects, record skips and the run's corpus."""
    log = stage_logger()
    with stopwatch() as timing:
        storage = open_storage(settings.bucket_url, settings=settings)
        exclude = excluded_prefix(settings, log)
        with open_catalog(settings.catalog_path) as catalog:
            summary = ingest_bucket(storage, catalog, run_id=run.run_id, params=params,
                                    progress=stage_progress("ingest", log, "objects"), exclude=exclude,
                                    group_objects=settings.ingest_commit_size)
    log.info(summary_line(summary))
    return {**summary.as_dict(), "seconds": timing["seconds"]}
