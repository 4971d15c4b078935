"""Curate stage: a person's renames, merges and phrase splits (`tasks.core.curation`), re-applied to this run.

The HTTP API writes each event as one file in the state folder's journal (``<state>/curation/<event_id>.json``,
never edited; a withdrawal is an event of its own) without opening the catalog a run may hold. This stage
imports the journal into the catalog's ``curation_events`` (importing again changes nothing), then applies the
events in force to the cluster stage's labels *before* anything is mapped or summarised, so a merged theme is
laid out, named and published as one. It leaves ``curation.json`` for the lineage stage: the pins (a merged
theme -> its destination's id), the renames and the marks the report shows. The cluster stage's own labels are
kept aside (``clustering_uncurated.npz``), so a resumed run curates them, not its own earlier result.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tasks.core.curation import KINDS, CurationEvent, active_events, apply_curation, renames
from tasks.core.lineage import PreviousRun
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.params import LineageParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.infra.storage import atomic_write
from tasks.lineage import lineage_of

JOURNAL = "curation"


def journal_dir(state_dir: Path) -> Path:
    """Where the API writes a state folder's curation events."""
    return Path(state_dir) / JOURNAL


def write_event(state_dir: Path, kind: str, payload: dict) -> CurationEvent:
    """Add an event to a state folder's journal (one new file, written atomically); the next run applies it."""
    now = datetime.now(UTC)
    event = CurationEvent(f"e{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}", kind, now.isoformat(), payload)
    doc = {"event_id": event.event_id, "kind": kind, "created_at": event.created_at, "payload": payload}
    atomic_write(journal_dir(state_dir) / f"{event.event_id}.json", json.dumps(doc, ensure_ascii=False).encode())
    return event


def read_journal(folder: Path) -> list[CurationEvent]:
    """The journal's events; a file that does not parse as one is skipped with a warning (and left there)."""
    events = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            event = CurationEvent(str(doc["event_id"]), str(doc["kind"]), str(doc["created_at"]), dict(doc["payload"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            stage_logger().warning(f"curate: skipped {path.name}: not a curation event ({exc})")
            continue
        if event.kind not in KINDS or event.event_id != path.stem:
            stage_logger().warning(f"curate: skipped {path.name}: unknown kind {event.kind!r} or a renamed file")
            continue
        events.append(event)
    return events


def catalog_events(catalog: Catalog, journal: list[CurationEvent], run_id: str) -> list[CurationEvent]:
    """Import the journal's events (idempotent) and return every event the catalog holds."""
    with catalog.transaction() as tx:
        for e in journal:
            tx.run("insert_curation_event", {"event_id": e.event_id, "kind": e.kind, "created_at": e.created_at,
                                             "payload": json.dumps(e.payload, sort_keys=True), "run_id": run_id})
    return [CurationEvent(eid, kind, created, json.loads(payload))
            for eid, kind, created, payload in catalog.rows("select_curation_events")]


def predecessors(run: RunRef, theme: np.ndarray, previous: PreviousRun | None) -> list[str | None]:
    """Per theme label, the previous run's theme that held most of its chunks (more than half of those the
    previous run clustered), else None."""
    n = int(theme.max()) + 1 if theme.size and theme.max() >= 0 else 0
    if previous is None or n == 0:
        return [None] * n
    keys = pq.read_table(run.corpus_path, columns=["chunk_id"]).column("chunk_id").to_pylist()
    before = dict(zip(previous.keys.tolist(), previous.theme_ids.tolist(), strict=True))
    names = sorted({t for t in previous.theme_ids.tolist() if t is not None})
    code = {name: i for i, name in enumerate(names)}
    was = np.fromiter((code.get(before.get(k), -1) for k in keys), np.int64, count=len(keys))
    ok = (theme >= 0) & (was >= 0)
    counts = np.zeros((n, len(names) + 1), np.int64)
    np.add.at(counts, (theme[ok], was[ok]), 1)
    best = counts.argmax(axis=1)
    return [names[b] if counts[t, b] * 2 > counts[t].sum() else None for t, b in enumerate(best)]


@stage_task(name="curate")
def curate_task(run: RunRef, settings: Settings, params: LineageParams) -> dict:
    """Re-apply the curation events in force: merges and phrase splits to the labels, renames and marks for the
    lineage stage."""
    log = stage_logger()
    with stopwatch() as timing:
        with open_catalog(settings.catalog_path) as catalog:
            events = active_events(catalog_events(catalog, read_journal(journal_dir(settings.state_dir)),
                                                  run.run_id))
        if run.uncurated_path.is_file():  # a resumed run: start again from the cluster stage's labels
            shutil.copyfile(run.uncurated_path, run.clustering_path)
        clustering = dict(np.load(run.clustering_path))
        doc: dict = {"renamed": renames(events), "pinned": {}, "marks": {}, "applied": []}
        if any(e.kind in ("merge", "split") for e in events):
            shutil.copyfile(run.clustering_path, run.uncurated_path)
            provisional, _, _, previous = lineage_of(run, settings, params, clustering["theme"],
                                                     clustering["subtheme"], clustering["subtheme_theme"])
            phrases = np.load(run.phrases_path)
            curated = apply_curation(clustering["theme"], clustering["subtheme"], clustering["subtheme_theme"],
                                     provisional.theme_ids, phrases["label"], phrases["key"], events,
                                     predecessors(run, clustering["theme"], previous))
            clustering.update(theme=curated.theme, subtheme=curated.subtheme, subtheme_theme=curated.subtheme_theme)
            np.savez(run.clustering_path, **clustering)
            doc.update(pinned={str(k): v for k, v in curated.pinned.items()},
                       marks={str(k): v for k, v in curated.marks.items()}, applied=curated.applied)
        run.curation_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    theme = clustering["theme"]
    themes = int(theme.max()) + 1 if theme.size and theme.max() >= 0 else 0
    noise = int((theme < 0).sum())
    if events:
        log.info(f"curate: {len(events)} curation events in force, {len(doc['applied'])} changed this run's "
                 f"themes ({themes} themes now)")
    return {"events": len(events), "applied": len(doc["applied"]), "themes": themes,
            "subthemes": int(len(clustering["subtheme_theme"])), "noise_chunks": noise,
            "noise_pct": round(100 * noise / theme.size, 2) if theme.size else 0.0, "seconds": timing["seconds"]}
