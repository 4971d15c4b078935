"""The HTTP API as a client sees it: ``themesift api`` started for real, on a real Prefect server and worker.

One ``themesift api`` process per module (uvicorn on 127.0.0.1, the ``prefect.yaml`` deployments registered on
the session's Prefect server, a process worker), serving a bucket on the loopback S3 server (moto). The
tutorial's requests run as Telnyx's curl lines send them, only the host and key changed; then the refusals;
then property-based fuzzing with schemathesis against the served ``/openapi.json``, with and without a key.
Waits poll against a deadline; nothing asserts on time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from flows.api.jobs import bucket_locations
from flows.api.security import hash_api_key
from flows.serve import PROJECT_DIR, stop_process
from tasks.infra.settings import load_settings
from tests.integration.conftest import free_port, s3_client
from tests.integration.corpus import planted_document

pytestmark = pytest.mark.integration
KEY = "tsk_test-key-for-the-api-tests"
BUCKET = "tutorial-bucket"
MIXED = "mixed-bucket"  # the planted documents plus a binary file and a JSONL file with one broken record
TICKETS = "tickets-bucket"  # JSONL tickets with metadata (channel, lang, score, opened) and repeated questions
REPEATED = "Where is my refund for the order I returned last week?"
JOB_TIMEOUT_S = 600


@dataclass
class Api:
    url: str
    root: Path
    log: Path

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def upload_corpus(endpoint: str) -> None:
    """36 short documents, 12 on each of three planted themes, in two fresh buckets on the loopback S3 server;
    the second also holds a file that is not text and a JSONL file with one malformed record."""
    s3 = s3_client(endpoint)
    for bucket in (BUCKET, MIXED):
        s3.create_bucket(Bucket=bucket)
        rng = random.Random(5)
        for theme in ("refunds", "gardening", "astronomy"):
            for i in range(12):
                s3.put_object(Bucket=bucket, Key=f"{theme}/{i:02d}.txt", Body=planted_document(theme, rng).encode())
    s3.put_object(Bucket=MIXED, Key="blob.bin", Body=b"\x00\x01\x02 not text")
    s3.create_bucket(Bucket=TICKETS)
    s3.put_object(Bucket=TICKETS, Key="tickets.jsonl", Body="\n".join(json.dumps(t) for t in tickets()).encode())
    s3.put_object(Bucket=MIXED, Key="notes.jsonl", Body=b'{"text": "Water the basil every morning."}\n{broken\n')


def tickets() -> list[dict]:
    """60 tickets on three planted themes (20 each), with metadata, and 8 copies of one refund question in
    other case, punctuation and spacing (all on the email channel, opened in July)."""
    rng = random.Random(9)
    rows = []
    for t, theme in enumerate(("refunds", "gardening", "astronomy")):
        for i in range(20):
            rows.append({"id": f"{theme}-{i:02d}", "text": planted_document(theme, rng),
                         "channel": "chat" if i % 2 else "email", "lang": "de" if i % 5 == 0 else "en",
                         "score": i % 6, "opened": f"2024-0{5 + (i + t) % 2}-{1 + i:02d}"})
    variants = [REPEATED, REPEATED.upper(), REPEATED.lower().rstrip("?"), "  " + REPEATED.replace(" ", "  ")]
    for i, text in enumerate(variants * 2):
        rows.append({"id": f"repeat-{i}", "text": text, "channel": "email", "lang": "en", "score": 1,
                     "opened": f"2024-07-{1 + i:02d}"})
    return rows


@pytest.fixture(scope="module")
def api(prefect_server: str, s3_endpoint: str, tmp_path_factory) -> Iterator[Api]:
    """``themesift api`` (with its worker) on a free port, configured only through its environment."""
    root = tmp_path_factory.mktemp("api")
    upload_corpus(s3_endpoint)
    port = free_port()
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_HOME": str(root / "prefect-home"),
           "THEMESIFT_STATE_DIR": str(root / "state"), "THEMESIFT_OUTPUT_URL": f"file://{root / 'out'}",
           "THEMESIFT_S3_ENDPOINT_URL": s3_endpoint, "THEMESIFT_S3_ADDRESSING_STYLE": "path",
           "THEMESIFT_API_BUCKETS": json.dumps([BUCKET, MIXED, TICKETS]),
           "THEMESIFT_API_KEY_HASHES": json.dumps([hash_api_key(KEY)]),
           "THEMESIFT_EMBED_COMMIT_SIZE": "64", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = root / "api.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "api", "--port", str(port)], cwd=PROJECT_DIR,
                                env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = Api(f"http://127.0.0.1:{port}", root, log)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"themesift api did not come up:\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        stop_process(proc, timeout_s=60)
        left = leftover_processes(proc.pid)
        if left:  # SIGTERM must stop the worker `themesift api` started, not orphan it
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"themesift api left processes behind after SIGTERM: {left}")


def leftover_processes(group: int, wait_s: float = 30) -> list[int]:
    """Processes still in a process group after a grace period (none once everything has shut down)."""
    deadline = time.monotonic() + wait_s
    while True:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        left = [pid for pid in pids if process_group(pid) == group]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def wait_for_job(client: httpx.Client, task_id: str, api: Api) -> dict:
    """Poll a job until it is completed (failing the test if it fails or never finishes); its last response."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    seen = set()
    while time.monotonic() < deadline:
        response = client.get(f"/v2/ai/clusters/{task_id}")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        seen.add(data["status"])
        assert data["status"] in ("pending", "starting", "running", "completed", "failed")
        if data["status"] == "completed":
            return data
        assert data["status"] != "failed", f"{data['error']}\n{api.log_tail()}"
        time.sleep(1)
    pytest.fail(f"job {task_id} did not complete (statuses seen: {seen})\n{api.log_tail()}")


