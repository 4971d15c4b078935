"""The ``project`` stage: a 2-D map position for every chunk, for the report's map and the graph PNGs.

Contract: ``project_embeddings(emb, theme, seed=...) -> float32 (n, 2)``, every value in [-1, 1],
deterministic for a seed, row order = the corpus order. It is not UMAP: it is a layout built for reading
themes, in two steps, each linear in n:

1. **Where each theme sits.** The theme centroids (mean unit vectors) are laid out by PCA, so related
   themes land near each other. Each theme gets a disc whose area is proportional to its size, and a few
   rounds of pairwise repulsion push overlapping discs apart (k themes: O(k^2) per round, k is small).
2. **Where each chunk sits inside its theme.** A chunk's offset from its centroid is projected on the
   theme's own two main directions (PCA of a seeded sample of at most ``PCA_SAMPLE`` members), scaled by
   the theme's spread and squashed radially into the disc, so subthemes show as lobes of one cloud.

Noise chunks (label -1) join the theme whose centroid they are most similar to and sit in a halo around
its disc (radius ``NOISE_HALO`` times the disc), so they read as "near this theme but not in it". With no
theme at all every chunk is projected by a global PCA. n = 0 gives shape (0, 2); n = 1 gives [[0, 0]].
"""

from __future__ import annotations

import numpy as np

PCA_SAMPLE = 512
"""Members sampled per theme (and globally) to find its two main directions."""
NOISE_HALO = 1.3
"""Noise chunks sit in a ring from 0.95 to this multiple of their nearest theme's disc radius."""
REPULSION_ROUNDS = 80
"""Rounds of pairwise repulsion that separate the theme discs."""
_GAP = 1.15  # discs may not come closer than this multiple of their radii sum


