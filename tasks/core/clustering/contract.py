"""The clustering's contract: its result type, its tuning constants, parameter and input checks, ``recommended_k``.

Every other module of the package imports from here; this one imports none of them. The constants are the
algorithm's knobs, each with the measurement that set it (the package docstring says where each step uses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tasks.core.knn_graph import KnnGraph

#: Diffusion steps applied to the embeddings before density clustering.
SMOOTH_STEPS = 3
#: Diffusion kernel width, in units of the median raw core distance.
KERNEL_SCALE = 2.0
#: Tukey fence (in IQRs above the upper quartile) of raw core distances beyond which a chunk is an outlier.
OUTLIER_FENCE = 1.5
#: ``min_samples`` used when the caller passes ``None`` (capped at ``min_cluster_size``).
#: 10 rather than 5: fewer paraphrase splits (Banking77 finest NMI 0.749 -> 0.757, 20NG sample 0.570 -> 0.585).
#: 20 was the default for one commit: full 20 Newsgroups theme NMI 0.484 -> 0.552, but 18 gives 0.514 and
#: 15 gives 0.506 (the gain is not robust), and the 1,302-chunk demo collapsed into one theme of 51 %.
DEFAULT_MIN_SAMPLES = 10
#: Smallest kNN size used for smoothing and the density tree.
MIN_GRAPH_K = 30
#: Above this many chunks the recommended graph is at most :data:`LARGE_CORPUS_K` wide: memory binds
#: there, not density fidelity (1M rows: k 63 peaks at 7.5 GB, k 33 at 5.6 GB).
LARGE_CORPUS_N = 250_000
LARGE_CORPUS_K = 33
#: In a corpus of 250 to 825 chunks (``SMALL_CORPUS_MIN_K`` and ``LARGE_CORPUS_K`` over ``SMALL_CORPUS_SHARE``)
#: no neighbourhood spans more than this share of it, and the default ``min_samples`` shrinks to match
#: (``k // 3 - 1``, at least 2); subthemes' graphs follow the corpus's size, not their theme's. Thirty
#: neighbours of a 333-chunk novel are a tenth of the book: three diffusion steps over them blur every setting
#: into its neighbours. ``bench/small_corpora.py --full`` (24 samples of 300-2,000 rows of Banking77,
#: 20 Newsgroups and product reviews, and the 3 whole corpora, which the rule leaves alone): mean theme AMI
#: 0.418 -> 0.426 (9 up, 3 down), finest NMI 0.499 -> 0.515; Gatsby 3 -> 5 themes at 25/5. 1/20 gave the
#: samples the same but cut the tutorial's Gatsby (50/10) to 2 themes. Capping subtheme graphs by their theme's
#: size instead cost Banking77 finest NMI 0.790 -> 0.783. Below 250 chunks a 1/25 share is under
#: :data:`SMALL_CORPUS_MIN_K` neighbours and the rule does not apply: with 10 neighbours and ``min_samples`` 2,
#: corpora of 90-105 short documents (three or four topics, each recombining eight sentences) had every topic
#: cut in two.
SMALL_CORPUS_SHARE = 1 / 25
#: The narrowest graph the small-corpus rule gives (at 250 chunks).
SMALL_CORPUS_MIN_K = 10
#: Clustered neighbours consulted when deciding whether a noise chunk is a border point.
BORDER_VOTES = 10
#: Share of those neighbours that must agree on one theme.
BORDER_SHARE = 0.6
#: A border point may lie this many times the theme's largest core distance from it.
BORDER_REACH = 1.5
#: Nearest raw-graph neighbours that pass labels on in the optional noise reassignment (step 4b). Fewer
#: reach further by propagation than more do in one vote (Banking77 finest NMI 0.803-0.804 at 5 and 10,
#: 0.800 at 33).
REASSIGN_NEIGHBOURS = 10
#: Propagation rounds of the noise reassignment: a noise chunk more hops than this from every theme stays noise.
#: 10 and 50 give the same Banking77 and 20 Newsgroups scores.
REASSIGN_ROUNDS = 20
#: Theme selection on the density tree: ``"modularity"`` (default) or HDBSCAN's ``"eom"``.
SELECTION_METHODS = ("modularity", "eom")
#: Modularity resolution when picking themes from the tree (higher: more, smaller themes). Splitting a
#: theme that holds a share ``f`` of the graph's weight, into halves that share a fraction ``rho`` of its
#: edges, pays when ``resolution > 2 rho / f``: at 3 no loosely knit theme can hold more than ~20 % of a
#: corpus, and a 3-topic test corpus had a planted topic cut in two. 1.5 (~40 %) keeps the gain:
#: Banking77 finest NMI 0.784 (1) / 0.786 (1.5) / 0.784 (3); full 20 Newsgroups theme 0.518 / 0.542 / 0.551.
#: 2 (~30 %) was the default for one commit: Gatsby 5 -> 6 themes at 25/5 and neutral on labelled corpora
#: (``bench/small_corpora.py --full``, mean theme AMI +0.005, 5 up, 4 down), but a 105-document corpus of three
#: topics had its largest (43 %) cut in two, and the lineage test's growing theme lost its id.
THEME_RESOLUTION = 1.5
#: Theme resolution in a small corpus (:func:`is_small_corpus`: 250 to 825 chunks, where the small-corpus graph
#: rule narrows the graph) when a run gives none. ``bench/small_corpora.py`` on 54 seeded 300-800-row samples of
#: Banking77, 20 Newsgroups and product reviews, against 1.5: theme AMI 10 up, 3 down (by at most 0.019), mean
#: 0.391 -> 0.397; The Great Gatsby (333 chunks) gets 6 themes instead of 5 (docs/benchmarks.md, "Small corpora:
#: resolution 2 where the graph is narrow"). Outside that range nothing changes: below it, the 105-document
#: three-topic corpus above keeps its 43 % topic whole.
SMALL_CORPUS_RESOLUTION = 2.0
#: Modularity resolution inside a theme. Below 1 the whole theme (modularity ``1 - resolution`` > 0) competes
#: with its splits, so a theme without real parts keeps none. Lower keeps fewer subthemes: Banking77 finest NMI
#: 0.775 at 1.0, 0.782 at 0.7, 0.785 at 0.6, 0.786 at 0.5, but at 0.5 the demo corpus's largest theme (28 % of
#: it: modules, classes, command lines, paths) kept no subthemes; at 0.6 it gets those four.
SUBTHEME_RESOLUTION = 0.6
#: Subthemes whose centroids are, on average, closer than this to their nearest sibling are one subtheme.
SUBTHEME_MAX_SIMILARITY = 0.85
#: A theme holding more than this share of the corpus is always explored: it is split into its best two or
#: more subthemes even where modularity would keep it whole (unless the parts paraphrase each other). A
#: reader cannot use a theme that is a fifth of everything without its parts (a novel's one big theme, the
#: whole corpus when no cut beats it).
BIG_THEME_SHARE = 0.2

# Implementation limits shared by several modules of the package (not part of the public API).
#: Distances are floored here: exact duplicates would otherwise give zero-weight
#: edges, which scipy's sparse MST treats as missing, and infinite densities.
DIST_FLOOR = 1e-6
#: Rows handled per batch where an ``(n, d)`` temporary would otherwise be made.
ROW_BATCH = 65_536


@dataclass(frozen=True)
class Clustering:
    """Two-level clustering of ``n`` chunks (see the package docstring for numbering).

    Attributes:
        theme: int32 ``(n,)`` theme id, ``-1`` = noise.
        subtheme: int32 ``(n,)`` global subtheme id, ``-1`` = in no subtheme.
        subtheme_theme: int32 ``(S,)`` parent theme of each subtheme.
        diagnostics: small JSON-able facts about the run.
    """

    theme: np.ndarray
    subtheme: np.ndarray
    subtheme_theme: np.ndarray
    diagnostics: dict = field(default_factory=dict)


def recommended_k(min_cluster_size: int, min_samples: int | None, n: int | None = None, *,
                  corpus_n: int | None = None) -> int:
    """The kNN size the graph handed to :func:`~tasks.core.clustering.cluster_embeddings` should have.

    Density estimates from a kNN graph only match exact HDBSCAN when the graph
    is a few times wider than ``min_samples`` (measured: ``k ~ 3 * (min_samples
    + 1)``), and the diffusion step wants about 30 neighbours. Above
    :data:`LARGE_CORPUS_N` chunks the width is capped at :data:`LARGE_CORPUS_K`
    (never below ``min_samples + 1``) to bound memory; in a small corpus at :func:`small_corpus_k`.

    Args:
        min_cluster_size: smallest theme size.
        min_samples: HDBSCAN ``min_samples``; ``None`` = the default.
        n: number of chunks the graph covers, when known.
        corpus_n: the whole corpus's size when the graph covers part of it (one theme); default ``n``.

    Returns:
        The recommended ``k``.
    """
    _check_positive_int("min_cluster_size", min_cluster_size, 2)
    corpus_n = n if corpus_n is None else corpus_n
    ms = resolve_min_samples(min_samples, min_cluster_size, corpus_n)
    k = max(MIN_GRAPH_K, 3 * (ms + 1))
    if n is not None and n > LARGE_CORPUS_N:
        k = max(min(k, LARGE_CORPUS_K), ms + 1)
    if corpus_n is not None:
        k = max(min(k, small_corpus_k(corpus_n)), ms + 1)
    return k


def small_corpus_k(n: int) -> int:
    """The widest neighbourhood in a corpus of ``n`` chunks: :data:`SMALL_CORPUS_SHARE` of it from 250 chunks
    (where that is :data:`SMALL_CORPUS_MIN_K`) to 825; no limit outside that range."""
    k = int(n * SMALL_CORPUS_SHARE)
    return k if k >= SMALL_CORPUS_MIN_K else 1 << 30


def is_small_corpus(n: int) -> bool:
    """True for a corpus of 250 to 825 chunks: where :func:`small_corpus_k` is narrower than the default graph
    (``recommended_k`` at the default ``min_samples``: 33 neighbours)."""
    return small_corpus_k(n) < max(MIN_GRAPH_K, 3 * (DEFAULT_MIN_SAMPLES + 1))


def resolve_resolution(resolution: float | None, n: int) -> float:
    """``resolution`` as given; for ``None`` :data:`SMALL_CORPUS_RESOLUTION` in a small corpus of ``n`` chunks,
    else :data:`THEME_RESOLUTION`."""
    if resolution is not None:
        return resolution
    return SMALL_CORPUS_RESOLUTION if is_small_corpus(n) else THEME_RESOLUTION


def resolve_min_samples(min_samples: int | None, min_cluster_size: int, n: int | None = None) -> int:
    """``min_samples`` as given; for ``None`` :data:`DEFAULT_MIN_SAMPLES` capped at ``min_cluster_size`` and, in
    a corpus of ``n`` chunks, at a third of :func:`small_corpus_k` less one (never below 2)."""
    if min_samples is None:
        ms = min(DEFAULT_MIN_SAMPLES, min_cluster_size)
        if n is not None:
            ms = min(ms, max(2, small_corpus_k(n) // 3 - 1))
        return ms
    _check_positive_int("min_samples", min_samples, 1)
    return int(min_samples)


def all_identical(emb: np.ndarray) -> bool:
    """True when every row equals the first (exactly: the model is deterministic)."""
    return bool((emb == emb[0]).all())


def validate_params(mcs: int, mss: int | None, min_samples: int | None) -> None:
    """Sizes: ``min_cluster_size >= 2``, ``min_subcluster_size >= 2`` or ``None``, ``min_samples >= 1`` or ``None``."""
    _check_positive_int("min_cluster_size", mcs, 2)
    if mss is not None:
        _check_positive_int("min_subcluster_size", mss, 2)
    if min_samples is not None:
        _check_positive_int("min_samples", min_samples, 1)


def validate_inputs(emb: np.ndarray, graph: KnnGraph) -> None:
    """``emb`` float32 ``(n, d)`` and finite; ``graph`` a :class:`KnnGraph` of ``n`` rows."""
    if not isinstance(emb, np.ndarray) or emb.dtype != np.float32 or emb.ndim != 2:
        raise ValueError("emb must be a float32 numpy array of shape (n, d); "
                         "convert with np.asarray(emb, dtype=np.float32)")
    if not np.isfinite(emb).all():
        raise ValueError("emb contains NaN or inf; drop or re-embed those chunks first")
    if not isinstance(graph, KnnGraph):
        raise ValueError("graph must be a tasks.core.knn_graph.KnnGraph; "
                         "build it with build_knn_graph(emb, recommended_k(...))")
    if graph.indices.shape != graph.distances.shape or graph.indices.ndim != 2:
        raise ValueError("graph.indices and graph.distances must have the same (n, k) shape")
    if graph.n != emb.shape[0]:
        raise ValueError(f"graph has {graph.n} rows but emb has {emb.shape[0]}; "
                         "build the graph from the same embeddings")


def validate_selection(method: str, resolution: float, subtheme_resolution: float) -> None:
    """``method`` one of :data:`SELECTION_METHODS`; both resolutions finite and ``> 0``."""
    if method not in SELECTION_METHODS:
        raise ValueError(f"cluster_selection must be one of {', '.join(SELECTION_METHODS)}, got {method!r}")
    _check_number("resolution", resolution, positive=True)
    _check_number("subtheme_resolution", subtheme_resolution, positive=True)


def validate_prior(prior: np.ndarray | None, stickiness: float, n: int) -> None:
    """``stickiness >= 0``; ``prior`` ``None`` or an integer ``(n,)`` array of values ``>= -1``."""
    _check_number("stickiness", stickiness, positive=False)
    if prior is None:
        return
    if not isinstance(prior, np.ndarray) or prior.shape != (n,) or not np.issubdtype(prior.dtype, np.integer):
        raise ValueError(f"prior_theme must be an integer array of shape ({n},), "
                         "one previous theme per chunk (-1: none)")
    if prior.size and prior.min() < -1:
        raise ValueError("prior_theme holds values below -1; use -1 for chunks without a previous theme")


def _check_positive_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: object, *, positive: bool) -> None:
    """A finite real number, ``> 0`` when ``positive`` else ``>= 0``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer)) \
        and bool(np.isfinite(value)) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a number {'>' if positive else '>='} 0, got {value!r}")
