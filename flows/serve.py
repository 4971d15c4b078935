"""Run the recluster deployments on a local Prefect server: what `themesift serve` and `make serve` do.

``prefect.yaml`` is the one declaration of the deployments (names, cron schedule, default parameters,
work pool); both ways of running them read it:

- **worker** (`make serve`, `themesift serve --worker`): register the deployments from ``prefect.yaml``
  with the real ``prefect deploy --all`` on the ``themesift-local`` process work pool, then run a process
  worker that starts each flow run (nightly or ad hoc) as a subprocess in this checkout.
- **runner** (`themesift serve`): this process registers the same deployments and runs their flow runs
  itself (``prefect.serve``), with no work pool.

Either way, when no ``PREFECT_API_URL`` is configured a local Prefect server is started first on
127.0.0.1 (its SQLite database under ``PREFECT_HOME``, so schedules survive a restart) and stopped on exit.
The Prefect CLI runs in subprocesses so the same commands a person would type are the ones exercised.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from prefect import serve as prefect_serve
from prefect.client.schemas.schedules import CronSchedule
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

from tasks.infra.errors import ConfigError, ThemesiftError

PROJECT_DIR = Path(__file__).resolve().parents[1]
PREFECT_FILE = PROJECT_DIR / "prefect.yaml"
WORK_POOL = "themesift-local"
DEFAULT_PORT = 4200
SERVER_START_TIMEOUT_S = 180.0
#: Flow runs the work pool runs at once: one, since they share the state folder's lock.
POOL_CONCURRENCY = 1


def load_deployment_specs(path: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    """The ``deployments`` blocks of ``prefect.yaml``.

    Raises:
        ConfigError: the file is missing, not YAML, or declares no deployments.
    """
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; restore it from the repository") from None
    deployments = (spec or {}).get("deployments") or []
    if not deployments:
        raise ConfigError(f"{path} declares no deployments; restore it from the repository")
    return deployments


def entrypoint_flow(entrypoint: str) -> Any:
    """The flow a ``prefect.yaml`` entrypoint (``flows/recluster.py:recluster``) names, imported."""
    module, _, attr = entrypoint.partition(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), attr)


def runner_deployments(specs: list[dict[str, Any]]) -> list[Any]:
    """``RunnerDeployment`` objects for `prefect.serve`, one per ``prefect.yaml`` block (its flow, schedules and
    parameters kept).
    """
    deployments = []
    for spec in specs:
        schedules = [CronSchedule(cron=s["cron"], timezone=s.get("timezone", "UTC"))
                     for s in spec.get("schedules") or []]
        deployments.append(entrypoint_flow(spec["entrypoint"]).to_deployment(
            name=spec["name"], description=spec.get("description"), schedules=schedules or None,
            parameters=spec.get("parameters") or {}))
    return deployments


def prefect_command(*args: str) -> list[str]:
    """The Prefect CLI of this environment (``python -m prefect``), with its arguments."""
    return [sys.executable, "-m", "prefect", *args]


def child_env(api_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a Prefect subprocess, pointed at ``api_url``, no prompts or telemetry."""
    return {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_CLI_PROMPT": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", **(extra or {})}


def configured_api_url() -> str | None:
    """The Prefect API this environment is configured for (``PREFECT_API_URL`` or the active profile), if any."""
    return PREFECT_API_URL.value() or None


