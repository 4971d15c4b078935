"""HTTP API bench: fetch latency under load, a burst of POSTs, and what a second configuration costs.

Usage::

    python bench/api.py [--load-chunks 100000] [--clients 32] [--seconds 30] [--posts 20] \\
        [--config-posts 2000] [--corpus ../shared/corpora/20newsgroups/data.jsonl] [--workdir DIR] [--json out.json]

It starts ``themesift api`` for real (uvicorn, its own local Prefect server and a worker, as ``make api`` does)
with buckets in a scratch folder, then:

1. **Load.** A bucket of ``--load-chunks`` one-chunk documents (one JSONL object) whose vectors are put in the
   bucket's embedding cache first (synthetic clustered vectors from ``bench/scale.py``: embedding 100k chunks on
   a CPU takes hours and is not what this measures), clustered through ``POST /v2/ai/clusters``. Then
   ``--clients`` concurrent clients for ``--seconds`` each fetch ``GET /v2/ai/clusters/{id}?top_n_nodes=5``;
   side by side in the same run, the same load on ``GET /health`` (the server's floor). Prints p50/p99
   latency, requests/s and errors of both and the ratio (target: 0 errors, fetch p99 <= 250 ms).
2. **Configurations.** ``--config-posts`` posts of real text (20 Newsgroups posts cut to 1,000 characters,
   about 1.5 chunks each;
   skipped, saying so, when ``--corpus`` is absent): a first ``POST`` (reads, embeds with the real model,
   clusters) and a second configuration (another resolution: same vectors, same ``k``), each timed from the
   POST to ``completed``; prints both and the ratio (target <= 20 %), and what the second reused.
3. **find.** A collection of ``--find-chunks`` one-chunk documents (vectors pre-filled in its own state
   folder), run once; then ``--find-clients`` clients for ``--seconds`` each ask ``GET
   /clustering/v1/collections/{c}/clusters/find?text=...`` (the text embedded with the real model every time),
   with ``GET /health`` side by side: p50/p99 latency, requests/s, errors and the ratio.
4. **Burst.** ``--posts`` POSTs sent at once on that bucket (on the load bucket, or a 2,000-chunk one of its
   own, when the configurations are skipped), with as many ``GET /health`` beside them (the floor): the
   slowest accept against the slowest health check, how long until all are flow runs, until all are
   completed, how many failed (target: all accepted at once, all complete, none failed by the run lock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

from bench.scale import make_corpus  # noqa: E402
from flows.api.jobs import bucket_locations  # noqa: E402
from flows.api.security import hash_api_key  # noqa: E402
from tasks.chunk import chunk_spec  # noqa: E402
from tasks.core.chunking import chunk_document, text_hash  # noqa: E402
from tasks.embed import embedding_cache  # noqa: E402
from tasks.infra.params import ChunkParams, RunParams  # noqa: E402
from tasks.infra.settings import load_settings  # noqa: E402

KEY = "tsk_bench-key"
WORDS = ("invoice refund delivery password login card transfer account budget meeting garden tomato orbit "
         "telescope engine battery printer network router license contract holiday flight hotel dinner recipe "
         "lesson exam lecture patient doctor vaccine election senate tariff market stock bond harvest river "
         "bridge storm flood museum painting concert guitar league goal match court verdict").split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiServer:
    """``themesift api`` in a subprocess, configured only through its environment, on free ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PREFECT_HOME": str(workdir / "prefect"),
                    "THEMESIFT_STATE_DIR": str(workdir / "state"), "THEMESIFT_OUTPUT_URL": f"file://{workdir / 'out'}",
                    "THEMESIFT_EMBED_BACKEND": "st-fp32",
                    "THEMESIFT_API_BUCKETS": json.dumps([f"file://{workdir / 'buckets'}/"]),
                    "THEMESIFT_API_KEY_HASHES": json.dumps([hash_api_key(KEY)]), "HF_HUB_OFFLINE": "1",
                    "TOKENIZERS_PARALLELISM": "false"}
        self.env.pop("PREFECT_API_URL", None)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ApiServer:
        log = (self.workdir / "api.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "api", "--port", str(self.port),
                                      "--prefect-port", str(free_port())], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise SystemExit(f"themesift api did not start; see {self.workdir / 'api.log'}")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def settings(self):
        return load_settings(state_dir=self.env["THEMESIFT_STATE_DIR"], output_url=self.env["THEMESIFT_OUTPUT_URL"],
                             embed_backend="st-fp32")


def client() -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=60)


def wait_completed(http: httpx.Client, url: str, task_id: str, timeout_s: float = 7200) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = http.get(f"{url}/v2/ai/clusters/{task_id}").json()["data"]
        if data["status"] in ("completed", "failed"):
            return data
        time.sleep(0.5)
    raise SystemExit(f"task {task_id} did not finish")