def run_folder(api: Api, run_id: str, bucket: str = BUCKET) -> Path:
    """Where a run of a bucket publishes (the API keeps one output folder per bucket)."""
    settings = load_settings(state_dir=str(api.root / "state"), output_url=f"file://{api.root / 'out'}")
    _, output_url = bucket_locations(settings, f"s3://{bucket}")
    return Path(output_url.removeprefix("file://")) / "runs" / run_id


def test_the_tutorial_requests_work_with_only_the_host_changed(api: Api):
    with api.client() as client:
        # curl -X POST https://api.telnyx.com/v2/ai/clusters -H "Authorization: Bearer $KEY" \
        #   -H "Content-Type: application/json" --data '{"bucket": "...", "min_cluster_size": 5, ...}'
        created = client.post("/v2/ai/clusters", json={"bucket": BUCKET, "min_cluster_size": 5,
                                                        "min_subcluster_size": 3})
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        assert uuid.UUID(task_id)
        done = wait_for_job(client, task_id, api)
        # Telnyx's default fetch (top_n_nodes=0, show_subclusters=false): the clusters without passages or subclusters.
        assert done["clusters"] and all(c["nodes"] == [] and c["subclusters"] == [] for c in done["clusters"])

        fetched = client.get(f"/v2/ai/clusters/{task_id}?show_subclusters=true&top_n_nodes=3")
        assert fetched.status_code == 200
        data = fetched.json()["data"]
        assert data["status"] == "completed" and data["bucket"] == BUCKET
        clusters = data["clusters"]
        assert len(clusters) >= 2, clusters
        sizes = [c["total_number_of_nodes"] for c in clusters]
        assert sizes == sorted(sizes, reverse=True)
        for cluster in clusters:
            assert cluster["cluster_header"].strip() and cluster["cluster_summary"].strip()
            assert 1 <= len(cluster["nodes"]) <= 3
            centrality = [n["centrality"] for n in cluster["nodes"]]
            assert centrality == sorted(centrality, reverse=True)
            assert all(n["filename"].endswith(".txt") and n["text"].strip() for n in cluster["nodes"])
            assert all(len(s["nodes"]) <= 3 and s["parent_cluster_id"] == cluster["cluster_id"]
                       for s in cluster["subclusters"])
        assert client.get(f"/v2/ai/clusters/{task_id}?top_n_nodes=101").status_code == 422
        without_subclusters = client.get(f"/v2/ai/clusters/{task_id}?top_n_nodes=1").json()["data"]["clusters"]
        assert all(c["subclusters"] == [] and len(c["nodes"]) == 1 for c in without_subclusters)

        graph = client.get(f"/v2/ai/clusters/{task_id}/graph")
        assert graph.status_code == 200 and graph.headers["content-type"] == "image/png"
        assert graph.content.startswith(b"\x89PNG\r\n\x1a\n") and len(graph.content) > 1000
        one = client.get(f"/v2/ai/clusters/{task_id}/graph", params={"cluster_id": clusters[0]["cluster_id"]})
        assert one.status_code == 200 and one.content.startswith(b"\x89PNG") and one.content != graph.content
        for cluster_id in ("t999999", "../graph", "t0/../../manifest"):
            missing = client.get(f"/v2/ai/clusters/{task_id}/graph", params={"cluster_id": cluster_id})
            assert missing.status_code == 404, cluster_id

        listed = client.get("/v2/ai/clusters", params={"page[number]": 0, "page[size]": 1}).json()
        assert listed["meta"]["page_size"] == 1 and listed["meta"]["total_results"] >= 1
        assert listed["meta"]["total_pages"] == listed["meta"]["total_results"]
        row = next(r for r in client.get("/v2/ai/clusters").json()["data"] if r["task_id"] == task_id)
        assert row["status"] == "completed" and row["bucket"] == BUCKET and row["finished_at"]
        assert (row["min_cluster_size"], row["min_subcluster_size"]) == (5, 3)

        folder = run_folder(api, data["run_id"])
        assert (folder / "manifest.json").is_file()
        embeddings = list((api.root / "state").rglob("embeddings/**/*.parquet"))
        assert embeddings
        assert client.delete(f"/v2/ai/clusters/{task_id}").status_code == 204
        assert client.get(f"/v2/ai/clusters/{task_id}").status_code == 404
        assert client.delete(f"/v2/ai/clusters/{task_id}").status_code == 404
        assert not folder.exists()
        assert all(p.exists() for p in embeddings)  # the bucket's embeddings stay for the next configuration


