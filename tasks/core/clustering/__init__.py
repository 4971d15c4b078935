"""Themes and subthemes from chunk embeddings (the ``cluster`` stage's numeric core).

Contract
--------
Inputs: ``emb``, float32 ``(n, d)`` L2-normalised embeddings, and the
:class:`~tasks.core.knn_graph.KnnGraph` built from them (``k >= recommended_k(...)``
recommended; a larger graph is truncated, a smaller one is used as is if it
still covers ``min_samples``).

Output: a :class:`Clustering` with

* ``theme``  int32 ``(n,)``: theme id ``0..T-1``, numbered by decreasing size
  (ties: the theme holding the lower row index first); ``-1`` = noise.
* ``subtheme`` int32 ``(n,)``: subtheme id ``0..S-1`` numbered globally, grouped
  by theme in theme order and by decreasing size within a theme; ``-1`` = in no
  subtheme (noise, a theme without subthemes, or a theme member left between
  its subthemes).
* ``subtheme_theme`` int32 ``(S,)``: the parent theme of each subtheme.
* ``diagnostics``: small JSON-able facts (geometry, k, seconds per step, ...).

With ``min_subcluster_size=None`` the subtheme pass (step 5) does not run: ``subtheme`` is all ``-1`` and
``subtheme_theme`` is empty; the themes are exactly those of a run with subthemes (unless noise is
reassigned, step 4b, which places noise chunks by the finest group, subtheme or theme, their paths favour).

Noise stays noise: a chunk is only put into a theme when the density tree or
the guarded border-point rule below puts it there.

Algorithm (and why)
-------------------
HDBSCAN on raw 384-d sentence embeddings finds 2-3 blobs and 30-80 % noise:
in high dimension every point is about equally far from every other, so the
density estimate is flat. The kNN graph itself, however, carries the themes
(graph community detection on it scores far better). So the density
clustering runs on a *graph-smoothed* geometry:

1. **Diffusion smoothing.** ``P`` is the row-normalised symmetrised kNN
   adjacency (edge weight ``exp(-d / scale)``, one global scale) with
   self-loops; ``X <- normalise(P @ X)`` is applied :data:`SMOOTH_STEPS`
   times. Each chunk moves toward the mean of its graph neighbourhood, which
   contracts the themes (dense regions of the graph) while gaps between them
   stay, so density contrast appears. Isolated chunks have only far, weak
   edges and mostly stay where they are.
2. **Re-ranking.** The graph's neighbours are re-ordered by their distance in
   the smoothed space (no second search: O(n k d), linear in n).
3. **HDBSCAN on the graph.** Core distance = distance to the
   ``min_samples``-th smoothed neighbour; mutual-reachability weights on the
   kNN edges; disconnected components are joined by a minimum spanning tree
   over one representative per component; then scipy's minimum spanning
   tree, single linkage and ``hdbscan``'s condensed tree at
   ``min_cluster_size`` give the candidate themes. Chunks whose *raw* core
   distance is beyond Tukey's fence (:data:`OUTLIER_FENCE`) are outliers in
   the original space and stay noise even if smoothing pulled them in.
3b. **Selection by modularity.** Of the nested clusters in the condensed tree,
   the cut with the highest modularity of the *raw* kNN graph (resolution
   :data:`THEME_RESOLUTION`; :data:`SMALL_CORPUS_RESOLUTION` in a corpus of
   250-825 chunks) gives the themes, instead of HDBSCAN's excess of
   mass, which prefers the densest, often small, clusters: one intent came
   out as several paraphrase groups, and a diffuse newsgroup as scraps plus
   noise. The tree, ``min_cluster_size`` and the noise stay HDBSCAN's
   (Banking77 finest NMI 0.752 -> 0.786 with 85.8 -> 94.5 % clustered; full
   20 Newsgroups theme NMI 0.484 -> 0.542, 61 -> 79 %). ``cluster_selection="eom"``
   restores excess of mass. Given the previous run's themes (``prior_theme``), a
   cluster that matches one of them is preferred by up to ``stickiness`` of its
   modularity, so nightly runs do not flip between a parent and its children
   over a near-tie.
4. **Border points.** HDBSCAN* has no DBSCAN-style border points, so chunks
   on the rim of a theme come out as noise. A noise chunk joins a theme when
   at least :data:`BORDER_SHARE` of its (up to) :data:`BORDER_VOTES` nearest
   clustered graph neighbours (smoothed space) belong to that theme *and* it is no
   farther from its nearest such chunk than :data:`BORDER_REACH` times the
   theme's own largest core distance. Chunks in sparse regions or between
   themes stay noise. Only graph neighbours are consulted (no second search),
   so this step is ``O(n k)``.
4b. **Optional noise reassignment** (``reassign_noise=True``, off by default):
   label propagation over the raw graph's nearest neighbours (``noise.reassign_noise``) gives every
   noise chunk that some path connects to a theme the finest group (subtheme, else theme) that the
   evidence along those paths favours. This removes noise by design, so its share is reported
   (``diagnostics['reassigned_noise_pct']``) and quality figures are quoted with and without it.
5. **Subthemes.** Each theme with at least ``2 * min_subcluster_size``
   members goes through steps 1-4 again, on its own members' kNN graph, at
   ``min_subcluster_size``, at resolution :data:`SUBTHEME_RESOLUTION`, and with the whole
   theme allowed as the one cluster: a theme whose tree is best explained by
   one cluster gets no subthemes instead of being forced apart. A split whose parts are near-paraphrases (mean
   nearest-sibling centroid cosine above ``SUBTHEME_MAX_SIMILARITY``) is
   dropped too.

Everything is deterministic, so :func:`cluster_embeddings` takes no seed: exact FAISS search inside
themes, sparse matrix products and stable sorts; the only random step is the
optional stability check (:func:`theme_stability`, a seeded subsample). The
corpus-level graph (``tasks.core.knn_graph``) is exact up to 20k chunks and a seeded IVF
index above.

Quality self-report: ``diagnostics`` holds, per level, the number of groups
and the clustered share, a cohesion figure (size-weighted mean cosine of a
theme's members to its centroid, in the original space) and, when asked for,
:func:`theme_stability`.

Only numpy, scipy, faiss and hdbscan's compiled tree routines are used (and scikit-learn's
scores in the stability check; hdbscan imports them anyway): no UMAP/numba JIT, so a fresh
process clusters 13k chunks in a few seconds.

Modules
-------
One concern each; imports only point down this list (and to ``tasks.core.knn_graph`` and
``tasks.infra.machine``), never to a stage module:

* ``contract``: :class:`Clustering`, the tuning constants, parameter and input checks, :func:`recommended_k`.
* ``context``: step 0a, each chunk read with its neighbours in the same document (long documents only).
* ``space``: step 0, the vectors the graph and the clustering compare (the corpus's common direction
  removed by default).
* ``geometry``: steps 1-2 (kernel scale, transition matrix, smoothing, re-ranking).
* ``tree``: step 3 (mutual-reachability spanning tree, joined islands, excess-of-mass selection).
* ``selection``: step 3b (modularity cut, agreement with the previous run's themes).
* ``noise``: raw outliers, border points (step 4) and the noise reassignment (step 4b).
* ``themes``: steps 1-4 over one graph. ``subthemes``: step 5. ``quality``: cohesion and stability.
* ``pipeline``: :func:`cluster_embeddings` and the final numbering.
* ``documents``: :func:`cluster_documents`, the run's ``cluster_unit="document"``: each document one point
  (its chunks' unit mean), its chunks all in its groups.

The names below (``__all__``) are the package's API; the modules' other names are its internals.
"""

