"""Step 5: the batched subtheme pass equals splitting one theme at a time."""

import numpy as np
import pytest

from tasks.core.clustering import pipeline, subthemes
from tasks.core.clustering.selection import Selection
from tests.unit.core.clustering.clustering_fixtures import nested


@pytest.mark.parametrize("batch_rows", [65_536, 120])
def test_batched_subtheme_pass_equals_one_theme_at_a_time(monkeypatch, batch_rows):
    """All themes split side by side (in batches of any size) give exactly the per-theme result."""
    monkeypatch.setattr(subthemes, "_SUBTHEME_BATCH_ROWS", batch_rows)
    x, theme = nested()
    batched = subthemes.find_subthemes(x, theme, 5, 10, Selection("modularity", 0.6))
    one_by_one = np.full(len(x), -1, np.int64)
    next_id = 0
    for members in subthemes._members_by_label(theme):
        if len(members) < 10:
            continue
        local = subthemes._split_theme(x[members], 5, 5, Selection("modularity", 0.6))
        if local.max() >= 1:
            one_by_one[members[local >= 0]] = local[local >= 0] + next_id
            next_id += int(local.max()) + 1
    assert len(np.unique(theme[one_by_one >= 0])) >= 3  # several themes have subthemes
    got = pipeline.finish_clustering(theme, batched, {"seconds": {}})
    want = pipeline.finish_clustering(theme, one_by_one, {"seconds": {}})
    np.testing.assert_array_equal(got.subtheme, want.subtheme)
    np.testing.assert_array_equal(got.subtheme_theme, want.subtheme_theme)