def test_configurations_queue_and_reuse_the_embeddings_and_the_graph(api: Api):
    with api.client() as client:
        # Same cluster sizes (so the same k), other resolutions: two configurations posted together.
        bodies = [{"bucket": BUCKET, "min_cluster_size": 6, "min_subcluster_size": 3, "resolution": r}
                  for r in (1.0, 2.0)]
        task_ids = [client.post("/v2/ai/clusters", json=b).json()["data"]["task_id"] for b in bodies]
        manifests = []
        for task_id in task_ids:
            data = wait_for_job(client, task_id, api)
            manifests.append(json.loads((run_folder(api, data["run_id"]) / "manifest.json").read_text()))
    assert [m["params"]["resolution"] for m in manifests] == [1.0, 2.0]
    assert all(m["params"]["promote"] is False for m in manifests)  # API runs never move `latest` unasked
    later = max(manifests, key=lambda m: m["started_at"])
    assert later["counts"]["chunks_embedded"] == 0  # identical passages share one cached vector
    assert later["counts"]["knn_graphs_reused"] == 1


def test_the_embedding_routes_embed_report_each_file_and_search(api: Api):
    with api.client() as client:
        # curl -X POST https://api.telnyx.com/v2/ai/embeddings --data '{"bucket_name": "..."}'
        created = client.post("/v2/ai/embeddings", json={"bucket_name": MIXED})
        assert created.status_code == 200, created.text
        task = created.json()["data"]
        assert task["status"] == "queued" and task["task_name"] == "embed"
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while task["status"] in ("queued", "processing") and time.monotonic() < deadline:
            time.sleep(1)
            task = client.get(f"/v2/ai/embeddings/{task['task_id']}").json()["data"]
        assert task["status"] == "partial_success", f"{task}\n{api.log_tail()}"  # a file and a record skipped
        assert task["finished_at"]

        assert MIXED in client.get("/v2/ai/embeddings/buckets").json()["data"]["buckets"]
        files = {f["filename"]: f for f in client.get(f"/v2/ai/embeddings/buckets/{MIXED}").json()["data"]}
        assert len(files) == 38
        assert files["blob.bin"]["status"] == "failed" and files["blob.bin"]["error_reason"]
        assert files["notes.jsonl"]["status"] == "success" and "malformed_json" in files["notes.jsonl"]["error_reason"]
        texts = [f for k, f in files.items() if k.endswith(".txt")]
        assert all(f["status"] == "success" and f["error_reason"] is None for f in texts)
        assert client.get(f"/v2/ai/embeddings/buckets/{BUCKET}").status_code == 404  # clustered, never embedded
        assert client.get("/v2/ai/embeddings/buckets/not-served").status_code == 404

        hits = client.post("/v2/ai/embeddings/similarity-search",
                           json={"bucket_name": MIXED, "query": "when should I prune roses and sow carrots?",
                                 "num_of_docs": 4}).json()["data"]
        assert len(hits) == 4
        assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)
        assert hits[0]["metadata"]["filename"].startswith("gardening/"), hits[0]
        assert hits[0]["metadata"]["source"] == f"s3://{MIXED}/{hits[0]['metadata']['filename']}"
        assert hits[0]["metadata"]["embedding"] == "all-MiniLM-L6-v2" and hits[0]["metadata"]["checksum"]
        assert 0 <= hits[0]["distance"] < 1 and hits[0]["document_chunk"].strip()
        assert client.post("/v2/ai/embeddings/similarity-search",
                           json={"bucket_name": MIXED, "query": "x", "num_of_docs": 101}).status_code == 422

        # Then the clustering the tutorial asks for embeds nothing: the embedding task's passages are reused.
        task_id = client.post("/v2/ai/clusters", json={"bucket": MIXED, "min_cluster_size": 5,
                                                       "min_subcluster_size": 3}).json()["data"]["task_id"]
        data = wait_for_job(client, task_id, api)
    manifest = json.loads((run_folder(api, data["run_id"], MIXED) / "manifest.json").read_text())
    assert manifest["counts"]["chunks_embedded"] == 0 and manifest["counts"]["themes"] >= 2


def test_every_data_route_refuses_a_missing_or_wrong_key(api: Api):
    spec = httpx.get(api.url + "/openapi.json").json()
    some_id = str(uuid.uuid4())
    attempts = {"no key": {}, "wrong key": {"Authorization": "Bearer tsk_wrong"},
                "another scheme": {"Authorization": f"Basic {KEY}"}, "no token": {"Authorization": "Bearer"}}
    checked = 0
    for path, operations in spec["paths"].items():
        for method in operations:
            url = api.url + path.replace("{task_id}", some_id).replace("{bucket_name}", BUCKET)
            for label, headers in attempts.items():
                response = httpx.request(method.upper(), url, headers=headers, json={"bucket": BUCKET})
                if path == "/health":
                    assert response.status_code == 200
                    continue
                assert response.status_code == 401, (label, method, path, response.text)
                assert "data" not in response.json() and response.headers["www-authenticate"] == "Bearer"
                checked += 1
    assert checked >= 10 * len(attempts)
    # Not even whether a body would have been valid: the key is checked before anything is parsed.
    assert httpx.post(api.url + "/v2/ai/clusters", content=b"{not json").status_code == 401


@pytest.mark.parametrize("task_id", ["0", "not-a-uuid", "..%2F..%2Fetc%2Fpasswd", "'; DROP TABLE runs; --",
                                     "00000000-0000-0000-0000-000000000000", "%00", "a" * 5000])
def test_a_task_id_that_is_not_ours_is_404_whatever_it_holds(api: Api, task_id: str):
    with api.client() as client:
        for method, suffix in (("GET", ""), ("GET", "/graph"), ("DELETE", "")):
            response = client.request(method, f"/v2/ai/clusters/{task_id}{suffix}")
            assert response.status_code == 404, (method, suffix, response.text)
            assert response.json()["errors"][0]["code"] == "404"


