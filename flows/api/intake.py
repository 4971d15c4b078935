"""Requests the API has accepted but not yet turned into flow runs.

A POST must answer at once, yet creating a flow run waits on the Prefect server (on SQLite, behind every write
the running flows make: 20 POSTs at once took up to 9 s each to be created). So a POST only writes its request
to a journal folder (one small JSON file, flushed to disk, renamed into place) and answers; one background task
per queue turns the journal into flow runs in the order the requests came, retrying while Prefect is away.

Nothing accepted is lost: the journal outlives a crash or a restart, and `Intake.load` picks it up again. The
task id is the flow run's idempotency key, so a request replayed after its flow run was made (a crash between the
two steps, or two API processes over one state folder) finds that run instead of making another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prefect.exceptions import PrefectException

log = logging.getLogger("themesift.api")
#: Longest pause between two tries at creating a flow run while Prefect does not answer.
MAX_BACKOFF_S = 30.0


@dataclass
class Accepted:
    """One accepted request: everything its flow run will be created with."""

    task_id: str
    bucket: str
    parameters: dict[str, Any]
    tags: list[str]
    accepted_at: datetime
    refusal: str | None = None  # why Prefect refused to create its flow run (it never will)
    withdrawn: bool = field(default=False, compare=False)

    def to_json(self) -> str:
        fields = asdict(self)
        fields.pop("withdrawn")
        return json.dumps({**fields, "accepted_at": self.accepted_at.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> Accepted:
        raw = json.loads(text)
        return cls(task_id=str(raw["task_id"]), bucket=str(raw["bucket"]), parameters=dict(raw["parameters"]),
                   tags=[str(t) for t in raw["tags"]], accepted_at=datetime.fromisoformat(raw["accepted_at"]),
                   refusal=raw.get("refusal"))


class Refused(Exception):
    """Prefect answered that this request's flow run cannot be created (not that it is away)."""


class Intake:
    """The journal of one queue's accepted requests (``folder``) and the task that makes them flow runs through
    ``create`` (which returns once the flow run exists)."""

    def __init__(self, folder: Path, create: Callable[[Accepted], Awaitable[None]]) -> None:
        self.folder = folder
        self.create = create
        self.entries: dict[str, Accepted] = {}  # accepted order: dicts keep insertion order
        self.refused: dict[str, Accepted] = {}  # kept, with the reason, until deleted
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def load(self) -> None:
        """Read the journal a previous process left (oldest first); an unreadable entry is set aside as
        ``<name>.unreadable`` and logged, not dropped."""
        self.folder.mkdir(parents=True, exist_ok=True)
        found = []
        for path in self.folder.glob("*.json"):
            try:
                found.append(Accepted.from_json(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning(f"accepted request {path.name} could not be read ({exc!r:.200}); set aside")
                path.replace(path.with_suffix(".unreadable"))
        for entry in sorted(found, key=lambda e: e.accepted_at):
            (self.refused if entry.refusal else self.entries)[entry.task_id] = entry
        found = [e for e in found if not e.refusal]
        if found:
            log.info(f"{len(found)} accepted request(s) from before the restart queued again")
            self._wake.set()

    def path(self, task_id: str) -> Path:
        return self.folder / f"{task_id}.json"

    def accept(self, entry: Accepted) -> None:
        """Write the request to the journal (on disk before this returns) and queue it."""
        self.write(entry)
        self.enqueue(entry)

    def enqueue(self, entry: Accepted) -> None:
        """Queue a request already written (on the event loop's thread: the wake-up event is not thread-safe)."""
        self.entries[entry.task_id] = entry
        self._wake.set()

    def write(self, entry: Accepted) -> None:
        """Put the request on disk, flushed, under its final name (safe to call from a worker thread)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(entry.task_id)
        scratch = final.with_suffix(".tmp")
        with scratch.open("w") as sink:
            sink.write(entry.to_json())
            sink.flush()
            os.fsync(sink.fileno())
        scratch.replace(final)

    def withdraw(self, task_id: str) -> Accepted | None:
        """Take a request out of the queue (a DELETE before its flow run exists). When its flow run is being
        created at this moment, ``withdrawn`` tells the creator to delete it."""
        entry = self.entries.pop(task_id, None) or self.refused.pop(task_id, None)
        if entry is not None:
            entry.withdrawn = True
            self.path(task_id).unlink(missing_ok=True)
        return entry

    def start(self) -> None:
        self.load()
        self._task = asyncio.create_task(self.run(), name=f"intake {self.folder.name}")

    async def stop(self) -> None:
        """Stop creating flow runs; what is left stays in the journal for the next start."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run(self) -> None:
        """Create the queued requests' flow runs, oldest first, one at a time, until cancelled."""
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.entries:
                entry = next(iter(self.entries.values()))
                try:
                    await self.create(entry)
                except asyncio.CancelledError:
                    raise
                except Refused as exc:
                    log.warning(f"the flow run of task {entry.task_id} was refused: {exc}")
                    if self.entries.get(entry.task_id) is entry:
                        del self.entries[entry.task_id]
                        entry.refusal = str(exc)
                        self.refused[entry.task_id] = entry
                        self.write(entry)
                    continue
                except (httpx.HTTPError, PrefectException, OSError) as exc:  # Prefect away: keep it, try later
                    failures += 1
                    pause = min(MAX_BACKOFF_S, 0.5 * 2 ** min(failures, 6))
                    log.warning(f"could not create the flow run of task {entry.task_id} ({exc!r:.300}); "
                                f"{len(self.entries)} request(s) wait; next try in {pause:.0f} s")
                    await asyncio.sleep(pause)
                    continue
                failures = 0
                if self.entries.get(entry.task_id) is entry:
                    del self.entries[entry.task_id]
                    self.path(entry.task_id).unlink(missing_ok=True)