def _validate(emb: np.ndarray, theme: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and dtypes; return float32 embeddings and int64 labels."""
    emb = np.asarray(emb)
    theme = np.asarray(theme)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, d), got shape {emb.shape}")
    if theme.ndim != 1 or len(theme) != len(emb):
        raise ValueError(f"theme labels must be 1-D with one label per row ({len(emb)}), got shape {theme.shape}")
    if theme.size and not np.issubdtype(theme.dtype, np.integer):
        raise ValueError(f"theme labels must be integers, got {theme.dtype}")
    return emb.astype(np.float32, copy=False), theme.astype(np.int64, copy=False)


def _top2_directions(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(d, 2) float32: the two main directions of the rows of ``x`` (already centred), zero-padded."""
    if len(x) > PCA_SAMPLE:
        x = x[np.sort(rng.choice(len(x), PCA_SAMPLE, replace=False))]
    basis = np.zeros((x.shape[1], 2), dtype=np.float32)
    if len(x) < 2:
        return basis
    # Block power iteration with thin products (never the d x d covariance): a full SVD takes ~0.8 s
    # in this numpy's LAPACK on 2 shared cores, this about a millisecond, and it stays float32 (FACTS.md).
    block = rng.standard_normal((x.shape[1], 4)).astype(np.float32)
    for _ in range(12):
        block, _ = np.linalg.qr(x.T @ (x @ block))
    projected = x @ block
    values, vectors = np.linalg.eigh((projected.T @ projected).astype(np.float64))
    top = (block @ vectors[:, ::-1][:, :2].astype(np.float32)).T
    for i, value in enumerate(values[::-1][:2]):
        if value <= 1e-12 * max(float(values.max()), 1e-30):
            continue  # a degenerate direction stays zero (e.g. all members identical)
        top[i] *= np.sign(top[i][np.argmax(np.abs(top[i]))]) or 1.0  # a fixed sign: no flips between runs
        basis[:, i] = top[i]
    return basis


def _squash(local: np.ndarray, spread: float) -> np.ndarray:
    """Scale (m, 2) offsets by ``spread`` and pull them radially into the unit disc (tanh of the radius)."""
    if spread <= 0:
        return np.zeros_like(local)
    scaled = local / (1.3 * spread)
    radius = np.linalg.norm(scaled, axis=1, keepdims=True)
    safe = np.where(radius > 0, radius, 1.0)
    return scaled * (np.tanh(radius) / safe)


def _layout_centres(centroids: np.ndarray, radii: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(k, 2) float32 disc centres: PCA of the centroids, spread to the discs' scale, overlaps pushed apart."""
    k = len(centroids)
    if k == 1:
        return np.zeros((1, 2), dtype=np.float32)
    centred = centroids - centroids.mean(axis=0)
    pos = (centred @ _top2_directions(centred, rng)).astype(np.float32)
    extent = float(np.abs(pos).max())
    # Spread the PCA layout so the whole map is about as wide as the discs need (area ~ sum of disc areas).
    target = 1.1 * float(np.sqrt((radii**2).sum()))
    pos = pos / extent * target if extent > 0 else rng.normal(scale=target / 3, size=(k, 2))
    pos += rng.normal(scale=1e-3 * target, size=pos.shape).astype(np.float32)  # separate exact duplicates
    need = ((radii[:, None] + radii[None, :]) * _GAP).astype(np.float32)
    np.fill_diagonal(need, 0.0)
    for _ in range(REPULSION_ROUNDS):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.sqrt((delta**2).sum(axis=2))
        overlap = np.clip(need - dist, 0.0, None)
        np.fill_diagonal(overlap, 0.0)
        if not overlap.any():
            break
        push = (delta / np.maximum(dist, 1e-9)[:, :, None]) * overlap[:, :, None]
        pos += 0.5 * push.sum(axis=1) / np.maximum((overlap > 0).sum(axis=1), 1)[:, None]
    return pos


def normalise_coords(coords: np.ndarray) -> np.ndarray:
    """Centre on the bounding box and scale the longer side to [-1, 1]; float32."""
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = float((hi - lo).max())
    out = coords - (lo + hi) / 2
    if span > 0:
        out = out * (2.0 / span)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def project_embeddings(emb: np.ndarray, theme: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Lay every chunk out on a 2-D map where themes are separate discs sized by their chunk count.

    Args:
        emb: float32 (n, d) unit vectors, one row per chunk.
        theme: int (n,) theme label per row; -1 is noise.
        seed: Seed for the member samples and tie-breaking jitter; same input and seed, same map.

    Returns:
        float32 (n, 2) positions in [-1, 1].

    Raises:
        ValueError: Shapes do not match or labels are not integers.
    """
    emb, theme = _validate(emb, theme)
    n = len(emb)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n == 1:
        return np.zeros((1, 2), dtype=np.float32)
    rng = np.random.default_rng(seed)
    labels = np.unique(theme[theme >= 0])
    if len(labels) == 0:
        centred = emb - emb.mean(axis=0)
        local = centred @ _top2_directions(centred, rng)
        return normalise_coords(_squash(local, float(np.sqrt((local**2).sum(axis=1).mean())) or 1.0))

    members = [np.flatnonzero(theme == t) for t in labels]
    centroids = np.stack([emb[rows].mean(axis=0) for rows in members]).astype(np.float32)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    radii = np.sqrt(np.array([len(rows) for rows in members], dtype=np.float64))
    centres = _layout_centres(centroids, radii, rng)

    noise = np.flatnonzero(theme < 0)
    # Nearest theme for each noise chunk, in blocks so 1M x k stays small in memory.
    nearest = np.concatenate([np.argmax(emb[noise[i:i + 65536]] @ centroids.T, axis=1)
                              for i in range(0, len(noise), 65536)]) if len(noise) else np.zeros(0, np.int64)
    coords = np.zeros((n, 2), dtype=np.float64)
    for j, rows in enumerate(members):
        mean = emb[rows].mean(axis=0)  # centre on the mean, not the unit centroid: no constant offset axis
        offsets = emb[rows] - mean
        basis = _top2_directions(offsets, rng)
        # Each axis scaled by its own spread: a theme reads as a round cloud filling its disc, not a sliver.
        local = offsets @ basis
        axis_rms = np.sqrt((local**2).mean(axis=0))
        scale = np.where(axis_rms > 1e-12, 1.0 / np.maximum(axis_rms, 1e-12), 0.0)
        spread = float(np.sqrt(2.0)) if axis_rms.max() > 1e-12 else 0.0
        coords[rows] = centres[j] + radii[j] * _squash(local * scale, spread)
        strays = noise[nearest == j]
        if len(strays):
            outside = ((emb[strays] - mean) @ basis) * scale
            direction = _squash(outside, spread or 1.0)
            norm = np.linalg.norm(direction, axis=1, keepdims=True)
            unit = np.where(norm > 0, direction / np.where(norm > 0, norm, 1.0), rng.normal(size=direction.shape))
            unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
            ring = 0.95 + (NOISE_HALO - 0.95) * rng.random((len(strays), 1))
            coords[strays] = centres[j] + radii[j] * unit * ring
    return normalise_coords(coords)
