"""Clustering documents instead of chunks (the run's ``cluster_unit="document"``).

In a bucket of many multi-chunk documents (forum posts, articles, tickets, transcripts) a reader asks which
documents are about what, not which passages. Each document becomes one point, the unit mean of its chunks'
vectors; the graph and the clustering (themes, subthemes, noise, the optional reassignment) run on those points
exactly as on chunks; then every chunk takes its document's theme and subtheme, and the groups are numbered by
their size in chunks, as the contract says. ``min_cluster_size`` and ``min_subcluster_size`` count documents.

Measured on full-length 20 Newsgroups (18,811 posts, 47,083 chunks; docs/benchmarks.md, "Clustering by
document"), one run: document NMI / AMI 0.523 / 0.515 when the chunks are clustered and each post takes its
chunks' majority theme, 0.568 / 0.566 when the posts are; with the label-matching settings (``reassign_noise``,
``min_samples`` 15, ``resolution`` 3) 0.576 / 0.570 and 0.626 / 0.625 (EVoC on the same post vectors 0.539 /
0.538). A chunk's own vector is noisy (a signature, a quoted line, a list); the post's mean is what it is about,
and a long post weighs as one point instead of as its tens of chunks.
"""

from __future__ import annotations

import numpy as np

from tasks.core.clustering.contract import Clustering, recommended_k
from tasks.core.clustering.pipeline import cluster_embeddings, finish_clustering
from tasks.core.clustering.quality import theme_stability
from tasks.core.clustering.space import clustering_space, resolve_geometry
from tasks.core.knn_graph import build_knn_graph

__all__ = ["cluster_documents", "document_prior", "document_vectors"]


def document_vectors(emb: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's unit mean chunk vector (documents in sorted id order) and each chunk's row among them.

    Args:
        emb: float32 ``(n, d)`` chunk vectors.
        doc: ``(n,)`` the document id of each chunk (any sortable values).

    Returns:
        float32 ``(D, d)`` unit rows, and int64 ``(n,)`` the row of each chunk's document.
    """
    if emb.shape[0] == 0:
        return np.zeros((0, emb.shape[1]), np.float32), np.zeros(0, np.int64)
    _, of_chunk = np.unique(np.asarray(doc), return_inverse=True)
    of_chunk = of_chunk.reshape(-1).astype(np.int64)
    sums = np.zeros((int(of_chunk.max()) + 1, emb.shape[1]), np.float64)
    np.add.at(sums, of_chunk, emb)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.ascontiguousarray(sums / np.maximum(norms, 1e-12), np.float32), of_chunk


def document_prior(prior_theme: np.ndarray | None, of_chunk: np.ndarray, n_docs: int) -> np.ndarray | None:
    """Each document's previous theme: the one most of its chunks had (ties: the lower id), ``-1`` when none had
    one; ``None`` without a previous run."""
    if prior_theme is None:
        return None
    prior = np.asarray(prior_theme, np.int64)
    out = np.full(n_docs, -1, np.int64)
    known = prior >= 0
    if not known.any():
        return out
    pairs, counts = np.unique(np.stack([of_chunk[known], prior[known]], axis=1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))  # per document: most chunks first, then lower theme
    pairs = pairs[order]
    first = np.ones(len(pairs), bool)
    first[1:] = pairs[1:, 0] != pairs[:-1, 0]
    out[pairs[first, 0]] = pairs[first, 1]
    return out


def cluster_documents(emb: np.ndarray, doc: np.ndarray, *, geometry: str = "auto", seed: int = 0,
                      prior_theme: np.ndarray | None = None, stability_check: bool = False,
                      **params) -> Clustering:
    """Themes and subthemes of documents, spread to their chunks.

    Args:
        emb: float32 ``(n, d)`` unit chunk vectors (as embedded, or steered by an instruction).
        doc: ``(n,)`` the document id of each chunk.
        geometry: ``"auto"``, ``"centered"`` or ``"raw"``, resolved on the document vectors.
        seed: seeds the documents' kNN graph (and the stability sample).
        prior_theme: int ``(n,)`` each chunk's previous theme (``-1``: none); a document takes its chunks' majority.
        stability_check: also re-cluster a 90 % sample of the documents (``theme_stability``).
        **params: ``cluster_embeddings``'s keyword arguments (``min_cluster_size`` and ``min_subcluster_size``
            count documents).

    Returns:
        The chunk-level :class:`Clustering`; its diagnostics are the documents' clustering's, with
        ``unit: "document"``, ``documents`` (how many) and the group counts and shares over chunks.
    """
    vectors, of_chunk = document_vectors(emb, doc)
    space = resolve_geometry(vectors, geometry)
    x = clustering_space(vectors, space)
    n_docs = x.shape[0]
    mcs = params.get("min_cluster_size", 25)
    k = max(1, min(recommended_k(mcs, params.get("min_samples"), n_docs), n_docs - 1))
    graph = build_knn_graph(x, k, seed=seed) if n_docs > 1 else None
    if graph is None:  # nothing to search: one document (or none) is all noise below min_cluster_size >= 2
        found = finish_clustering(np.full(n_docs, -1, np.int64), np.full(n_docs, -1, np.int64),
                                  {"n": n_docs, "geometry": "none: fewer points than min_cluster_size, all noise"})
    else:
        found = cluster_embeddings(x, graph, prior_theme=document_prior(prior_theme, of_chunk, n_docs), **params)
    diag = dict(found.diagnostics, unit="document", documents=n_docs, chunks=len(of_chunk), space=space, document_k=k)
    if stability_check:
        diag.update(theme_stability(x, found.theme, min_cluster_size=mcs, min_samples=params.get("min_samples"),
                                    seed=seed, cluster_selection=params.get("cluster_selection", "modularity"),
                                    resolution=params.get("resolution")))
    return finish_clustering(found.theme[of_chunk], found.subtheme[of_chunk], diag)