from tasks.core.clustering.context import CONTEXT_WEIGHT, THREAD_REACH, document_neighbours, with_document_context
from tasks.core.clustering.contract import (
    BORDER_REACH,
    BORDER_SHARE,
    BORDER_VOTES,
    DEFAULT_MIN_SAMPLES,
    KERNEL_SCALE,
    LARGE_CORPUS_K,
    LARGE_CORPUS_N,
    MIN_GRAPH_K,
    OUTLIER_FENCE,
    REASSIGN_NEIGHBOURS,
    REASSIGN_ROUNDS,
    SELECTION_METHODS,
    SMALL_CORPUS_RESOLUTION,
    SMOOTH_STEPS,
    SUBTHEME_MAX_SIMILARITY,
    SUBTHEME_RESOLUTION,
    THEME_RESOLUTION,
    Clustering,
    is_small_corpus,
    recommended_k,
    resolve_resolution,
)
from tasks.core.clustering.documents import cluster_documents, document_prior, document_vectors
from tasks.core.clustering.pipeline import cluster_embeddings
from tasks.core.clustering.quality import theme_cohesion, theme_stability
from tasks.core.clustering.space import (
    GEOMETRIES,
    HOMOGENEOUS_MEAN_COSINE,
    clustering_space,
    mean_pairwise_cosine,
    resolve_geometry,
)

__all__ = [
    "CONTEXT_WEIGHT",
    "THREAD_REACH",
    "GEOMETRIES",
    "HOMOGENEOUS_MEAN_COSINE",
    "BORDER_REACH",
    "BORDER_SHARE",
    "BORDER_VOTES",
    "DEFAULT_MIN_SAMPLES",
    "KERNEL_SCALE",
    "LARGE_CORPUS_K",
    "LARGE_CORPUS_N",
    "MIN_GRAPH_K",
    "OUTLIER_FENCE",
    "REASSIGN_NEIGHBOURS",
    "REASSIGN_ROUNDS",
    "SELECTION_METHODS",
    "SMALL_CORPUS_RESOLUTION",
    "SMOOTH_STEPS",
    "SUBTHEME_MAX_SIMILARITY",
    "SUBTHEME_RESOLUTION",
    "THEME_RESOLUTION",
    "Clustering",
    "is_small_corpus",
    "cluster_embeddings",
    "cluster_documents",
    "document_prior",
    "document_vectors",
    "document_neighbours",
    "with_document_context",
    "clustering_space",
    "mean_pairwise_cosine",
    "resolve_geometry",
    "recommended_k",
    "resolve_resolution",
    "theme_cohesion",
    "theme_stability",
]
