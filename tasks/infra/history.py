"""What the catalog remembers of a published run: its chunks' theme ids and its clusters.

The cluster stage reads the previous run's themes (to prefer a stable cut) and the lineage stage reads its
ids, sizes and centroids (to keep ids stable); both read them here, for the run resolved once at start.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.infra.catalog import Catalog


def run_assignments(catalog: Catalog, run_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's chunk ids (str), theme ids and subtheme ids (object arrays; None = noise/none), in chunk id order."""
    rows = catalog.rows("select_run_assignments", {"run_id": run_id})
    return (np.array([r[0] for r in rows], dtype=str), np.array([r[1] for r in rows], dtype=object),
            np.array([r[2] for r in rows], dtype=object))


def run_clusters(catalog: Catalog, run_id: str) -> dict[str, dict[str, Any]]:
    """A run's clusters: id -> parent_id, level, size, header, centroid (float32 or None); empty when unknown."""
    return {cid: {"parent_id": parent, "level": level, "size": int(size), "header": header,
                  "centroid": None if cent is None else np.asarray(cent, dtype=np.float32)}
            for cid, parent, level, size, header, cent in catalog.rows("select_run_clusters", {"run_id": run_id})}


def theme_per_chunk(catalog: Catalog, run_id: str, chunk_ids: list[str]) -> np.ndarray | None:
    """int64 (n,): the theme (numbered by sorted id) each given chunk had in a run; -1 for none or new.

    None when the catalog holds no clusters of that run.
    """
    if not run_clusters(catalog, run_id):
        return None
    keys, theme_ids, _ = run_assignments(catalog, run_id)
    ids = sorted({t for t in theme_ids if t is not None})
    number = {t: i for i, t in enumerate(ids)}
    theme_of = {k: number[t] for k, t in zip(keys, theme_ids, strict=True) if t is not None}
    return np.fromiter((theme_of.get(k, -1) for k in chunk_ids), dtype=np.int64, count=len(chunk_ids))
