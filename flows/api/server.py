"""``themesift api`` / ``make api``: everything the HTTP API needs, started in one command.

In order: the Prefect API (``PREFECT_API_URL``, else a local server on 127.0.0.1 like ``make serve``), the
``prefect.yaml`` deployments registered on the ``themesift-local`` pool (one flow run at a time), a process
worker (unless ``worker=False``: another machine runs it), then uvicorn serving the API on 127.0.0.1. Ctrl-C
or SIGTERM stops the API, then the worker, then a server it started.
"""

from __future__ import annotations

import signal
import sys
import threading

import uvicorn

from flows.api.app import create_app
from flows.api.security import check_key_hashes, hash_api_key, new_api_key
from flows.serve import exit_on_sigterm, prefect_api, register_deployments, start_worker, stop_process
from tasks.infra.errors import ConfigError
from tasks.infra.settings import Settings, load_settings


def api_key_hashes(settings: Settings) -> list[str]:
    """The configured key digests; when none are, a new key for this session, printed once to stderr.

    Raises:
        ConfigError: a configured digest is malformed.
    """
    try:
        hashes = check_key_hashes(settings.api_key_hashes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if hashes:
        return hashes
    key = new_api_key()
    print(f"no THEMESIFT_API_KEY_HASHES configured: this session's API key is {key}\n"
          f"  (to keep one: THEMESIFT_API_KEY_HASHES='[\"{hash_api_key(key)}\"]')", file=sys.stderr)
    return [hash_api_key(key)]


def serve_api(*, host: str = "127.0.0.1", port: int | None = None, prefect_port: int = 4200,
              worker: bool = True) -> None:
    """Serve the HTTP API until Ctrl-C or SIGTERM, with the Prefect server and worker it needs."""
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default handler that would kill
        # this process before the `finally` blocks stop the worker and the Prefect server it started.
        signal.signal(signal.SIGTERM, exit_on_sigterm)
    settings = load_settings()
    hashes = api_key_hashes(settings)
    if not settings.api_buckets:
        print("note: THEMESIFT_API_BUCKETS is empty, so every clustering request will be refused (422); "
              "set it to the bucket names or URL prefixes this deployment serves", file=sys.stderr)
    with prefect_api(prefect_port) as api_url:
        register_deployments(api_url)
        proc = start_worker(api_url) if worker else None
        try:
            port = port or settings.api_port
            print(f"themesift API on http://{host}:{port} (OpenAPI: /docs); jobs run on {api_url}", file=sys.stderr)
            uvicorn.run(create_app(settings, api_url, hashes), host=host, port=port, log_level="info",
                        access_log=False)
        finally:
            if proc is not None:
                stop_process(proc)