def test_a_flow_run_the_api_did_not_create_is_not_ours(api: Api, prefect_server: str):
    from datetime import UTC, datetime, timedelta

    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Scheduled

    with SyncPrefectClient(prefect_server) as prefect:
        deployment = prefect.read_deployment_by_name("recluster/adhoc")
        # Scheduled for tomorrow, so the worker leaves it alone while the API is asked about it.
        later = Scheduled(scheduled_time=datetime.now(UTC) + timedelta(days=1))
        foreign = prefect.create_flow_run_from_deployment(deployment.id, parameters={}, state=later,
                                                          tags=["someone-else"])
        try:
            with api.client() as client:
                assert client.get(f"/v2/ai/clusters/{foreign.id}").status_code == 404
                assert client.delete(f"/v2/ai/clusters/{foreign.id}").status_code == 404
            assert prefect.read_flow_run(foreign.id).id == foreign.id  # untouched
        finally:
            prefect.delete_flow_run(foreign.id)


def test_a_burst_of_posts_is_accepted_listed_and_each_can_be_deleted_before_it_runs(api: Api):
    import asyncio

    async def post_all(n: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {KEY}"},
                                     timeout=60) as client:
            return await asyncio.gather(*(client.post("/v2/ai/clusters", json={"bucket": BUCKET, "seed": i})
                                          for i in range(n)))

    responses = asyncio.run(post_all(12))
    assert [r.status_code for r in responses] == [200] * 12, [r.text for r in responses]
    task_ids = [r.json()["data"]["task_id"] for r in responses]
    assert len(set(task_ids)) == 12
    with api.client() as client:
        # Accepted means known at once: each is a task (waiting in the intake, or already a flow run) and listed.
        for task_id in task_ids:
            status = client.get(f"/v2/ai/clusters/{task_id}").json()["data"]["status"]
            assert status in ("pending", "starting", "running", "completed"), status
        listed = client.get("/v2/ai/clusters", params={"page[size]": 100}).json()
        assert set(task_ids) <= {row["task_id"] for row in listed["data"]}
        assert listed["meta"]["total_results"] >= 12
        for task_id in task_ids:
            assert client.delete(f"/v2/ai/clusters/{task_id}").status_code == 204
        for task_id in task_ids:
            assert client.get(f"/v2/ai/clusters/{task_id}").status_code == 404
        left = {row["task_id"] for row in client.get("/v2/ai/clusters", params={"page[size]": 100}).json()["data"]}
        assert not left & set(task_ids)
    assert not list((api.root / "state" / "api" / "accepted" / "clusters").glob("*.json"))


def test_requests_accepted_before_a_restart_become_one_flow_run_each(api: Api, prefect_server: str):
    """A journal left by a process that stopped before (or while) making the flow runs is replayed by the next
    one, against the real Prefect server; replaying a request whose flow run exists makes no second run."""
    import asyncio
    from datetime import UTC, datetime

    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey

    from flows.api.intake import Accepted
    from flows.api.jobs import JobQueue

    settings = load_settings(state_dir=str(api.root / "restart-state"), output_url=f"file://{api.root / 'out'}")
    task_id = str(uuid.uuid4())
    # A bucket folder that does not exist: should the worker reach the run before it is deleted, it fails at once.
    accepted = Accepted(task_id=task_id, bucket="gone", tags=["themesift-api", "kind:clusters", "bucket:gone"],
                        parameters={"params": {}, "bucket_url": f"file://{api.root / 'no-such-bucket'}",
                                    "output_url": f"file://{api.root / 'restart-out'}",
                                    "state_dir": str(api.root / "restart-state"), "run_id": "20261130T000000Z-0001"},
                        accepted_at=datetime.now(UTC))

    async def restart_with(journal: Accepted) -> tuple[str | None, int]:
        async with PrefectClient(api=prefect_server) as client:
            queue = JobQueue(client, settings, "clusters")
            queue.intake.folder.mkdir(parents=True, exist_ok=True)
            queue.intake.path(journal.task_id).write_text(journal.to_json())
            queue.start()
            try:
                async with asyncio.timeout(120):
                    while queue.intake.entries:
                        await asyncio.sleep(0.2)
                job = await queue.get(task_id)
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=[task_id])))
                return (job.flow_run_id if job else None), len(runs)
            finally:
                await queue.stop()

    first, count = asyncio.run(restart_with(accepted))
    assert first is not None and count == 1
    again, count = asyncio.run(restart_with(accepted))  # as if the process died before clearing its journal
    assert again == first and count == 1
    assert not list((api.root / "restart-state" / "api" / "accepted" / "clusters").glob("*.json"))

    async def clean_up() -> None:
        async with PrefectClient(api=prefect_server) as client:
            queue = JobQueue(client, settings, "clusters")
            job = await queue.get(task_id)
            if job is not None:
                await queue.delete(job)

    asyncio.run(clean_up())


COLLECTIONS = "/clustering/v1/collections"


