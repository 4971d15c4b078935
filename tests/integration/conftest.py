"""Integration fixtures: one Prefect test harness per session, a private state/output folder per use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throwaway Prefect API (SQLite in a temp folder) shared by every flow run in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@dataclass
class Workspace:
    """A bucket folder plus the state and output folders one deployment would use."""

    root: Path

    @property
    def bucket(self) -> Path:
        return self.root / "bucket"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def manifest(self, run_id: str) -> dict:
        return json.loads((self.out / "runs" / run_id / "manifest.json").read_text())

    def themes(self, run_id: str) -> dict:
        return json.loads((self.out / "runs" / run_id / "themes.json").read_text())


def make_workspace(root: Path, mp: pytest.MonkeyPatch) -> Workspace:
    """Point THEMESIFT_* at folders under ``root``."""
    ws = Workspace(root)
    ws.bucket.mkdir(parents=True, exist_ok=True)
    mp.setenv("THEMESIFT_BUCKET_URL", f"file://{ws.bucket}")
    mp.setenv("THEMESIFT_OUTPUT_URL", f"file://{ws.out}")
    mp.setenv("THEMESIFT_STATE_DIR", str(ws.state))
    mp.setenv("THEMESIFT_EMBED_COMMIT_SIZE", "64")
    return ws


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh deployment for one test."""
    return make_workspace(tmp_path, monkeypatch)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP server (moto's server mode) on 127.0.0.1, for the whole session."""
    import os

    from moto.server import ThreadedMotoServer

    # Fake credentials for the default AWS chain: tests must never reach a real account.
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(endpoint: str, **credentials: str):
    """A boto3 client for the test server (path-style, as most self-hosted servers want)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}), **credentials)


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request) -> str:
    """A fresh bucket on the test server; THEMESIFT_S3_* point at it. Returns ``s3://<bucket>``."""
    import re

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + f"-{free_port()}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("THEMESIFT_S3_ADDRESSING_STYLE", "path")
    return f"s3://{name}"


@pytest.fixture(scope="session")
def s3_auth_endpoint(s3_endpoint) -> Iterator[dict]:
    """A second moto server that checks signatures: a bucket plus a valid key pair for it.

    moto skips authentication by default; INITIAL_NO_AUTH_ACTION_COUNT lets the first calls (creating
    the IAM user, its key and policy, and the bucket) through, then every request must be signed right.
    """
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(endpoint + "/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        import boto3

        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        s3_client(endpoint).create_bucket(Bucket="guarded")
        yield {"endpoint": endpoint, "bucket": "guarded", "key_id": key["AccessKeyId"],
               "secret": key["SecretAccessKey"]}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[str]:
    """A real Prefect API server on 127.0.0.1 (its own home and SQLite DB); yields its API URL."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        else:
            raise RuntimeError("prefect server did not become healthy in 180 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