def timed_run(http: httpx.Client, url: str, body: dict) -> tuple[float, dict]:
    """POST a clustering and wait for it: seconds from the POST to ``completed``, and the final response."""
    start = time.perf_counter()
    response = http.post(f"{url}/v2/ai/clusters", json=body)
    response.raise_for_status()
    data = wait_completed(http, url, response.json()["data"]["task_id"])
    if data["status"] != "completed":
        raise SystemExit(f"run failed: {data.get('error')}")
    return time.perf_counter() - start, data


def manifest(server: ApiServer, bucket: str, run_id: str) -> dict:
    _, output_url = bucket_locations(server.settings(), f"file://{server.workdir / 'buckets'}/{bucket}")
    return json.loads((Path(output_url.removeprefix("file://")) / "runs" / run_id / "manifest.json").read_text())


def synthetic_bucket(server: ApiServer, name: str, n: int, seed: int = 0, state_dir: str | None = None) -> None:
    """``n`` short documents in one JSONL object, their vectors already in the bucket's embedding cache (or in
    that of ``state_dir``, a collection's)."""
    vectors, labels = make_corpus(n, seed=seed)
    rng = random.Random(seed)
    topic_words = {int(t): " ".join(rng.sample(WORDS, 3)) for t in np.unique(labels)}
    texts = [f"{topic_words[int(t)]} note {i} {rng.choice(WORDS)}" for i, t in enumerate(labels)]
    folder = server.workdir / "buckets" / name
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "docs.jsonl").open("w") as sink:
        for i, text in enumerate(texts):
            sink.write(json.dumps({"id": str(i), "text": text}) + "\n")
    settings = server.settings().model_copy(update={"state_dir": Path(state_dir or bucket_locations(
        server.settings(), f"file://{folder}")[0])})
    spec, find_spans = chunk_spec(settings, RunParams().view(ChunkParams))
    cache = embedding_cache(settings)
    for start in range(0, n, 20_000):
        batch = texts[start:start + 20_000]
        hashes = []
        for text, spans in zip(batch, find_spans(batch), strict=True):
            chunks = chunk_document(text, spans, size=spec.size, overlap=spec.overlap, unit=spec.unit)
            if len(chunks) != 1:
                raise SystemExit(f"expected one chunk per document, got {len(chunks)}: {text!r}")
            hashes.append(text_hash(text[chunks[0][0]:chunks[0][1]]))
        cache.write_part(hashes, vectors[start:start + len(batch)])


async def hammer(url: str, path: str, clients: int, seconds: float) -> dict:
    """``clients`` concurrent keep-alive connections requesting ``path`` back to back for ``seconds``.

    The client speaks HTTP/1.1 over raw asyncio streams (a prepared request, the response read by its
    Content-Length): a client library would spend more CPU per request than the server does, on the same two
    cores, and the figures would measure it instead.
    """
    host, port = url.removeprefix("http://").split(":")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {KEY}\r\n"
               f"Accept: application/json\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:"))
                    await reader.readexactly(length)
                    ok = head.startswith(b"HTTP/1.1 200")
                except (OSError, asyncio.IncompleteReadError, StopIteration):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                latencies.append(time.perf_counter() - start)
                errors += not ok
        finally:
            writer.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    ms = sorted(x * 1000 for x in latencies)
    return {"requests": len(ms), "errors": errors, "rps": round(len(ms) / seconds, 1),
            "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
            "max_ms": round(ms[-1], 1)}


def bench_load(server: ApiServer, args: argparse.Namespace) -> dict:
    print(f"[load] building a {args.load_chunks:,}-chunk bucket (vectors pre-filled) ...", flush=True)
    synthetic_bucket(server, "load", args.load_chunks)
    with client() as http:
        seconds, data = timed_run(http, server.url, {"bucket": "load"})
    counts = manifest(server, "load", data["run_id"])["counts"]
    print(f"[load] clustered {counts['chunks']:,} chunks through the API in {seconds:.1f} s: {counts['themes']} "
          f"themes, {counts['subthemes']} subthemes (embedded {counts['chunks_embedded']})", flush=True)
    task_id = next(r["task_id"] for r in httpx.get(f"{server.url}/v2/ai/clusters",
                                                   headers={"Authorization": f"Bearer {KEY}"}).json()["data"])
    fetch = f"/v2/ai/clusters/{task_id}?top_n_nodes=5"
    asyncio.run(hammer(server.url, fetch, 4, 2))  # warm the caches
    health = asyncio.run(hammer(server.url, "/health", args.clients, args.seconds))
    fetched = asyncio.run(hammer(server.url, fetch, args.clients, args.seconds))
    size = len(httpx.get(server.url + fetch, headers={"Authorization": f"Bearer {KEY}"}).content)
    print(f"[load] {args.clients} clients x {args.seconds:.0f} s, fetch top_n_nodes=5 ({size:,} bytes):")
    for name, row in (("GET /health", health), ("fetch", fetched)):
        print(f"  {name:<12} {row['requests']:>7,} requests  {row['rps']:>8,.1f}/s  p50 {row['p50_ms']:>7.1f} ms  "
              f"p99 {row['p99_ms']:>7.1f} ms  max {row['max_ms']:>7.1f} ms  errors {row['errors']}")
    ratio = fetched["p99_ms"] / health["p99_ms"] if health["p99_ms"] else float("nan")
    print(f"  fetch / health p99: {ratio:.2f}x; target p99 <= 250 ms and 0 errors: "
          f"{'met' if fetched['p99_ms'] <= 250 and fetched['errors'] == 0 else 'NOT met'}", flush=True)
    return {"chunks": counts["chunks"], "run_seconds": round(seconds, 1), "bytes": size, "health": health,
            "fetch": fetched, "p99_ratio": round(ratio, 2)}