@pytest.fixture(scope="module")
def collection(api: Api) -> str:
    """A collection over the tickets bucket, run once (its routes read that run)."""
    with api.client() as client:
        body = {"name": "tickets", "bucket": TICKETS, "params": {"min_cluster_size": 6, "min_subcluster_size": 3}}
        created = client.post(COLLECTIONS, json=body)
        assert created.status_code == 201, created.text
        assert created.json()["latest_run_id"] is None
        assert client.get(f"{COLLECTIONS}/tickets/clusters").status_code == 404  # no run yet: says so
        task = client.post(f"{COLLECTIONS}/tickets/runs")
        assert task.status_code == 200, task.text
        wait_for_job(client, task.json()["data"]["task_id"], api)
    return "tickets"


def all_pages(client: httpx.Client, path: str, key: str, limit: int, **params) -> tuple[list[dict], list[dict]]:
    """Every row of a paged route, and each page's envelope (without its rows)."""
    rows, envelopes, page = [], [], 0
    while True:
        body = client.get(path, params={"page": page, "limit": limit, **params})
        assert body.status_code == 200, body.text
        data = body.json()
        rows += data.pop(key)
        envelopes.append(data)
        page += 1
        if page >= data["total_pages"]:
            return rows, envelopes


def test_a_collection_is_named_once_listed_and_reads_its_latest_run(api: Api, collection: str):
    with api.client() as client:
        listed = client.get(COLLECTIONS).json()["collections"]
        mine = next(c for c in listed if c["name"] == collection)
        assert mine["latest_run_id"] and mine["params"] == {"min_cluster_size": 6, "min_subcluster_size": 3}
        assert client.post(COLLECTIONS, json={"name": collection, "bucket": TICKETS}).status_code == 409
        assert client.post(COLLECTIONS, json={"name": "Bad Name!", "bucket": TICKETS}).status_code == 422
        assert client.post(COLLECTIONS, json={"name": "elsewhere", "bucket": "not-served"}).status_code == 404
        assert client.get(f"{COLLECTIONS}/no-such/clusters").status_code == 404
        page = client.get(f"{COLLECTIONS}/{collection}/clusters").json()
        assert page["run_id"] == mine["latest_run_id"] and page["total_clusters"] >= 3


def test_collection_pages_add_up(api: Api, collection: str):
    with api.client() as client:
        whole = client.get(f"{COLLECTIONS}/{collection}/clusters", params={"limit": 100}).json()
        rows, envelopes = all_pages(client, f"{COLLECTIONS}/{collection}/clusters", "clusters", limit=1)
        assert [r["cluster_id"] for r in rows] == [c["cluster_id"] for c in whole["clusters"]]
        assert {e["total_clusters"] for e in envelopes} == {whole["total_clusters"]} == {len(rows)}
        counts = [r["items_count"] for r in rows]
        assert counts == sorted(counts, reverse=True)
        biggest = rows[0]["cluster_id"]
        items, envelopes = all_pages(client, f"{COLLECTIONS}/{collection}/clusters/{biggest}/items", "items",
                                     limit=7)
        assert len(items) == rows[0]["items_count"] == envelopes[0]["total_items"]
        assert len({i["item_id"] for i in items}) == len(items)
        past = client.get(f"{COLLECTIONS}/{collection}/clusters/{biggest}/items", params={"page": 99}).json()
        assert past["items"] == [] and past["total_items"] == len(items)


def test_properties_query_keeps_exactly_the_items_it_describes(api: Api, collection: str):
    path = f"{COLLECTIONS}/{collection}/clusters"
    with api.client() as client:
        def total(query: str | None) -> int:
            params = {"limit": 100, **({"properties-query": query} if query else {})}
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            return sum(c["items_count"] for c in response.json()["clusters"])

        everything = total(None)
        assert total("channel eq 'chat'") + total("channel neq 'chat'") == everything
        assert 0 < total("channel eq 'chat'") < everything
        nested = "(lang eq 'de' or score gte 5) and channel eq 'email'"
        for cluster in client.get(path, params={"limit": 100, "properties-query": nested}).json()["clusters"]:
            items, _ = all_pages(client, f"{path}/{cluster['cluster_id']}/items", "items", limit=50,
                                 **{"properties-query": nested})
            assert len(items) == cluster["items_count"]
            for item in items:
                meta = item["metadata"]
                assert (meta["lang"] == "de" or meta["score"] >= 5) and meta["channel"] == "email", meta
        may = client.get(path, params={"limit": 100, "date-field": "opened", "to-date": "2024-05-31"}).json()
        for cluster in may["clusters"]:
            items, _ = all_pages(client, f"{path}/{cluster['cluster_id']}/items", "items", limit=50,
                                 **{"date-field": "opened", "to-date": "2024-05-31"})
            assert items and all(i["metadata"]["opened"].startswith("2024-05") for i in items)
        assert 0 < sum(c["items_count"] for c in may["clusters"]) < everything


@pytest.mark.parametrize(("query", "where"), [
    ("channel equals 'chat'", "at character 9 ('equals')"),
    ("channel eq 'chat'; DROP TABLE items; --", "at character 18"),
    ("channel eq 'chat' or", "at character 21"),
    ("(channel eq 'chat'", "expected ')'"),
])
def test_a_bad_query_is_a_400_that_points_at_the_token(api: Api, collection: str, query: str, where: str):
    with api.client() as client:
        before = client.get(f"{COLLECTIONS}/{collection}/clusters", params={"limit": 100}).json()
        response = client.get(f"{COLLECTIONS}/{collection}/clusters", params={"properties-query": query})
        assert response.status_code == 400, response.text
        assert where in response.json()["errors"][0]["detail"]
        quoted = client.get(f"{COLLECTIONS}/{collection}/clusters",
                            params={"properties-query": "channel eq 'x'' or 1 eq 1 --'"})
        assert quoted.status_code == 200 and quoted.json()["clusters"] == []  # a plain value that matches nothing
        assert client.get(f"{COLLECTIONS}/{collection}/clusters", params={"limit": 100}).json() == before


