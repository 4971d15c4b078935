"""Request and response models of the HTTP API, in Telnyx Clusters' names and shapes.

A clustering request is Telnyx's body (``bucket``, ``prefix``, ``files``, ``min_cluster_size``,
``min_subcluster_size``) plus, as optional fields, every themesift run parameter: the request model *is*
`RunParams` with a ``bucket``, so the API, ``prefect.yaml`` and the CLI validate one schema. Two defaults
differ from a nightly run's: an API run is not promoted to the bucket's ``latest`` unless asked, and it keeps
20 central passages per cluster so ``top_n_nodes`` up to 20 can be served from one run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tasks.core.summarizers import available_summarizers
from tasks.infra.params import RunParams

#: Longest bucket name or URL, file key and prefix accepted.
MAX_NAME_CHARS = 1024
#: Most ``files`` one request may name.
MAX_FILES = 10_000
MAX_PAGE_SIZE = 100
#: Passages kept per cluster by an API run unless the request says otherwise (the most GET can then show).
API_TOP_N_NODES = 20

#: The registered summary plug-ins, as an enum in the request schema.
SummarizerName = Literal[tuple(available_summarizers())]  # type: ignore[valid-type]
JobStatus = Literal["pending", "starting", "running", "completed", "failed"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]


class ClusterRequest(RunParams):
    """``POST /v2/ai/clusters``: which bucket, which objects, the cluster sizes, any other run parameter."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bucket: Name = Field(description="A bucket name (or URL) the deployment allows (`THEMESIFT_API_BUCKETS`).")
    prefix: Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)] = Field(
        "", description="Only objects whose key starts with this prefix.")
    files: list[Name] | None = Field(
        None, max_length=MAX_FILES, description="Only these object keys (relative to `prefix`).")
    top_n_nodes: int = Field(API_TOP_N_NODES, ge=1, le=100,
                             description="Most central passages kept per cluster (the most a fetch can show).")
    promote: bool = Field(False, description="Make this run the bucket's latest (what the next runs compare with).")
    summarizers: list[SummarizerName] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["keyphrases", "exemplars"], max_length=16,
        description="Summary plug-ins, applied in order.")

    def run_params(self) -> RunParams:
        """The run parameters of this request (everything but ``bucket``)."""
        return RunParams.model_validate(self.model_dump(exclude={"bucket"}))


class TaskId(BaseModel):
    task_id: str = Field(description="The job's id (the Prefect flow run's id).")


class TaskCreated(BaseModel):
    data: TaskId


class TaskSummary(BaseModel):
    task_id: str
    status: JobStatus
    bucket: str
    created_at: datetime | None
    finished_at: datetime | None
    min_cluster_size: int | None
    min_subcluster_size: int | None


class PageMeta(BaseModel):
    total_pages: int
    total_results: int
    page_number: int
    page_size: int


class TaskList(BaseModel):
    data: list[TaskSummary]
    meta: PageMeta


class Node(BaseModel):
    """A passage: Telnyx's ``filename`` and ``text``, plus where it is and how central."""

    model_config = ConfigDict(extra="allow")

    filename: str
    text: str
    chunk_id: str | None = None
    doc_id: str | None = None
    char_start: int | None = None
    char_end: int | None = None
    centrality: float | None = None


class Keyphrase(BaseModel):
    phrase: str
    score: float


class Cluster(BaseModel):
    """A theme (or, inside ``subclusters``, a subtheme) in Telnyx's shape plus themesift's extras."""

    model_config = ConfigDict(extra="allow")

    cluster_id: str
    cluster_header: str
    cluster_summary: str
    total_number_of_nodes: int
    nodes: list[Node]
    subclusters: list[Cluster] = Field(default_factory=list)
    share: float | None = None
    cohesion: float | None = None
    keyphrases: list[Keyphrase] = Field(default_factory=list)
    documents: int | None = None
    unassigned_nodes: int | None = None
    parent_cluster_id: str | None = None


