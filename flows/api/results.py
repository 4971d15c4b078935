"""What a finished job published: its ``themes.json`` in Telnyx's fetch shape, its graph PNGs, deleting it.

A complete run folder never changes, so parsed ``themes.json`` documents are kept in a small in-process
cache: a fetch of a finished job reads no file and asks Prefect nothing (the job record is cached too).
Storage calls block, so routes run these functions in a worker thread.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from threading import Lock
from typing import Any

from tasks.infra.errors import BucketNotFoundError
from tasks.infra.outputs import delete_run_folder, run_prefix
from tasks.infra.settings import Settings
from tasks.infra.storage import open_storage

#: Parsed themes.json documents kept in memory (most recently used).
THEMES_CACHE_ENTRIES = 16
#: Finished fetches kept as response bytes (a task x top_n_nodes x show_subclusters each).
RESPONSE_CACHE_ENTRIES = 512
CLUSTER_ID = re.compile(r"^t[0-9]{1,9}$")


class RunOutputs:
    """Reads (and deletes) the published outputs of the API's runs."""

    def __init__(self, settings: Settings, entries: int = THEMES_CACHE_ENTRIES) -> None:
        self.settings = settings
        self.entries = entries
        self._themes: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._lock = Lock()

    def themes(self, output_url: str, run_id: str) -> dict | None:
        """The run's ``themes.json`` (None when the run folder has none: deleted, or never published)."""
        key = (output_url, run_id)
        with self._lock:
            if key in self._themes:
                self._themes.move_to_end(key)
                return self._themes[key]
        try:
            doc = json.loads(open_storage(output_url, settings=self.settings).get(run_prefix(run_id) + "themes.json"))
        except Exception:  # noqa: BLE001 - a missing or unreadable run folder is "no result", shown as 404
            return None
        with self._lock:
            self._themes[key] = doc
            while len(self._themes) > self.entries:
                self._themes.popitem(last=False)
        return doc

    def graph_png(self, output_url: str, run_id: str, cluster_id: str | None) -> bytes | None:
        """The run's ``graph.png``, or one theme's ``graphs/<cluster_id>.png``; None when there is none."""
        if cluster_id is not None and not CLUSTER_ID.fullmatch(cluster_id):
            return None
        name = "graph.png" if cluster_id is None else f"graphs/{cluster_id}.png"
        try:
            return open_storage(output_url, settings=self.settings).get(run_prefix(run_id) + name)
        except Exception:  # noqa: BLE001 - absent (no such theme, a run without themes) is a 404
            return None

    def delete(self, output_url: str, run_id: str) -> None:
        """Delete the run's output folder (its bucket's embeddings and graphs in the state folder stay)."""
        with self._lock:
            self._themes.pop((output_url, run_id), None)
        try:
            storage = open_storage(output_url, settings=self.settings)
        except BucketNotFoundError:
            return  # the bucket's first run failed before publishing: nothing to delete
        delete_run_folder(storage, run_id)


class ResponseCache:
    """Response bodies of finished jobs, which never change: a repeated fetch is a dictionary lookup, not a
    reshaping and re-encoding of the clusters (what keeps a fetch cheap under load)."""

    def __init__(self, entries: int = RESPONSE_CACHE_ENTRIES) -> None:
        self.entries = entries
        self._bodies: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        with self._lock:
            self._bodies[key] = body
            while len(self._bodies) > self.entries:
                self._bodies.popitem(last=False)

    def drop(self, task_id: str) -> None:
        """Forget every response of a task (it was deleted)."""
        with self._lock:
            for key in [k for k in self._bodies if k[0] == task_id]:
                del self._bodies[key]


def shape_cluster(cluster: dict[str, Any], top_n_nodes: int, show_subclusters: bool) -> dict[str, Any]:
    """One theme as a fetch returns it: its ``top_n_nodes`` most central passages (they are stored most central
    first), and its subthemes, shaped the same way, only when ``show_subclusters``."""
    shaped = dict(cluster)
    shaped["nodes"] = sorted(cluster.get("nodes", []), key=lambda n: -(n.get("centrality") or 0.0))[:top_n_nodes]
    shaped["subclusters"] = ([shape_cluster(c, top_n_nodes, True) for c in cluster.get("subclusters", [])]
                             if show_subclusters else [])
    return shaped


def shape_clusters(themes: dict[str, Any], top_n_nodes: int, show_subclusters: bool) -> list[dict[str, Any]]:
    """Every theme of a ``themes.json``, largest first, shaped for a fetch."""
    clusters = sorted(themes.get("clusters", []), key=lambda c: -c.get("total_number_of_nodes", 0))
    return [shape_cluster(c, top_n_nodes, show_subclusters) for c in clusters]