def test_near_identical_questions_read_as_one_phrase_with_its_items(api: Api, collection: str):
    path = f"{COLLECTIONS}/{collection}"
    with api.client() as client:
        clusters = client.get(f"{path}/clusters", params={"limit": 100, "include-phrases": "true",
                                                          "phrases-limit": 2}).json()["clusters"]
        tops = [p for c in clusters for p in c["phrases"]]
        assert all(len(c["phrases"]) <= 2 for c in clusters)
        repeated = [p for p in tops if p["items_count"] == 8]
        assert len(repeated) == 1 and "refund for the order" in " ".join(repeated[0]["text"].lower().split()), tops
        phrase = repeated[0]
        items = client.get(f"{path}/phrases/{phrase['phrase_id']}/items", params={"limit": 100}).json()
        assert items["total_items"] == 8 and {i["phrase_id"] for i in items["items"]} == {phrase["phrase_id"]}
        assert {i["metadata"]["channel"] for i in items["items"]} == {"email"}
        owner = phrase["cluster_id"]
        listed = client.get(f"{path}/clusters/{owner}/phrases", params={"limit": 100}).json()
        assert listed["phrases"][0]["phrase_id"] == phrase["phrase_id"]
        assert listed["total_phrases"] == len(listed["phrases"]) == next(
            c["phrases_count"] for c in clusters if c["cluster_id"] == owner)
        assert client.get(f"{path}/phrases/p_0000000000000000/items").status_code == 404
        assert client.get(f"{path}/clusters/t999/phrases").status_code == 404


def test_find_names_the_theme_a_new_text_belongs_to(api: Api, collection: str):
    path = f"{COLLECTIONS}/{collection}"
    text = planted_document("astronomy", random.Random(1234))  # a text the run never saw
    with api.client() as client:
        clusters = client.get(f"{path}/clusters", params={"limit": 100}).json()["clusters"]
        owner = {}
        for cluster in clusters:  # the theme most of the run's astronomy tickets are in
            items, _ = all_pages(client, f"{path}/clusters/{cluster['cluster_id']}/items", "items", limit=100)
            owner[cluster["cluster_id"]] = sum(i["metadata"].get("id", "").startswith("astronomy") for i in items)
        astronomy = max(owner, key=owner.get)
        for method in ("knn", "centroid"):
            found = client.get(f"{path}/clusters/find", params={"text": text, "method": method})
            assert found.status_code == 200, found.text
            body = found.json()
            assert body["method"] == method and body["clusters"][0]["cluster_id"] == astronomy, body
            assert 0 < body["clusters"][0]["similarity"] <= 1 and body["clusters"][0]["cluster_phrase"]
        best = client.get(f"{path}/clusters/find", params={"text": text}).json()["clusters"][0]
        assert best["votes"] > 0.5 and best["similarity"] > 0.5
        strict = client.get(f"{path}/clusters/find", params={"text": text, "similarity_threshold": 0.999}).json()
        assert strict["clusters"] == []
        assert client.get(f"{path}/clusters/find", params={"text": ""}).status_code == 422
        assert client.get(f"{COLLECTIONS}/no-such/clusters/find", params={"text": text}).status_code == 404


def test_items_posted_are_written_to_the_bucket_assigned_at_once_and_clustered_by_the_next_run(
        api: Api, collection: str, s3_endpoint: str):
    path = f"{COLLECTIONS}/{collection}"
    posted = [{"text": planted_document("refunds", random.Random(77)), "metadata": {"channel": "api", "n": 1}},
              {"text": planted_document("gardening", random.Random(78)), "metadata": {"channel": "api", "n": 2}}]
    with api.client() as client:
        expected = [client.get(f"{path}/clusters/find", params={"text": p["text"]}).json()["clusters"][0]
                    for p in posted]
        response = client.post(f"{path}/items", json=posted)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "queued" and body["object_key"].startswith("api-items/")
        assert [i["cluster_id"] for i in body["items"]] == [e["cluster_id"] for e in expected]
        assert expected[0]["cluster_id"] != expected[1]["cluster_id"]
        stored = s3_client(s3_endpoint).get_object(Bucket=TICKETS, Key=body["object_key"])["Body"].read()
        records = [json.loads(line) for line in stored.decode().splitlines()]
        assert records == [{"channel": "api", "n": i + 1, "text": p["text"]} for i, p in enumerate(posted)]
        clash = client.post(f"{path}/items", json=[{"text": "x", "metadata": {"text": "y"}}])
        assert clash.status_code == 400 and "text field" in clash.json()["errors"][0]["detail"]
        assert client.post(f"{path}/items", json=[{"text": "x"}] * 1001).status_code == 422
        assert client.post(f"{path}/items", json=[]).status_code == 422
        before = client.get(f"{path}/clusters", params={"limit": 100}).json()
        wait_for_job(client, client.post(f"{path}/runs").json()["data"]["task_id"], api)
        after = client.get(f"{path}/clusters", params={"limit": 100, "properties-query": "channel eq 'api'"}).json()
        assert after["run_id"] != before["run_id"]
        assert sum(c["items_count"] for c in after["clusters"]) == 2
        assert {c["cluster_id"] for c in after["clusters"]} == {e["cluster_id"] for e in expected}


