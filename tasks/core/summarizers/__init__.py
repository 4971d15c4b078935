"""Summarizer plug-ins: names, keyphrases, exemplars and cohesion for every theme and subtheme.

Contract
--------
Input of :func:`summarize_clusters` (all row-aligned with the chunk arrays, ``n`` rows):

* ``texts`` - ``n`` chunk texts (may be empty or whitespace).
* ``emb`` - ``(n, d)`` float32 embeddings, L2-normalised (rows are re-normalised defensively).
* ``theme`` - ``(n,)`` integer theme label per chunk, ``-1`` = noise.
* ``subtheme`` - ``(n,)`` integer *global* subtheme id ``0..S-1`` per chunk, ``-1`` = none.
* ``subtheme_theme`` - ``(S,)`` parent theme label of each subtheme.

Output: a list of :class:`ClusterSummary`, one per theme, largest first, each with its
subthemes in ``children`` (largest first). Ids are assigned by size rank, 0-based: the largest
theme is ``"t0"``, the largest subtheme of ``t0`` is ``"t0.0"``, the next ``"t0.1"``. Equal sizes
are ordered by the clustering-stage label (kept in ``label``), so ids are deterministic.
Subtheme ids with no members are skipped. Noise is not a cluster and is not returned.

What fills the fields is a list of *summarizers* (plug-ins, see :class:`Summarizer`) applied in
order, chosen by name from a registry; the built-in ones, one module each, are:

* ``"keyphrases"`` (:mod:`.keyphrases`) - c-TF-IDF keyphrases and a ``header``.
* ``"exemplars"`` (:mod:`.exemplars`) - central ``nodes``, an extractive ``summary`` and ``cohesion``.

Whatever summarizers ran, ``header`` is never empty on return: a cluster without keyphrases is
named after the first words of its most central text.

Modules: ``base`` (records, protocol, registry), ``tree`` (labels to the cluster tree), ``text``
(tokeniser and sentence helpers), ``keyphrases`` and ``exemplars`` (the plug-ins), ``pipeline``
(:func:`summarize_clusters`). Importing this package registers the built-in plug-ins.
Everything here is pure (no Prefect, no I/O) and deterministic for the same inputs.
"""

from __future__ import annotations

from tasks.core.summarizers.base import (
    ClusterSummary,
    Summarizer,
    SummaryContext,
    available_summarizers,
    check_summarizers,
    get_summarizer,
    register_summarizer,
)
from tasks.core.summarizers.exemplars import ExemplarSummarizer, first_sentence, reads_as_prose
from tasks.core.summarizers.keyphrases import KeyphraseSummarizer, ctfidf
from tasks.core.summarizers.pipeline import DEFAULT_SUMMARIZERS, summarize_clusters
from tasks.core.summarizers.tree import build_cluster_tree, iter_clusters

__all__ = [
    "DEFAULT_SUMMARIZERS",
    "ClusterSummary",
    "ExemplarSummarizer",
    "KeyphraseSummarizer",
    "Summarizer",
    "SummaryContext",
    "available_summarizers",
    "build_cluster_tree",
    "check_summarizers",
    "ctfidf",
    "first_sentence",
    "reads_as_prose",
    "get_summarizer",
    "iter_clusters",
    "register_summarizer",
    "summarize_clusters",
]