def bench_find(server: ApiServer, args: argparse.Namespace) -> dict:
    """A collection of ``--find-chunks`` chunks (vectors pre-filled), run once, then ``find`` under load: each
    request embeds its text with the real model and looks it up among the run's chunks."""
    name = "findload"
    state_dir = str((server.workdir / "state" / "collections" / name).resolve())
    print(f"[find] a {args.find_chunks:,}-chunk collection (vectors pre-filled) ...", flush=True)
    synthetic_bucket(server, name, args.find_chunks, state_dir=state_dir)
    base = "/clustering/v1/collections"
    with client() as http:
        created = http.post(server.url + base, json={"name": name, "bucket": name})
        if created.status_code != 201:
            raise SystemExit(f"collection not created: {created.text}")
        started = time.perf_counter()
        task_id = http.post(f"{server.url}{base}/{name}/runs").json()["data"]["task_id"]
        wait_completed(http, server.url, task_id)
        seconds = time.perf_counter() - started
    text = "the telescope on the bridge needs a new battery before the concert"
    path = f"{base}/{name}/clusters/find?text={text.replace(' ', '%20')}"
    asyncio.run(hammer(server.url, path, 2, 3))  # load the model and the run's vectors
    health = asyncio.run(hammer(server.url, "/health", args.find_clients, args.seconds))
    found = asyncio.run(hammer(server.url, path, args.find_clients, args.seconds))
    print(f"[find] run of {args.find_chunks:,} chunks in {seconds:.1f} s; {args.find_clients} clients x "
          f"{args.seconds:.0f} s:")
    for label, row in (("GET /health", health), ("find", found)):
        print(f"  {label:<12} {row['requests']:>7,} requests  {row['rps']:>8,.1f}/s  p50 {row['p50_ms']:>7.1f} ms  "
              f"p99 {row['p99_ms']:>7.1f} ms  max {row['max_ms']:>7.1f} ms  errors {row['errors']}")
    ratio = found["p99_ms"] / health["p99_ms"] if health["p99_ms"] else float("nan")
    print(f"  find / health p99: {ratio:.2f}x", flush=True)
    return {"chunks": args.find_chunks, "run_seconds": round(seconds, 1), "health": health, "find": found,
            "p99_ratio": round(ratio, 2)}


def real_bucket(server: ApiServer, corpus: Path, posts_wanted: int, seed: int = 0) -> int:
    """``posts_wanted`` posts (seeded sample) cut to 1,000 characters in one JSONL object; returns the count."""
    posts = [json.loads(line)["text"] for line in corpus.open()]
    random.Random(seed).shuffle(posts)
    folder = server.workdir / "buckets" / "config"
    folder.mkdir(parents=True, exist_ok=True)
    picked = [p[:1000].strip() for p in posts if len(p.strip()) > 50][:posts_wanted]
    with (folder / "posts.jsonl").open("w") as sink:
        for i, text in enumerate(picked):
            sink.write(json.dumps({"id": str(i), "text": text}) + "\n")
    return len(picked)


