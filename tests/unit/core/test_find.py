"""find: the kNN vote over a run's clustered chunks, against the nearest-centroid rule it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.find import ThemeFinder


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def arc(n: int, start: float, stop: float, z: float = 0.0) -> np.ndarray:
    """Unit vectors along an arc of the x-y circle, lifted a little towards z."""
    angle = np.linspace(start, stop, n)
    return unit(np.stack([np.cos(angle), np.sin(angle), np.full(n, z)], axis=1))


def test_a_text_at_the_end_of_a_long_theme_is_found_in_it_where_the_centroid_rule_misses():
    # Theme 0 is a long arc (its mean sits in the middle, far from its ends); theme 1 a tight group placed just
    # past the arc's end, but apart from it. A text at the arc's far end is a theme-0 text.
    long = arc(200, 0.0, 2.2)
    jitter = np.random.default_rng(0).normal(0, 0.02, (40, 3))
    tight = unit(np.tile([np.cos(2.75), np.sin(2.75), 0.0], (40, 1)) + jitter)
    vectors = np.vstack([long, tight]).astype(np.float32)
    theme = np.repeat([0, 1], [200, 40])
    finder = ThemeFinder(vectors, theme, np.full(240, -1))
    text = unit(np.array([[np.cos(2.25), np.sin(2.25), 0.0]]))
    assert finder.find(text, method="knn")[0][0].theme == 0
    assert finder.find(text, method="centroid")[0][0].theme == 1


def test_votes_similarity_subtheme_threshold_and_noise():
    rng = np.random.default_rng(1)
    centres = unit(rng.normal(size=(3, 16)))
    vectors = unit(np.repeat(centres, 30, axis=0) + rng.normal(0, 0.05, (90, 16))).astype(np.float32)
    theme = np.repeat([0, 1, -1], 30)  # the third group is noise: it never votes
    subtheme = np.where(np.arange(90) % 30 < 20, 0, 1)
    subtheme[30:] = -1
    finder = ThemeFinder(vectors, theme, subtheme)
    assert finder.n_themes == 2 and finder.vectors.shape == (60, 16)
    near_first = unit(vectors[:20].mean(axis=0, keepdims=True))  # inside theme 0's first subtheme
    [[best, *rest]] = finder.find(near_first, k=15, limit=3)
    assert (best.theme, best.subtheme) == (0, 0) and best.votes == pytest.approx(1.0) and rest == []
    assert best.similarity == pytest.approx(float((vectors[:30] @ near_first[0]).max()), abs=1e-5)
    on_noise = unit(centres[2:3])
    found = finder.find(on_noise, threshold=0.9)[0]
    assert found == [], "a text near only noise chunks finds nothing once the threshold is above their themes'"
    assert finder.find(on_noise, threshold=-1.0)[0], "without a threshold the least bad theme is still returned"
    blocks = finder.find(np.repeat(near_first, 5, axis=0), method="centroid")
    assert [b[0].theme for b in blocks] == [0] * 5


def test_bad_shapes_and_empty_runs_are_clear():
    with pytest.raises(ValueError, match="one row per chunk"):
        ThemeFinder(np.zeros((3, 4), np.float32), np.zeros(2), np.zeros(2))
    finder = ThemeFinder(unit(np.ones((3, 4))), np.full(3, -1), np.full(3, -1))
    assert finder.find(unit(np.ones((2, 4)))) == [[], []]
    with pytest.raises(ValueError, match="dimensions"):
        finder.find(np.ones((1, 5), np.float32))
    with pytest.raises(ValueError, match="unknown find method"):
        ThemeFinder(unit(np.ones((3, 4))), np.zeros(3), np.zeros(3)).find(unit(np.ones((1, 4))), method="x")
