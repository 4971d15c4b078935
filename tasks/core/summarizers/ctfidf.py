"""Class-based TF-IDF (c-TF-IDF, as in BERTopic): which terms set one class of passages apart from the others.

Shared by the keyphrase summarizer and the header picker.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["class_term_counts", "ctfidf"]


def class_term_counts(x: sp.csr_matrix, classes: np.ndarray, n_classes: int) -> sp.csr_matrix:
    """Sum the rows of ``x`` per class (``classes[i] = -1`` rows are ignored)."""
    rows = np.flatnonzero((classes >= 0) & (classes < n_classes))
    indicator = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (classes[rows], rows)),
        shape=(n_classes, x.shape[0]),
    )
    counts = (indicator @ x).tocsr()
    counts.sum_duplicates()  # canonical form: sorted, unique column indices per row
    return counts


def ctfidf(counts: sp.spmatrix) -> sp.csr_matrix:
    """Class-based TF-IDF of a ``(classes, terms)`` count matrix, as BERTopic computes it.

    ``tf`` is each class's counts L1-normalised; ``idf = log(1 + A / f_t)`` where ``A`` is the
    mean number of words per class and ``f_t`` the term's count over all classes. A term
    spread over every class gets a low idf, one concentrated in a class a high one.
    """
    counts = sp.csr_matrix(counts, dtype=np.float64)  # small (classes x V) and sparse: no BLAS
    term_freq = np.asarray(counts.sum(axis=0)).ravel()
    avg_words = counts.sum() / max(counts.shape[0], 1)
    idf = np.log1p(avg_words / np.maximum(term_freq, 1e-12))
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    tf = sp.diags(1.0 / np.maximum(row_sums, 1e-12)) @ counts
    return (tf @ sp.diags(idf)).tocsr()