def bench_configurations(server: ApiServer, args: argparse.Namespace) -> dict | None:
    if not args.corpus.is_file():
        print(f"[config] skipped: {args.corpus} is absent (give --corpus a 20 Newsgroups data.jsonl)")
        return None
    docs = real_bucket(server, args.corpus, args.config_posts)
    print(f"[config] {docs:,} posts; first configuration (embeds with the real model) ...", flush=True)
    body = {"bucket": "config", "min_cluster_size": 25, "min_subcluster_size": 5}
    with client() as http:
        first_s, first = timed_run(http, server.url, body)
        second_s, second = timed_run(http, server.url, {**body, "resolution": 2.0})
    m1, m2 = manifest(server, "config", first["run_id"]), manifest(server, "config", second["run_id"])
    ratio = second_s / first_s
    print(f"[config] first  POST -> completed {first_s:7.1f} s  ({m1['counts']['chunks']:,} chunks, embedded "
          f"{m1['counts']['chunks_embedded']:,}; stages {m1['timings']['total']:.1f} s)")
    print(f"[config] second POST -> completed {second_s:7.1f} s  (embedded {m2['counts']['chunks_embedded']}, "
          f"kNN graph reused {bool(m2['counts']['knn_graphs_reused'])}; stages {m2['timings']['total']:.1f} s: "
          + ", ".join(f"{k} {v:.1f}" for k, v in m2["timings"].items() if k != "total") + ")")
    print(f"[config] second / first: {100 * ratio:.1f} % (target <= 20 %: {'met' if ratio <= 0.2 else 'NOT met'})",
          flush=True)
    return {"chunks": m1["counts"]["chunks"], "first_s": round(first_s, 1), "second_s": round(second_s, 1),
            "ratio": round(ratio, 3), "second_timings": m2["timings"],
            "second_embedded": m2["counts"]["chunks_embedded"], "graph_reused": m2["counts"]["knn_graphs_reused"]}


def bench_burst(server: ApiServer, args: argparse.Namespace, bucket: str) -> dict:
    print(f"[burst] {args.posts} POSTs at once on '{bucket}' ...", flush=True)

    async def post_all() -> list[tuple[float, int, str]]:
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"},
                                     timeout=60) as http:
            async def one(i: int) -> tuple[float, int, str]:
                start = time.perf_counter()
                response = await http.post("/v2/ai/clusters", json={"bucket": bucket, "min_cluster_size": 20 + i})
                return time.perf_counter() - start, response.status_code, response.json()["data"]["task_id"]

            async def floor() -> float:  # the baseline, side by side: a request that touches nothing
                start = time.perf_counter()
                await http.get("/health")
                return time.perf_counter() - start

            results = await asyncio.gather(*(one(i) for i in range(args.posts)),
                                           *(floor() for _ in range(args.posts)))
            health.extend(results[args.posts:])
            return results[:args.posts]

    health: list[float] = []
    start = time.perf_counter()
    posted = asyncio.run(post_all())
    journal = server.workdir / "state" / "api" / "accepted" / "clusters"
    while list(journal.glob("*.json")):  # accepted, not yet a flow run
        time.sleep(0.05)
    made = time.perf_counter() - start
    statuses: dict[str, str] = {}
    with client() as http:
        for _, _, task_id in posted:
            statuses[task_id] = wait_completed(http, server.url, task_id)["status"]
    drained = time.perf_counter() - start
    accepted = sum(code == 200 for _, code, _ in posted)
    failed = sum(s != "completed" for s in statuses.values())
    slowest = max(s for s, _, _ in posted)
    print(f"[burst] accepted {accepted}/{args.posts} (slowest accept {slowest * 1000:.0f} ms; slowest of "
          f"{args.posts} GET /health sent with them {max(health) * 1000:.0f} ms, ratio {slowest / max(health):.2f}x); "
          "all were flow runs "
          f"{made:.1f} s after the burst; all finished after "
          f"{drained:.0f} s ({drained / args.posts:.1f} s per run, one at a time); completed "
          f"{args.posts - failed}, failed {failed}", flush=True)
    return {"posts": args.posts, "accepted": accepted, "slowest_accept_ms": round(slowest * 1000),
            "slowest_health_ms": round(max(health) * 1000), "all_flow_runs_s": round(made, 1),
            "drained_s": round(drained, 1), "failed": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-chunks", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--config-posts", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/20newsgroups/data.jsonl")
    parser.add_argument("--find-chunks", type=int, default=20_000)
    parser.add_argument("--find-clients", type=int, default=8)
    parser.add_argument("--skip", nargs="*", default=[], choices=["load", "config", "burst", "find"])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="themesift-api-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"workdir {workdir}", flush=True)
    results: dict = {}
    with ApiServer(workdir) as server:
        if "load" not in args.skip:
            results["load"] = bench_load(server, args)
        if "config" not in args.skip:
            results["config"] = bench_configurations(server, args)
        if "find" not in args.skip:
            results["find"] = bench_find(server, args)
        if "burst" not in args.skip:
            bucket = "config" if results.get("config") else "load" if results.get("load") else "burst"
            if bucket == "burst":  # run alone: a 2,000-chunk bucket of its own, vectors pre-filled
                synthetic_bucket(server, "burst", 2000)
            results["burst"] = bench_burst(server, args, bucket)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
