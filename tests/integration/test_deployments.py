"""Scheduling that really runs: prefect.yaml's deployments on a real Prefect server (127.0.0.1).

The deployments are registered by the real ``prefect deploy --all`` (`flows.serve.register_deployments`, what
``make serve`` runs); the nightly cron must get scheduled runs from the server's scheduler; an ad-hoc run
started by ``prefect deployment run recluster/adhoc --param ...`` must be executed by a process worker to
COMPLETED with the overridden parameter in the published manifest. Then ``themesift serve`` (the
``prefect.serve`` path) must register the same deployments and run an ad-hoc run itself.
Every subprocess is ended in a ``finally``; waits poll against a deadline and nothing asserts on time.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from uuid import UUID

import pytest

from flows.serve import PROJECT_DIR, WORK_POOL, child_env, prefect_command, register_deployments, stop_process
from tests.integration.conftest import Workspace
from tests.integration.corpus import planted_document

pytestmark = pytest.mark.integration
T = TypeVar("T")
OVERRIDE = {"min_cluster_size": 5, "min_subcluster_size": 3, "top_n_nodes": 2}
FLOW_RUN_TIMEOUT_S = 600


def write_small_corpus(bucket: Path) -> None:
    """36 short documents, 12 on each of three planted themes far apart in meaning."""
    rng = random.Random(11)
    for theme in ("refunds", "gardening", "astronomy"):
        for i in range(12):
            (bucket / f"{theme}-{i:02d}.txt").write_text(planted_document(theme, rng))


def poll(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def client(prefect_server: str) -> Iterator:
    """A synchronous Prefect client on the test server."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(prefect_server) as prefect_client:
        yield prefect_client


@pytest.fixture(scope="module")
def registered(prefect_server: str, tmp_path_factory) -> dict[str, str]:
    """prefect.yaml's deployments registered on the test server; the env Prefect subprocesses should use."""
    home = tmp_path_factory.mktemp("prefect-client-home")
    env_extra = {"PREFECT_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with pytest.MonkeyPatch.context() as mp:  # `prefect deploy` keeps its local files out of the real PREFECT_HOME
        mp.setenv("PREFECT_HOME", str(home))
        register_deployments(prefect_server)
    return env_extra


def run_adhoc(api_url: str, env_extra: dict[str, str]) -> UUID:
    """``prefect deployment run recluster/adhoc --param params=<OVERRIDE>`` (the real CLI); the new flow run's id."""
    result = subprocess.run(prefect_command("deployment", "run", "recluster/adhoc", "--param",
                                            f"params={json.dumps(OVERRIDE)}"),
                            cwd=PROJECT_DIR, env=child_env(api_url, env_extra), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
    assert match, result.stdout
    return UUID(match.group(1))


def published_params(ws: Workspace) -> dict:
    """The run parameters recorded by the latest published run's manifest."""
    latest = json.loads((ws.out / "latest.json").read_text())
    return ws.manifest(latest["run_id"])["params"]


def test_nightly_cron_gets_scheduled_runs(registered, client):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    nightly = client.read_deployment_by_name("recluster/nightly")
    assert nightly.work_pool_name == WORK_POOL
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in nightly.schedules] == [("0 2 * * *", "UTC", True)]
    assert nightly.parameters["params"]["min_cluster_size"] == 25
    assert nightly.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_DIR)}}]

    def scheduled_runs():
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))))

    runs = poll(scheduled_runs, 120, "the scheduler to create runs for recluster/nightly")
    starts = sorted(run.expected_start_time for run in runs)
    assert all((t.hour, t.minute, t.second, t.utcoffset().total_seconds()) == (2, 0, 0, 0) for t in starts), starts
    assert len({t.date() for t in starts}) == len(starts)  # one run a night
    assert all(t > nightly.created for t in starts)


def test_adhoc_run_with_overridden_params_completes_on_a_worker(registered, client, prefect_server, tmp_path,
                                                                 monkeypatch):
    from tests.integration.conftest import make_workspace

    ws = make_workspace(tmp_path / "ws", monkeypatch)
    write_small_corpus(ws.bucket)
    flow_run_id = run_adhoc(prefect_server, registered)
    assert client.read_flow_run(flow_run_id).parameters == {"params": OVERRIDE}

    # Started outside the checkout: the deployment's pull step must bring the flow run back into it.
    worker = subprocess.Popen(prefect_command("worker", "start", "--pool", WORK_POOL, "--run-once"),
                              cwd=tmp_path, env=child_env(prefect_server, registered),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = worker.communicate(timeout=FLOW_RUN_TIMEOUT_S)
    finally:
        stop_process(worker)
    state = client.read_flow_run(flow_run_id).state
    assert state.is_completed(), f"{state!r}\n{output[-4000:]}"
    assert {k: published_params(ws)[k] for k in OVERRIDE} == OVERRIDE


def test_themesift_serve_registers_and_runs_the_same_deployments(registered, client, prefect_server, tmp_path,
                                                                  monkeypatch):
    from prefect.client.schemas.objects import StateType

    from tests.integration.conftest import make_workspace

    ws = make_workspace(tmp_path / "ws", monkeypatch)
    write_small_corpus(ws.bucket)
    for name in ("recluster/nightly", "recluster/adhoc"):  # so what follows is registered by `themesift serve`
        client.delete_deployment(client.read_deployment_by_name(name).id)

    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:  # a file, not a pipe nobody reads while it runs
        serve = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve"], cwd=tmp_path,
                                 env=child_env(prefect_server, registered), stdout=log, stderr=subprocess.STDOUT)
    try:
        def alive() -> None:
            if serve.poll() is not None:
                pytest.fail(f"themesift serve exited with {serve.returncode}: {log_path.read_text()[-4000:]}")

        def served(name: str):
            from prefect.exceptions import ObjectNotFound

            alive()
            try:
                return client.read_deployment_by_name(name)
            except ObjectNotFound:
                return None

        nightly = poll(lambda: served("recluster/nightly"), 180, "themesift serve to register recluster/nightly")
        poll(lambda: served("recluster/adhoc"), 30, "themesift serve to register recluster/adhoc")
        assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("0 2 * * *", "UTC")]
        assert nightly.parameters["params"]["min_cluster_size"] == 25

        flow_run_id = run_adhoc(prefect_server, registered)
        final = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}

        def finished():
            alive()
            run = client.read_flow_run(flow_run_id)
            return run if run.state and run.state.type in final else None

        run = poll(finished, FLOW_RUN_TIMEOUT_S, "the served ad-hoc run to finish")
    finally:
        stop_process(serve)
    assert run.state.is_completed(), f"{run.state!r}\n{log_path.read_text()[-4000:]}"
    assert {k: published_params(ws)[k] for k in OVERRIDE} == OVERRIDE