def server_is_healthy(api_url: str) -> bool:
    """True when a Prefect API answers its health check at ``api_url``."""
    try:
        return httpx.get(api_url.rstrip("/") + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_server(api_url: str, proc: subprocess.Popen | None = None,
                    timeout_s: float = SERVER_START_TIMEOUT_S, log_path: Path | None = None) -> None:
    """Block until the API at ``api_url`` is healthy.

    Raises:
        ThemesiftError: ``proc`` exited first, or the deadline passed (the message names the log).
    """
    deadline = time.monotonic() + timeout_s
    where = f"; see {log_path}" if log_path else ""
    while not server_is_healthy(api_url):
        if proc is not None and proc.poll() is not None:
            raise ThemesiftError(f"the Prefect server exited with code {proc.returncode} while starting{where}")
        if time.monotonic() > deadline:
            raise ThemesiftError(f"the Prefect server at {api_url} was not healthy after {timeout_s:.0f} s{where}")
        time.sleep(0.5)


def start_local_server(port: int, home: Path) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on 127.0.0.1:``port`` (log: ``<home>/server.log``); returns it and its API URL.

    The server gets its own session so a Ctrl-C reaches the worker first; `stop_process` ends it.
    """
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port)),
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(api_url, proc, log_path=log_path)
    except BaseException:
        stop_process(proc)
        raise
    return proc, api_url


def stop_process(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """Terminate ``proc`` (SIGTERM), then kill it if it has not exited within ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_prefect(api_url: str, *args: str) -> subprocess.CompletedProcess:
    """Run one Prefect CLI command against ``api_url`` from the project folder; output captured."""
    return subprocess.run(prefect_command(*args), cwd=PROJECT_DIR, env=child_env(api_url),
                          capture_output=True, text=True, check=False)


def register_deployments(api_url: str) -> None:
    """Create the ``themesift-local`` process work pool if missing, limit it to one flow run at a time, then
    ``prefect deploy --all`` from ``prefect.yaml``.

    The limit makes runs queue in Prefect (state ``Scheduled``, then ``Late``) instead of starting together and
    all but one failing for the state folder's lock: the nightly run, ad-hoc runs and the HTTP API's requests
    take their turn.

    Raises:
        ThemesiftError: a command failed; the message carries the end of its output.
    """
    if run_prefect(api_url, "work-pool", "inspect", WORK_POOL).returncode != 0:
        _check(run_prefect(api_url, "work-pool", "create", WORK_POOL, "--type", "process"), "creating the work pool")
    _check(run_prefect(api_url, "work-pool", "set-concurrency-limit", WORK_POOL, str(POOL_CONCURRENCY)),
           "limiting the work pool to one flow run at a time")
    _check(run_prefect(api_url, "--no-prompt", "deploy", "--all"), "registering the deployments from prefect.yaml")


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    """Raise `ThemesiftError` with the end of the output when a Prefect command failed."""
    if result.returncode == 0:
        return
    output = (result.stdout + result.stderr).strip()
    hint = ""
    if "422 Unprocessable Entity" in output and "valid integer" in output:
        # FastAPI 0.151+ validates an explicit JSON null instead of using the default; Prefect 3.8.8's client sends
        # `"limit": null` and its server then refuses the request.
        hint = " (the Prefect server runs on FastAPI 0.151 or newer; install fastapi<0.151)"
    raise ThemesiftError(f"{what} failed (exit {result.returncode}){hint}: {output[-1500:]}")


@contextlib.contextmanager
def prefect_api(port: int = DEFAULT_PORT) -> Iterator[str]:
    """The configured Prefect API, else one on 127.0.0.1:``port`` (reused if it answers, else started and stopped)."""
    api_url = configured_api_url()
    if api_url:
        wait_for_server(api_url, timeout_s=10)
        yield api_url
        return
    local_url = f"http://127.0.0.1:{port}/api"
    if server_is_healthy(local_url):
        print(f"using the Prefect server already running at {local_url}", file=sys.stderr)
        yield local_url
        return
    proc, local_url = start_local_server(port, Path(PREFECT_HOME.value()))
    print(f"started a local Prefect server: {local_url} (UI at http://127.0.0.1:{port})", file=sys.stderr)
    try:
        yield local_url
    finally:
        stop_process(proc)


def start_worker(api_url: str) -> subprocess.Popen:
    """Start a process worker on ``themesift-local`` in this checkout (`stop_process` ends it)."""
    return subprocess.Popen(prefect_command("worker", "start", "--pool", WORK_POOL, "--type", "process"),
                            cwd=PROJECT_DIR, env=child_env(api_url))


def run_worker(api_url: str) -> int:
    """Run a process worker on ``themesift-local`` until it exits (Ctrl-C stops it); returns its exit code."""
    proc = start_worker(api_url)
    try:
        return proc.wait()
    finally:
        stop_process(proc)  # on Ctrl-C the worker got the same signal; this waits for it, or ends it


def serve_from_process(api_url: str) -> None:
    """Register the ``prefect.yaml`` deployments from this process and run their flow runs here (`prefect.serve`)."""
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        prefect_serve(*runner_deployments(load_deployment_specs()))


def exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM handler: leave through the ``finally`` blocks, so the worker and a server we started stop too."""
    raise SystemExit(128 + signum)


def serve_deployments(*, worker: bool, port: int = DEFAULT_PORT) -> None:
    """Serve recluster/nightly and recluster/adhoc until Ctrl-C or SIGTERM: by a process worker or from this process."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, exit_on_sigterm)  # prefect.serve installs its own, which exits the same way
    with prefect_api(port) as api_url:
        if worker:
            register_deployments(api_url)
            print(f"registered the prefect.yaml deployments on {api_url}; starting a worker on '{WORK_POOL}'",
                  file=sys.stderr)
            run_worker(api_url)
        else:
            serve_from_process(api_url)
