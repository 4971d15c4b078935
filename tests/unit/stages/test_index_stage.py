"""The index stage's search index: complete before it is pointed at, one current folder, tasks kept."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from tasks.index import CURRENT, search_dir, write_index, write_task_outcome


def passages(n: int) -> pa.Table:
    return pa.table({"chunk_id": [f"c{i}" for i in range(n)], "object_key": ["a.txt"] * n,
                     "char_start": list(range(n)), "char_end": list(range(1, n + 1)),
                     "text": [f"passage {i}" for i in range(n)], "content_hash": ["h"] * n})


def test_the_pointer_names_a_complete_folder_and_older_folders_go(tmp_path):
    root = search_dir(tmp_path)
    write_task_outcome(tmp_path, "r1", {"files_failed": 0})
    write_index(tmp_path, "r1", np.eye(3, dtype=np.float32), passages(3), [{"filename": "a.txt"}], {"model": "m"})
    assert json.loads((root / CURRENT).read_text())["run_id"] == "r1"
    write_index(tmp_path, "r2", np.eye(2, dtype=np.float32), passages(2), [], {"model": "m"})
    current = json.loads((root / CURRENT).read_text())
    assert current == {"run_id": "r2", "model": "m"}
    assert sorted(p.name for p in root.iterdir()) == [CURRENT, "r2", "tasks"]
    assert np.load(root / "r2" / "vectors.npy").shape == (2, 2)
    assert (root / "tasks" / "r1.json").is_file()  # a task's outcome outlives its index
