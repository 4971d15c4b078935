"""A run's identity and its scratch folder: ids, the file names of the stages' hand-offs, the run lock.

Stages hand each other references, not data: every intermediate lives in ``<state>/runs/<run_id>/``
under one of the names below, and `RunRef` is the only way code builds those paths.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tasks.infra.errors import CatalogError, ConfigError

RUN_ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$")


@dataclass(frozen=True)
class RunRef:
    """What every stage needs to find a run's state: its id, scratch folder and the run it follows.

    ``previous_run_id`` is the run ``latest.json`` pointed at when this run started (None before the first
    published run): resolved once, so the cluster, lineage and report stages compare with the same run.
    """

    run_id: str
    scratch: str
    started_at: str
    previous_run_id: str | None = None

    def path(self, name: str) -> Path:
        """A file in the run's scratch folder."""
        return Path(self.scratch) / name

    @property
    def corpus_path(self) -> Path:
        """The run's frozen chunk list (row order shared by every later stage): Parquet."""
        return self.path("corpus.parquet")

    @property
    def embeddings_path(self) -> Path:
        """float32 (n, d) unit vectors in corpus row order: ``.npy``."""
        return self.path("embeddings.npy")

    @property
    def graph_path(self) -> Path:
        """The kNN graph: ``.npz`` with ``indices`` and ``distances``."""
        return self.path("knn.npz")

    @property
    def facet_path(self) -> Path:
        """The instruction's facet (``tasks.core.steering``): ``.npz`` with ``basis`` and ``phrases``."""
        return self.path("facet.npz")

    @property
    def clustering_path(self) -> Path:
        """Labels: ``.npz`` with ``theme``, ``subtheme`` and ``subtheme_theme``."""
        return self.path("clustering.npz")

    @property
    def coords_path(self) -> Path:
        """float32 (n, 2) map positions: ``.npy``."""
        return self.path("coords.npy")

    @property
    def uncurated_path(self) -> Path:
        """The cluster stage's labels as it left them, kept by the curate stage (a resumed run curates these)."""
        return self.path("clustering_uncurated.npz")

    @property
    def curation_path(self) -> Path:
        """What the curate stage hands the lineage stage (pins, renames, marks): JSON."""
        return self.path("curation.json")

    @property
    def phrases_path(self) -> Path:
        """Near-duplicate groups: ``.npz`` with ``label`` per row and ``leader``, ``size``, ``variants``."""
        return self.path("phrases.npz")

    @property
    def summaries_path(self) -> Path:
        """Headers, keyphrases and central passages of every cluster: JSON."""
        return self.path("summaries.json")

    @property
    def centrality_path(self) -> Path:
        """float32 (n,) cosine of each chunk to its theme's centroid: ``.npy``."""
        return self.path("centrality.npy")

    @property
    def lineage_path(self) -> Path:
        """Stable ids and lineage events against the previous run: JSON."""
        return self.path("lineage.json")

    @property
    def centroids_path(self) -> Path:
        """Theme and subtheme centroids: ``.npz``."""
        return self.path("centroids.npz")

    @property
    def themes_path(self) -> Path:
        """The run's ``themes.json`` as published."""
        return self.path("themes.json")

    @property
    def assignments_path(self) -> Path:
        """The run's ``assignments.parquet`` as published."""
        return self.path("assignments.parquet")

    @property
    def manifest_path(self) -> Path:
        """The run's manifest, written to the output last, by the finish stage."""
        return self.path("manifest.json")

    def drop_large_files(self) -> None:
        """Delete a published run's large intermediates (~1.5 GB per million chunks); the small records stay."""
        for path in (self.embeddings_path, self.graph_path, self.assignments_path):
            path.unlink(missing_ok=True)


def new_run_id(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxx``: sorts by time, unique across concurrent starts."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """A run id given from outside (the HTTP API picks it before the flow starts), checked against
    `new_run_id`'s shape so it can never name a path outside ``runs/``.

    Raises:
        ConfigError: the id does not have that shape.
    """
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise ConfigError(f"run id {run_id!r} is not of the form YYYYMMDDTHHMMSSZ-xxxx (hex)")
    return run_id


def utc_now() -> str:
    """Current UTC time, ISO 8601 with a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scratch_dir(state_dir: Path, run_id: str) -> Path:
    """The scratch folder of a run under the state folder."""
    return state_dir / "runs" / run_id


#: Locks this process holds, by (state folder, thread): taking one again in the same thread only nests.
_HELD: dict[tuple[Path, int], int] = {}


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state folder's lock for a whole run; a second run refuses with a clear message.

    The lock nests within one thread, so the CLI can take it before Prefect starts (three runs started at
    once: two refuse at once, before any of them touches Prefect's database) and the flow take it again.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    key = (state_dir.resolve(), threading.get_ident())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    path = state_dir / "run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise CatalogError(
                f"another themesift run ({holder}) is using {state_dir}; wait for it to finish or point "
                "THEMESIFT_STATE_DIR elsewhere"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            fcntl.flock(handle, fcntl.LOCK_UN)
