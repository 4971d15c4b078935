"""The start stage: parameters checked before any work, the previous run resolved once, scratch paths in one place."""

from __future__ import annotations

import pytest

from tasks.infra.catalog import open_catalog
from tasks.infra.errors import ConfigError
from tasks.infra.outputs import latest_run_id, promote_run
from tasks.infra.params import ClusterParams, RunParams
from tasks.infra.settings import Settings
from tasks.infra.storage import LocalStorage
from tasks.start import check_run_params, start_run


def test_unknown_summarizers_are_refused_before_any_work():
    check_run_params(RunParams(summarizers=["keyphrases", "exemplars"]))
    with pytest.raises(ConfigError, match="nope"):
        check_run_params(RunParams(summarizers=["keyphrases", "nope"]))


def test_the_previous_run_is_the_one_latest_points_at(tmp_path):
    settings = Settings(state_dir=tmp_path / "state")
    output = LocalStorage(tmp_path / "out", create=True)
    assert latest_run_id(output) is None
    promote_run(output, "20261129T020000Z-abcd", "2026-11-29T02:10:00Z")
    with open_catalog(settings.catalog_path) as catalog:
        run = start_run(catalog, settings, RunParams(), previous_run_id=latest_run_id(output))
        again = start_run(catalog, settings, RunParams(), run_id="same", previous_run_id="same")
    assert run.previous_run_id == "20261129T020000Z-abcd"
    assert again.previous_run_id is None, "a run never compares with itself"
    assert run.corpus_path.parent == tmp_path / "state" / "runs" / run.run_id
    assert run.corpus_path.parent.is_dir()


def test_a_stage_sees_only_the_parameters_it_reads():
    params = RunParams(min_cluster_size=40, resolution=2.0, top_n_nodes=7)
    view = params.view(ClusterParams)
    assert view.min_cluster_size == 40 and view.resolution == 2.0
    assert not hasattr(view, "top_n_nodes") and not hasattr(view, "keep_runs")
