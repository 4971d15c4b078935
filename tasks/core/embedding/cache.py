"""The embedding cache: Parquet parts of float32 unit vectors keyed by text hash, one folder per model+backend.

A part is written to a temp file and renamed, so a killed run loses at most the batch in flight, and
identical passages, in this run or any earlier one, are embedded once. Different models or backends never
share a folder, so their vectors can never be mixed. A part that cannot be read (cut short by a full disk or a
copy, overwritten) is moved to ``quarantine/`` when the parts are listed: its passages count as uncached and
are embedded again, instead of every later run failing on it.
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
        self.quarantined: list[str] = []  # parts moved aside by this object's `parts` calls
        self._checked: set[tuple[str, int, int]] = set()

    def parts(self) -> list[str]:
        """Committed, readable part files (temp files of a killed write are not parts; a part whose Parquet
        footer cannot be read is quarantined)."""
        if not self.dir.is_dir():
            return []
        good = []
        for path in sorted(self.dir.glob("part-*.parquet")):
            stat = path.stat()
            mark = (path.name, stat.st_size, stat.st_mtime_ns)
            if mark not in self._checked:
                try:
                    pq.read_metadata(path)
                except (OSError, pa.ArrowException) as exc:
                    self._quarantine(path, exc)
                    continue
                self._checked.add(mark)
            good.append(str(path))
        return good

    def _quarantine(self, path: Path, exc: Exception) -> None:
        folder = self.dir / "quarantine"
        folder.mkdir(exist_ok=True)
        os.replace(path, folder / path.name)
        self.quarantined.append(f"{path.name} ({str(exc)[:120]})")

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