def theme_of(client: httpx.Client, path: str, clusters: list[dict]) -> dict[str, str]:
    """Each ticket's theme (by the ``id`` in its metadata), over every cluster of the latest run."""
    owner = {}
    for cluster in clusters:
        items, _ = all_pages(client, f"{path}/clusters/{cluster['cluster_id']}/items", "items", limit=100)
        owner.update({i["metadata"].get("id", i["item_id"]): cluster["cluster_id"] for i in items})
    return owner


def majority(owner: dict[str, str], prefix: str) -> str:
    themes = [t for key, t in owner.items() if key.startswith(prefix)]
    return max(set(themes), key=themes.count)


def test_renames_merges_and_split_phrases_survive_the_next_nights(api: Api, collection: str):
    """Night 1: rename the refunds theme, merge gardening into astronomy, split the repeated refund question
    out; the run queued applies all three. Night 2, with about 10 % new tickets: all three hold, with the same
    ids, and the report marks them. Withdrawing the merge undoes it on the next run."""
    path = f"{COLLECTIONS}/{collection}"
    with api.client() as client:
        clusters = client.get(f"{path}/clusters", params={"limit": 100, "include-phrases": "true"}).json()["clusters"]
        owner = theme_of(client, path, clusters)
        refunds, gardening, astronomy = (majority(owner, p) for p in ("refunds", "gardening", "astronomy"))
        assert len({refunds, gardening, astronomy}) == 3
        repeated = next(p for c in clusters for p in c["phrases"] if p["items_count"] == 8)
        assert client.post(f"{path}/clusters/t999/rename", json={"cluster_phrase": "x"}).status_code == 404
        assert client.post(f"{path}/merge", json={"source_clusters": [astronomy],
                                                  "destination_cluster": astronomy}).status_code == 400
        assert client.post(f"{path}/phrases/p_0123456789abcdef/split").status_code == 404
        renamed = client.post(f"{path}/clusters/{refunds}/rename", params={"run": "false"},
                              json={"cluster_phrase": "  Money   back "})
        assert renamed.status_code == 200 and renamed.json()["task_id"] is None, renamed.text
        merged = client.post(f"{path}/merge", params={"run": "false"},
                             json={"source_clusters": [gardening], "destination_cluster": astronomy})
        assert merged.status_code == 200, merged.text
        split = client.post(f"{path}/phrases/{repeated['phrase_id']}/split")
        assert split.status_code == 200, split.text
        wait_for_job(client, split.json()["task_id"], api)
        events = client.get(f"{path}/curation").json()["events"]
        assert [e["kind"] for e in events] == ["rename", "merge", "split"] and all(e["in_force"] for e in events)

        def check_curated() -> tuple[str, str]:
            page = client.get(f"{path}/clusters", params={"limit": 100}).json()
            names = {c["cluster_id"]: c["cluster_phrase"] for c in page["clusters"]}
            assert names.get(refunds) == "Money back", names
            assert gardening not in names
            now = theme_of(client, path, page["clusters"])
            assert {t for k, t in now.items() if k.startswith(("gardening", "astronomy"))} == {astronomy}
            copies = {t for k, t in now.items() if k.startswith("repeat-")}
            assert len(copies) == 1 and copies != {refunds}
            [apart] = copies
            assert sum(t == apart for t in now.values()) == 8, "the split theme holds the phrase's 8 copies only"
            return apart, page["run_id"]

        apart, night1 = check_curated()
        rng = random.Random(2026)
        fresh = [{"text": planted_document(theme, rng), "metadata": {"id": f"{theme}-new-{i}", "channel": "chat"}}
                 for i, theme in enumerate(["refunds", "gardening", "astronomy"] * 3)]
        assert client.post(f"{path}/items", json=fresh).status_code == 200
        wait_for_job(client, client.post(f"{path}/runs").json()["data"]["task_id"], api)
        apart2, night2 = check_curated()
        assert night2 != night1 and apart2 == apart
        themes = json.loads((api.root / "out" / "collections" / collection / "runs" / night2 / "themes.json")
                            .read_text())
        marks = {c["cluster_id"]: c["curation"] for c in themes["clusters"]}
        assert marks[refunds] == ["renamed"] and marks[astronomy] == ["merged"] and marks[apart] == ["split"]
        report = (api.root / "out" / "collections" / collection / "runs" / night2 / "report.html").read_text()
        assert report.count('class="curated"') >= 3 and "Money back" in report

        merge_id = next(e["event_id"] for e in events if e["kind"] == "merge")
        assert client.delete(f"{path}/curation/{merge_id}", params={"run": "false"}).status_code == 204
        assert client.delete(f"{path}/curation/{merge_id}").status_code == 404  # already withdrawn
        wait_for_job(client, client.post(f"{path}/runs").json()["data"]["task_id"], api)
        page = client.get(f"{path}/clusters", params={"limit": 100}).json()
        now = theme_of(client, path, page["clusters"])
        assert majority(now, "gardening") != majority(now, "astronomy"), "withdrawn: the themes are apart again"
        assert {c["cluster_id"]: c["cluster_phrase"] for c in page["clusters"]}[refunds] == "Money back"


