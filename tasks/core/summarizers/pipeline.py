"""`summarize_clusters`: validate the inputs, build the cluster tree, apply the chosen summarizers in order,
then make sure every cluster has a header.

The input and output contract is in the package docstring (:mod:`tasks.core.summarizers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tasks.core.summarizers.base import ClusterSummary, SummaryContext, resolve_summarizers
from tasks.core.summarizers.exemplars import rows_by_centrality
from tasks.core.summarizers.text import first_nonempty, leading_words
from tasks.core.summarizers.tree import build_cluster_tree, iter_clusters, validate_labels

__all__ = ["DEFAULT_SUMMARIZERS", "summarize_clusters"]

DEFAULT_SUMMARIZERS: tuple[str, ...] = ("keyphrases", "exemplars")


def _validate_embeddings(emb: np.ndarray, n: int) -> np.ndarray:
    """Return float32 ``(n, d)`` embeddings with unit rows (zero rows stay zero)."""
    e = np.asarray(emb)
    if e.ndim != 2 or e.shape[0] != n:
        raise ValueError(f"emb must have shape ({n}, d) to match the labels, got {e.shape}")
    e = e.astype(np.float32, copy=False)
    if not np.isfinite(e).all():
        raise ValueError("emb contains NaN or infinite values")
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    # Cheap insurance: cosine needs unit rows, and an upstream change (another model, a cache
    # from an old run) should not quietly turn centrality into a dot product.
    if np.allclose(norms, 1.0, atol=1e-3):
        return e
    return (e / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def _ensure_headers(tree: list[ClusterSummary], ctx: SummaryContext) -> None:
    """Give every header-less cluster the first words of its most central non-empty text."""
    for node in iter_clusters(tree):
        if node.header:
            continue
        rows = rows_by_centrality(ctx.emb, node.members)
        node.header = first_nonempty(ctx.texts, rows, leading_words) or f"untitled {node.level} {node.cluster_id}"


def summarize_clusters(
    texts: Sequence[str],
    emb: np.ndarray,
    theme: np.ndarray,
    subtheme: np.ndarray,
    subtheme_theme: np.ndarray,
    *,
    top_n_nodes: int = 5,
    n_keyphrases: int = 8,
    summarizers: Sequence[str] = DEFAULT_SUMMARIZERS,
    encode: Callable[[list[str]], np.ndarray] | None = None,
) -> list[ClusterSummary]:
    """Build the theme/subtheme tree and run the chosen summarizers over it.

    Args:
        texts: Chunk texts, row-aligned with ``emb`` and the labels.
        emb: ``(n, d)`` embeddings (float32, L2-normalised; others are converted).
        theme: ``(n,)`` theme label per chunk, ``-1`` = noise.
        subtheme: ``(n,)`` global subtheme id per chunk, ``-1`` = none.
        subtheme_theme: ``(S,)`` parent theme label per subtheme id.
        top_n_nodes: How many central chunks to keep per cluster (>= 0).
        n_keyphrases: How many keyphrases to keep per cluster (>= 0).
        summarizers: Registered summarizer names, applied in this order.
        encode: The run's model (texts -> unit vectors), so headers can be picked by meaning; None falls back
            to word statistics alone.

    Returns:
        Themes, largest first, with subthemes in ``children``; ``[]`` when there are no themes.
        Every returned cluster has a non-empty ``header``.

    Raises:
        ConfigError: An unknown summarizer name (the message lists the available ones).
        ValueError: Mismatched shapes or labels, or negative counts.
    """
    plugins = resolve_summarizers(summarizers)  # fail fast, before any work
    if top_n_nodes < 0 or n_keyphrases < 0:
        raise ValueError(f"top_n_nodes and n_keyphrases must be >= 0, got {top_n_nodes} and {n_keyphrases}")
    theme, subtheme, subtheme_theme = validate_labels(theme, subtheme, subtheme_theme)
    if len(texts) != len(theme):
        raise ValueError(f"texts has {len(texts)} entries but theme has {len(theme)}")
    ctx = SummaryContext(
        texts=texts, emb=_validate_embeddings(emb, len(theme)), theme=theme, subtheme=subtheme,
        subtheme_theme=subtheme_theme, top_n_nodes=top_n_nodes, n_keyphrases=n_keyphrases, encode=encode,
    )
    tree = build_cluster_tree(theme, subtheme, subtheme_theme)
    for plugin in plugins:
        plugin.apply(tree, ctx)
    _ensure_headers(tree, ctx)
    return tree
