"""The embedding cache: Parquet parts of float32 unit vectors keyed by text hash, one folder per model+backend.

A part is written to a temp file and renamed, so a killed run loses at most the batch in flight, and
identical passages, in this run or any earlier one, are embedded once. Different models or backends never
share a folder, so their vectors can never be mixed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.infra.storage import atomic_write


class EmbeddingCache:
    """The Parquet parts of one model+backend."""

    def __init__(self, root: Path, key: str) -> None:
        self.dir = root / key
        self.key = key

    def parts(self) -> list[str]:
        """Committed part files (temp files of a killed write are not parts)."""
        return sorted(str(p) for p in self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    def write_part(self, hashes: Sequence[str], vectors: np.ndarray) -> Path:
        """Commit one batch of vectors atomically."""
        dim = vectors.shape[1]
        table = pa.table({
            "text_hash": pa.array(list(hashes), pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim),
        })
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        path = self.dir / f"part-{time.time_ns():x}-{os.getpid()}.parquet"
        atomic_write(path, sink.getvalue().to_pybytes())
        return path