@pytest.mark.parametrize(("body", "status"), [
    ({"bucket": "not-served-here"}, 404),
    ({"bucket": "../../etc"}, 404),
    ({"bucket": "file:///etc/"}, 404),
    ({"bucket": f"s3://{BUCKET}/../other"}, 404),
    ({"bucket": BUCKET, "min_cluster_size": 1}, 422),
    ({"bucket": BUCKET, "resolution": float("inf")}, 422),
    ({"bucket": BUCKET, "summarizers": ["no-such-plugin"]}, 422),
    ({"bucket": BUCKET, "chunk_size": 64, "chunk_overlap": 64}, 422),
    ({"bucket": BUCKET, "unknown_knob": 1}, 422),
    ({"min_cluster_size": 25}, 422),
    ({"bucket": BUCKET, "files": ["x"] * 10_001}, 422),
    ({"bucket": BUCKET, "instruction": "  "}, 422),
    ({"bucket": BUCKET, "instruction": "mood\u0000"}, 422),
    ({"bucket": BUCKET, "instruction_examples": ["refund"]}, 422),
    ({"bucket": BUCKET, "instruction": "x" * 301}, 422),
    ({"bucket": BUCKET, "context_field": "session id"}, 422),
])
def test_bad_requests_are_refused_with_a_specific_status(api: Api, body: dict, status: int):
    with api.client() as client:
        content = json.dumps(body).replace("Infinity", "1e999")  # JSON has no inf; 1e999 parses as one
        response = client.post("/v2/ai/clusters", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["detail"][0]["loc"][0] == "body"
    else:
        assert "bucket" in response.json()["errors"][0]["detail"]


def test_bodies_and_pages_are_bounded(api: Api):
    with api.client() as client:
        huge = client.post("/v2/ai/clusters", content=b" " * (2 << 20), headers={"Content-Type": "application/json"})
        assert huge.status_code == 413
        assert client.get("/v2/ai/clusters", params={"page[size]": 101}).status_code == 422
        assert client.get("/v2/ai/clusters", params={"page[number]": -1}).status_code == 422


# Property-based fuzzing of every operation in the served schema, in both of schemathesis' generation modes
# (schema-valid and schema-violating data). Two of its checks are left out, on purpose: `positive_data_acceptance`
# (a schema-valid body can still be refused: chunk_overlap < chunk_size is a rule between two fields, and a bucket
# this deployment does not serve is 404) and `negative_data_rejection` (a body over the size limit is refused with
# 413 before it is parsed, which that check does not count as a rejection). Operations are driven one by one with
# hypothesis because schemathesis' pytest plugin (`from_fixture`) does not run under pytest 9.
FUZZ_EXAMPLES = 40


def fuzz(api: Api, *, with_key: bool) -> dict[str, int]:
    """Run every operation against ``api`` with generated requests; returns the cases run per operation."""
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    with api.client() as client:  # a finished job, so fetches also reach real results, not only 404s
        done = [r["task_id"] for r in client.get("/v2/ai/clusters").json()["data"] if r["status"] == "completed"]
    counts: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, with_key, counts)
        if done and operation.method.upper() == "GET" and "{task_id}" in operation.path:
            fuzz_operation(operation, GenerationMode.POSITIVE, with_key, counts, {"task_id": done[0]})
    return counts


def fuzz_operation(operation, mode: GenerationMode, with_key: bool, counts: dict[str, int],
                   path_parameters: dict[str, str] | None = None) -> None:
    """`FUZZ_EXAMPLES` generated requests to one operation; a failed check fails the test (hypothesis shrinks it)."""
    label = f"{operation.method.upper()} {operation.path}" + (" (a finished job)" if path_parameters else "")

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def one(case) -> None:
        counts[label] = counts.get(label, 0) + 1
        if with_key:
            case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"},
                                   excluded_checks=[positive_data_acceptance, negative_data_rejection])
            return
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call()
        if case.path == "/health":
            assert response.status_code == 200
            return
        assert response.status_code == 401, response.text
        assert "data" not in response.json()

    try:
        one()
    except Unsatisfiable:
        if mode != GenerationMode.NEGATIVE:
            raise  # (an operation without inputs, like /health, has no schema-violating request)


def delete_every_job(api: Api) -> None:
    """Delete what fuzzing managed to queue, so no later test's worker runs it."""
    with api.client() as client:
        for _ in range(20):
            rows = client.get("/v2/ai/clusters", params={"page[size]": 100}).json()["data"]
            if not rows:
                return
            for row in rows:
                client.delete(f"/v2/ai/clusters/{row['task_id']}")


def test_fuzzing_with_a_key_finds_no_server_error_and_no_schema_violation(api: Api):
    try:
        counts = fuzz(api, with_key=True)
    finally:
        delete_every_job(api)
    print(f"fuzzing with a key: {sum(counts.values())} cases, 0 failures: {counts}")
    assert len(counts) >= 10 and all(n >= 10 for label, n in counts.items() if label != "GET /health"), counts


def test_fuzzing_without_a_key_gets_no_data(api: Api):
    counts = fuzz(api, with_key=False)
    print(f"fuzzing without a key: {sum(counts.values())} cases, 0 failures: {counts}")
    assert len(counts) >= 10 and all(n >= 10 for label, n in counts.items() if label != "GET /health"), counts
