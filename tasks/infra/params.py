"""The knobs of one run: `RunParams`, validated once, and the slice of them each stage uses.

The flow takes `RunParams` as a parameter, so the Prefect UI form, ``prefect.yaml`` parameters, the CLI's
``--param key=value`` overrides and the HTTP API all go through this one schema. A stage is handed only the
fields it reads (`RunParams.view` with the stage's small dataclass), so what a stage depends on is visible in
its signature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tasks.infra.errors import ConfigError
from tasks.infra.query import KEY_PATTERN, MAX_QUERY_CHARS, slice_query

View = TypeVar("View")


class RunParams(BaseModel):
    """The knobs of one run (flow parameters). Every field is documented in the README."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = Field("", description="Only objects whose key starts with this prefix.")
    files: list[str] | None = Field(
        None, description="Only these object keys (relative to `prefix`), like Telnyx's `files`."
    )
    where: str | None = Field(
        None, max_length=MAX_QUERY_CHARS, description="Cluster only the documents this properties-query selects, "
        "over their metadata fields, `object_key` and `last_modified`: `lang eq 'en' and (channel neq 'email' or "
        "score gte 4)`.",
    )
    from_date: str | None = Field(
        None, max_length=40,
        description="Cluster only documents whose `date_field` is on or after this date (ISO 8601).",
    )
    to_date: str | None = Field(
        None, max_length=40, description="... and on or before this date (a bare date includes its whole day)."
    )
    date_field: str = Field(
        "last_modified", max_length=200, pattern=KEY_PATTERN,
        description="The field `from_date`/`to_date` compare: `last_modified` (the object's) or a metadata field.",
    )
    text_field: str = Field("text", description="Field holding the text in JSON/JSONL records.")
    id_field: str = Field("id", description="Field naming a JSON/JSONL record (else its line number).")
    csv_text_column: str = Field("text", description="Column holding the text in CSV/TSV files.")
    html_mode: Literal["main", "visible"] = Field(
        "main", description="Web pages: their main content (menus, banners and footers dropped) or all visible text."
    )
    max_object_mb: float = Field(
        64.0, gt=0, le=100_000, description="Objects larger than this are skipped (`too_large`)."
    )
    chunk_unit: Literal["tokens", "chars"] = Field(
        "tokens", description="Unit of `chunk_size`/`chunk_overlap`: model tokens (word pieces) or characters."
    )
    chunk_size: int = Field(
        240, ge=8, le=100_000, description="Chunk length in `chunk_unit` (the model reads 256 tokens)."
    )
    chunk_overlap: int = Field(32, ge=0, description="Overlap between consecutive chunks, in `chunk_unit`.")
    geometry: Literal["auto", "centered", "raw"] = Field(
        "auto", description="How chunks are compared for the graph and the clustering: `centered` removes the "
        "corpus's common direction first (themes come out in homogeneous corpora: a novel, one product's tickets); "
        "`raw` compares the vectors as embedded; `auto` centres when chunks share a mean cosine of 0.1 or more.",
    )
    context_weight: float = Field(
        0.5, ge=0, le=4, description="For the graph and the clustering, each chunk of a long document is read with "
        "the chunks before and after it, each at this weight (0: every chunk alone). One-chunk documents are "
        "unaffected.",
    )
    context_field: str | None = Field(
        None, max_length=200, pattern=KEY_PATTERN, description="A metadata field naming the thread each JSON/CSV "
        "record belongs to (a chat session, a ticket, a review): records that share its value are read together, "
        "in the order they were read, each with the two records before and after it at `context_weight`. For "
        "short records whose meaning their thread carries (default: every record alone).",
    )
    instruction: str | None = Field(
        None, min_length=1, max_length=300, description="What to group by, in a few words: `sentiment: positive or "
        "negative`, `type of issue (refund, delivery, etc.)`, `product mentioned`. The graph, the clustering and the "
        "summaries then compare chunks along that facet only (default: everything the embedding sees).",
    )
    instruction_examples: list[str] | None = Field(
        None, max_length=20, description="More example values of the instruction's facet, besides those it lists "
        "after a colon or in parentheses (each 1-80 characters).",
    )
    cluster_unit: Literal["chunk", "document"] = Field(
        "chunk", description="What is clustered: each `chunk` finds its own theme (a long document may span several), "
        "or each `document` is one point (its chunks' mean) and all its chunks take its theme and subtheme; the "
        "cluster sizes then count documents. For buckets of many long documents (posts, articles, tickets) where "
        "the question is which documents are about what.",
    )
    min_cluster_size: int = Field(25, ge=2, description="Smallest theme, in chunks (documents with "
                                  "`cluster_unit=document`).")
    min_subcluster_size: int = Field(5, ge=2, description="Smallest subtheme inside a theme, in chunks (or documents).")
    min_samples: int | None = Field(
        None, ge=1, description="HDBSCAN density smoothing; default derived from the cluster sizes."
    )
    cluster_selection: Literal["modularity", "eom"] = Field(
        "modularity",
        description="How themes are picked from the density tree: kNN-graph modularity or HDBSCAN's excess of mass.",
    )
    resolution: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="Modularity resolution for themes (higher: more, smaller themes); `cluster_selection=modularity`. "
        "Default 1.5, and 2 in a corpus of 250-825 chunks.",
    )
    subtheme_resolution: float = Field(
        0.6, gt=0, le=1000, description="Modularity resolution inside a theme (below 1 a theme may stay whole)."
    )
    stickiness: float = Field(
        0.1, ge=0, le=100,
        description="Night over night: preference for the theme cut that matches the latest run (0: none).",
    )
    knn_k: int | None = Field(
        None, ge=2, le=1000, description="Neighbours per chunk in the kNN graph; default derived."
    )
    top_n_nodes: int = Field(5, ge=1, le=100, description="Most central passages kept per theme and subtheme.")
    phrase_cosine: float = Field(
        0.98, ge=0.5, le=1.0, description="Phrases: two passages of one theme are one phrase when their normalised "
        "text is equal or their embeddings' cosine reaches this (1.0: exact and normalised-equal text only).",
    )
    show_subclusters: bool = Field(True, description="Compute and publish subthemes.")
    summarizers: list[str] = Field(
        default_factory=lambda: ["keyphrases", "exemplars"], description="Summary plug-ins, applied in order."
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed for every random choice; same seed and input give the same themes."
    )
    reassign_noise: bool = Field(
        False, description="Give each noise chunk the theme (and subtheme) that label propagation over the kNN graph "
        "leads it to; every chunk with a path to a theme is placed (share reported)."
    )
    stability_check: bool = Field(
        False, description="Re-cluster a 90 % sample and report how much the themes agree (about doubles cluster time)."
    )
    match_min_overlap: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Stable ids: Jaccard overlap of shared chunks for a theme to keep the previous run's id.",
    )
    match_min_cosine: float = Field(
        0.9, ge=-1, le=1, description="Stable ids: centroid cosine that matches themes left over by the overlap rule."
    )
    event_min_share: float = Field(
        0.2, gt=0, le=1, description="Lineage: share of a theme's chunks each part must get for a `split`."
    )
    merge_min_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Lineage: share of each source theme's chunks that must go into one theme for a `merged`.",
    )
    event_min_change: float = Field(
        0.2, gt=0, le=1000, description="Lineage: relative size change that counts as `grew` or `shrank`."
    )
    publish_items: bool = Field(
        False, description="Also publish `items.parquet`: every chunk with its text, its document's metadata, "
        "`last_modified` and its theme, subtheme and phrase (what collections query; SQL-ready for DuckDB).",
    )
    promote: bool = Field(
        True, description="Make this run the latest (false: a side-by-side experiment that nightly runs ignore)."
    )
    keep_runs: int = Field(
        30, ge=1, description="Retention: keep the newest N complete runs' output folders; `latest` is never deleted."
    )

    def view(self, cls: type[View]) -> View:
        """The slice of these parameters a stage reads: ``params.view(ClusterParams)``."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    @model_validator(mode="after")
    def _check_sizes(self) -> RunParams:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                             f"chunk_size ({self.chunk_size})")
        slice_query(self.where, self.from_date, self.to_date, self.date_field)  # QueryError is a ValueError
        _check_instruction(self.instruction, self.instruction_examples)
        return self


def _check_instruction(instruction: str | None, examples: list[str] | None) -> None:
    """An instruction has words and no control characters; examples come with one and are 1-80 characters each."""
    texts = ([instruction] if instruction is not None else []) + list(examples or [])
    for text in texts:
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
            raise ValueError("instruction and instruction_examples may not hold control characters (newlines, tabs)")
    if instruction is not None and not instruction.strip():
        raise ValueError("instruction is blank: give a few words (`sentiment: positive or negative`) or leave it out")
    if examples is not None:
        if instruction is None:
            raise ValueError("instruction_examples needs an instruction: set `instruction` too")
        bad = [e for e in examples if not 1 <= len(e.strip()) <= 80]
        if bad:
            raise ValueError(f"each instruction example must be 1-80 characters, got {bad[0][:90]!r}")


@dataclass(frozen=True)
class IngestParams:
    """What the ingest stage reads: which objects, how records are read, the size cap."""

    prefix: str
    files: list[str] | None
    text_field: str
    id_field: str
    csv_text_column: str
    html_mode: str
    max_object_mb: float


@dataclass(frozen=True)
class ChunkParams:
    """What the chunk stage reads: how to cut, and which documents the run's corpus keeps (the slice)."""

    chunk_unit: str
    chunk_size: int
    chunk_overlap: int
    where: str | None = None
    from_date: str | None = None
    to_date: str | None = None
    date_field: str = "last_modified"


