"""Static PNG graphs of a run's theme map (Telnyx's ``graph`` and per-``cluster_id`` graph).

``render_run_graph`` draws every chunk at its map position (`tasks.project`), coloured by theme, with
the largest themes labelled at their centres; ``render_theme_graph`` zooms to one theme, colours its
chunks by subtheme, shows its neighbours in grey and labels the subthemes. Both return PNG bytes. The
report stage writes them next to ``report.html``: ``graph.png`` and ``graphs/<cluster_id>.png``.

matplotlib (Agg, no display) is used for the text labels; it is imported only when a graph is drawn.
The colours are the report's palette, so a theme has the same colour in the report and the PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#d4a517", "#b07aa1", "#ff9da7", "#9c755f", "#6b8fd6")
"""Theme i is drawn in PALETTE[i % 10], as in the report's CSS (--p0 .. --p9)."""
NOISE = "#b9bfca"
FADED = "#e3e6eb"
MAX_LABELS = 25
"""At most this many labels on the run graph (the largest themes)."""
MAX_POINTS = 200_000
"""Above this many chunks the run graph draws a seeded sample (the title says so)."""


def _figure(width_px: int, height_px: int):
    """A white Agg figure with one frameless axis filling it."""
    # Lazy: matplotlib is heavy and only needed once a graph is drawn (see the module docstring).
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / 100, height_px / 100), dpi=100, facecolor="white")
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.92))
    ax.set_axis_off()
    ax.set_aspect("equal", adjustable="datalim")
    return fig, ax


def _png(fig) -> bytes:
    """The figure as PNG bytes (deterministic: no timestamps or software tag in the file)."""
    # Lazy: matplotlib is heavy and only needed once a graph is drawn (see the module docstring).
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png", facecolor="white", metadata={"Software": None})
    return out.getvalue()


def _dot_size(n: int) -> float:
    """Marker area in points^2: big dots for a few hundred chunks, fine ones for 100k."""
    return float(np.clip(1800.0 / max(n, 1) ** 0.75, 0.4, 16.0))


def _label(ax, x: float, y: float, text: str, size: float = 9.0) -> None:
    """A centred label with a white halo."""
    # Lazy: matplotlib is heavy and only needed once a graph is drawn (see the module docstring).
    import matplotlib.patheffects as effects

    short = text if len(text) <= 34 else text[:33] + "\u2026"
    ax.text(x, y, short, ha="center", va="center", fontsize=size, color="#1d2330", clip_on=True,
            path_effects=[effects.withStroke(linewidth=3, foreground="white")])


def render_run_graph(coords: np.ndarray, theme: np.ndarray, headers: Sequence[str], *, title: str = "",
                     seed: int = 0, width: int = 1400, height: int = 1000) -> bytes:
    """PNG of the whole map: every chunk coloured by theme, the largest themes labelled.

    Args:
        coords: float32 (n, 2) map positions.
        theme: int (n,) theme index per chunk, 0 = largest theme (the report's order); -1 noise.
        headers: Header per theme index.
        title: Printed at the top.
        seed: Seed for the sample drawn above `MAX_POINTS`.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        PNG bytes.
    """
    coords, theme = np.asarray(coords, dtype=np.float32), np.asarray(theme, dtype=np.int64)
    n = len(coords)
    if n > MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))
        coords, theme = coords[keep], theme[keep]
        title = f"{title} (sample of {MAX_POINTS:,} of {n:,} chunks)".strip()
    fig, ax = _figure(width, height)
    size = _dot_size(len(coords))
    noise = theme < 0
    if noise.any():
        ax.scatter(coords[noise, 0], coords[noise, 1], s=size, c=NOISE, linewidths=0, alpha=0.7)
    if (~noise).any():
        colours = np.array(PALETTE)[theme[~noise] % len(PALETTE)]
        ax.scatter(coords[~noise, 0], coords[~noise, 1], s=size, c=colours, linewidths=0, alpha=0.85)
    for t in range(min(len(headers), MAX_LABELS)):
        rows = theme == t
        if rows.any():
            _label(ax, float(np.median(coords[rows, 0])), float(np.median(coords[rows, 1])), headers[t])
    if n == 0:
        ax.text(0.5, 0.5, "no chunks in this run", ha="center", va="center", transform=ax.transAxes, color="#5d6676")
    fig.suptitle(title, x=0.01, ha="left", fontsize=12, color="#1d2330")
    return _png(fig)


def render_theme_graph(coords: np.ndarray, theme: np.ndarray, subtheme: np.ndarray, index: int,
                       sub_headers: Sequence[str], *, title: str = "", width: int = 900, height: int = 700) -> bytes:
    """PNG of one theme: its chunks coloured by subtheme, the chunks around it in grey, subthemes labelled.

    Args:
        coords: float32 (n, 2) map positions.
        theme: int (n,) theme index per chunk (-1 noise).
        subtheme: int (n,) subtheme index inside the chunk's theme, 0 = largest (-1 none).
        index: The theme to draw.
        sub_headers: Header per subtheme index of this theme.
        title: Printed at the top.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        PNG bytes.
    """
    coords = np.asarray(coords, dtype=np.float32)
    theme, subtheme = np.asarray(theme, dtype=np.int64), np.asarray(subtheme, dtype=np.int64)
    mine = theme == index
    fig, ax = _figure(width, height)
    if mine.any():
        lo, hi = coords[mine].min(axis=0), coords[mine].max(axis=0)
        pad = max(float((hi - lo).max()) * 0.12, 0.02)
        lo, hi = lo - pad, hi + pad
        near = ~mine & np.all((coords >= lo) & (coords <= hi), axis=1)
        size = _dot_size(int(mine.sum())) * 1.4
        ax.scatter(coords[near, 0], coords[near, 1], s=size * 0.7, c=FADED, linewidths=0)
        subs = subtheme[mine]
        colours = np.where(subs >= 0, np.array(PALETTE)[np.maximum(subs, 0) % len(PALETTE)], NOISE)
        ax.scatter(coords[mine, 0], coords[mine, 1], s=size, c=colours, linewidths=0, alpha=0.9)
        for j, header in enumerate(sub_headers):
            rows = mine & (subtheme == j)
            if rows.any():
                _label(ax, float(np.median(coords[rows, 0])), float(np.median(coords[rows, 1])), header, 10.0)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
    fig.suptitle(title, x=0.01, ha="left", fontsize=12, color="#1d2330")
    return _png(fig)
