"""Step 0a: each chunk read in its document's context.

A reader takes a passage of a long document (a chapter of a novel, a section of a report, a long post) with the
passages around it; embedded alone, a chunk of dialogue or a list loses what it is about. For the graph and
the clustering, a chunk's vector is its own plus ``weight`` times each of its neighbours in the same document
(the chunk before and the chunk after, by position), L2-normalised again. Chunks of one-chunk documents
(tickets, intents, short posts) are unchanged, so short-text corpora cluster exactly as before.

Measured side by side (docs/benchmarks.md, weight :data:`CONTEXT_WEIGHT`): The Great Gatsby at 240-token chunks
and the tutorial's 50 / 10 sizes goes from one whole-corpus theme to 3 themes with 2 subthemes each, noise 17 %;
on full-length 20 Newsgroups chunk-level NMI rises on two seeded samples (2,236 posts: 0.558 -> 0.605; 4,340:
0.557 -> 0.576) but document-level NMI moves +0.020 on the first and -0.021 on the second; weight 1.0
over-smooths (document NMI 0.557 on the first).

Threads (the run's ``context_field``): records that share a metadata value (a chat session, a ticket, a review)
are read as one document in the order they were read, each with the records up to :data:`THREAD_REACH` places
before and after it. One review sentence rarely names its product; read with its review's sentences, it does:
product reviews (3,818 sentences in 313 reviews; docs/benchmarks.md) reach product NMI 0.346 alone, 0.477 with
one neighbour each side, 0.628 with two (weight 0.5), while feature NMI falls 0.470 -> 0.405: a thread's context
tells what it is about, not what each of its records says about it.

Summaries, centroids, the map and lineage keep using the embedded vectors.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONTEXT_WEIGHT", "THREAD_REACH", "document_neighbours", "with_document_context"]

#: Weight of each neighbouring chunk of the same document (the run parameter's default).
CONTEXT_WEIGHT = 0.5
#: Records of one thread read on each side of a record (product reviews, weight 0.5: product NMI 0.477 at 1,
#: 0.628 at 2, 0.690 at 3, where feature NMI falls from 0.441 at 1 to 0.371).
THREAD_REACH = 2


def document_neighbours(doc_ids: np.ndarray, starts: np.ndarray, reach: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a, b)`` of row indices where chunk ``b`` comes 1 to ``reach`` places after chunk ``a`` in the same
    document (all pairs one place apart first, then two, ...).

    Args:
        doc_ids: ``(n,)`` document (or thread) id per row (any hashable dtype).
        starts: ``(n,)`` position of the chunk in its document (character offset, or any rank).
        reach: how many places apart a pair may be (1: consecutive chunks only).
    """
    doc_ids, starts = np.asarray(doc_ids), np.asarray(starts)
    if doc_ids.shape != starts.shape or doc_ids.ndim != 1:
        raise ValueError(f"doc_ids {doc_ids.shape} and starts {starts.shape} must be 1-D and the same length")
    if reach < 1:
        raise ValueError(f"reach must be >= 1, got {reach}")
    _, codes = np.unique(doc_ids, return_inverse=True)
    order = np.lexsort((starts, codes))
    ranked = codes[order]
    firsts, seconds = [], []
    for gap in range(1, min(reach, len(order) - 1) + 1):
        same = ranked[gap:] == ranked[:-gap]
        firsts.append(order[:-gap][same])
        seconds.append(order[gap:][same])
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def with_document_context(emb: np.ndarray, doc_ids: np.ndarray, starts: np.ndarray,
                          weight: float = CONTEXT_WEIGHT, reach: int = 1) -> np.ndarray:
    """float32 ``(n, d)`` unit rows: each chunk plus ``weight`` x each of its document neighbours up to ``reach``
    places away (see the module docstring).

    Raises:
        ValueError: mismatched lengths, a negative weight or a reach under 1.
    """
    x = np.asarray(emb, dtype=np.float32)
    if weight < 0:
        raise ValueError(f"context weight must be >= 0, got {weight}")
    if len(doc_ids) != len(x):
        raise ValueError(f"{len(doc_ids)} document ids for {len(x)} vectors")
    if weight == 0 or len(x) < 2:
        return x
    before, after = document_neighbours(doc_ids, starts, reach)
    if not len(before):
        return x
    out = x.copy()
    # np.add.at, not out[before] += ...: with reach > 1 a row is the first of several pairs.
    np.add.at(out, before, np.float32(weight) * x[after])
    np.add.at(out, after, np.float32(weight) * x[before])
    moved = np.union1d(before, after)  # only these are renormalised: other rows keep their exact bits
    out[moved] /= np.maximum(np.linalg.norm(out[moved], axis=1, keepdims=True), np.float32(1e-12))
    return out