class ClusterResult(BaseModel):
    status: JobStatus
    bucket: str
    clusters: list[Cluster]
    total_number_of_nodes: int | None = Field(None, description="Chunks clustered (themes and noise).")
    run_id: str | None = Field(None, description="The published run's id (its folder under the outputs).")
    error: str | None = Field(None, description="Why a failed job failed.")


class ClusterResultEnvelope(BaseModel):
    data: ClusterResult


class ErrorItem(BaseModel):
    code: str
    title: str
    detail: str


class ErrorBody(BaseModel):
    """Every refusal but FastAPI's own 422 (which keeps its ``detail[]``)."""

    errors: list[ErrorItem]


class Health(BaseModel):
    status: Literal["ok"]


EmbeddingStatus = Literal["queued", "processing", "success", "failure", "partial_success"]


class EmbeddingRequest(BaseModel):
    """``POST /v2/ai/embeddings``: read, chunk and embed a bucket (no clustering) and make it searchable."""

    model_config = ConfigDict(extra="forbid")

    bucket_name: Name = Field(description="A bucket name (or URL) the deployment allows (`THEMESIFT_API_BUCKETS`).")
    document_chunk_size: int | None = Field(
        None, ge=8, le=100_000, description="Chunk length in characters (Telnyx's unit; default 1024 when only the "
        "overlap is given). Neither given: themesift's token chunking, the one a clustering uses by default.")
    document_chunk_overlap_size: int | None = Field(
        None, ge=0, le=100_000, description="Overlap between chunks in characters (default 512 when only the size "
        "is given); smaller than the chunk size.")
    embedding_model: str | None = Field(
        None, max_length=200, description="Must name the deployment's model (`THEMESIFT_MODEL`) when given.")
    loader: Literal["default"] = Field("default", description="How files are read: `default` (every format "
                                       "themesift decodes).")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> EmbeddingRequest:
        size, overlap = self.document_chunk_size or 1024, self.document_chunk_overlap_size
        if overlap is not None and overlap >= size:
            raise ValueError(f"document_chunk_overlap_size ({overlap}) must be smaller than document_chunk_size "
                             f"({size})")
        return self

    def run_params(self) -> RunParams:
        """The run parameters of this request (Telnyx's character chunking when it asks for one)."""
        if self.document_chunk_size is None and self.document_chunk_overlap_size is None:
            return RunParams()
        size = self.document_chunk_size or 1024
        overlap = self.document_chunk_overlap_size if self.document_chunk_overlap_size is not None else min(512,
                                                                                                          size // 2)
        return RunParams(chunk_unit="chars", chunk_size=size, chunk_overlap=overlap)


class EmbeddingTask(BaseModel):
    task_id: str
    task_name: str = "embed"
    status: EmbeddingStatus
    created_at: datetime | None = None
    finished_at: datetime | None = None
    bucket: str | None = None
    error: str | None = Field(None, description="Why a failed task failed.")


class EmbeddingTaskEnvelope(BaseModel):
    data: EmbeddingTask


class BucketNames(BaseModel):
    buckets: list[str]


class BucketNamesEnvelope(BaseModel):
    data: BucketNames


class FileStatus(BaseModel):
    filename: str
    status: Literal["success", "failed"]
    error_reason: str | None = None
    skipped_records: int = 0
    created_at: datetime | None = None
    last_embedded_at: datetime | None = None
    updated_at: datetime | None = None


class FileStatusList(BaseModel):
    data: list[FileStatus]


class SimilaritySearchRequest(BaseModel):
    """``POST /v2/ai/embeddings/similarity-search``: the passages of an embedded bucket nearest to a query."""

    model_config = ConfigDict(extra="forbid")

    bucket_name: Name
    query: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    num_of_docs: int = Field(3, ge=1, le=100, description="How many passages to return, nearest first.")


class SearchMetadata(BaseModel):
    source: str
    checksum: str
    embedding: str
    filename: str
    certainty: float
    loader_metadata: dict[str, int | str] = Field(default_factory=dict)


class SearchHit(BaseModel):
    document_chunk: str
    distance: float = Field(description="Cosine distance (1 - cosine) between the query and the passage.")
    metadata: SearchMetadata


class SearchHits(BaseModel):
    data: list[SearchHit]