@dataclass(frozen=True)
class GraphParams:
    """What the knn stage reads: the graph size follows the cluster sizes unless ``knn_k`` is set."""

    geometry: str
    context_weight: float
    context_field: str | None
    knn_k: int | None
    min_cluster_size: int
    min_samples: int | None
    seed: int
    instruction: str | None = None


@dataclass(frozen=True)
class ClusterParams:
    """What the cluster stage reads."""

    geometry: str
    context_weight: float
    context_field: str | None
    min_cluster_size: int
    min_subcluster_size: int
    min_samples: int | None
    cluster_selection: str
    resolution: float | None
    subtheme_resolution: float
    stickiness: float
    reassign_noise: bool
    stability_check: bool
    show_subclusters: bool
    seed: int
    instruction: str | None = None
    cluster_unit: str = "chunk"


@dataclass(frozen=True)
class SteerParams:
    """What the steer stage reads: the instruction and the seed of its phrase sample."""

    instruction: str | None
    instruction_examples: list[str] | None
    seed: int


@dataclass(frozen=True)
class LayoutParams:
    """What the project (map layout) stage reads."""

    seed: int


@dataclass(frozen=True)
class PhraseParams:
    """What the phrases stage reads."""

    phrase_cosine: float


@dataclass(frozen=True)
class SummaryParams:
    """What the summarize stage reads."""

    top_n_nodes: int
    summarizers: list[str]
    instruction: str | None = None


@dataclass(frozen=True)
class LineageParams:
    """What the lineage stage reads: the matching and event thresholds."""

    match_min_overlap: float
    match_min_cosine: float
    event_min_share: float
    merge_min_share: float
    event_min_change: float


@dataclass(frozen=True)
class FinishParams:
    """What the finish stage reads: whether to promote the run, and the retention."""

    promote: bool
    keep_runs: int


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


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
