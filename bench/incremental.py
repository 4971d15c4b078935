"""Benchmark: nightly incremental runs against a real S3 server, with object GETs counted by the server.

    .venv/bin/python bench/incremental.py --corpus ../shared/corpora/20newsgroups/data.jsonl --objects 2000

Puts ``--objects`` posts (each one object, text capped at ``--max-chars``) into a bucket on a moto S3
server on 127.0.0.1, starts a real Prefect API server, then times four `themesift run` processes, each a
fresh process as a nightly deployment runs it: (1) the full first run, (2) a rerun with nothing changed,
(3) a rerun after rewriting 1 % of the objects, (4) a rerun after re-uploading 1 % unchanged (new ETag,
same bytes). A WSGI wrapper around the S3 server counts object GETs (server side, independent of our own
counters). Prints for each: the process wall seconds (interpreter start, imports and Prefect client set-up
included), the flow run's duration as the Prefect API records it, object GETs, the manifest's object and
embedding counts, and both durations as a ratio to the full run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_counting_s3(port: int) -> Counter:
    """moto's S3 app behind a counter of object GETs (path-style ``GET /bucket/key``)."""
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would drown the table

    app = DomainDispatcherApplication(create_backend_app)
    counts: Counter = Counter()

    def counting(environ, start_response):
        parts = environ.get("PATH_INFO", "").strip("/").split("/", 1)
        if environ["REQUEST_METHOD"] == "GET" and len(parts) == 2 and parts[1]:
            counts["object_get"] += 1
        counts[environ["REQUEST_METHOD"]] += 1
        return app(environ, start_response)

    server = make_server("127.0.0.1", port, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return counts


def start_prefect_server(home: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(360):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit("prefect server did not start")


def last_flow_run_seconds(api_url: str) -> float:
    """Duration of the newest flow run as the Prefect API records it (what the UI shows for the run)."""
    runs = httpx.post(f"{api_url}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 1}, timeout=30).json()
    return round(float(runs[0]["total_run_time"]), 1)


def timed_run(env: dict, counts: Counter, log: Path | None = None) -> dict:
    """One `themesift run` process; wall seconds, the Prefect run's duration, GETs during it, its manifest."""
    before = counts["object_get"]
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "flows.cli", "run"], cwd=ROOT, env=env, capture_output=True,
                            text=True)
    wall = time.perf_counter() - start
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    out = Path(env["THEMESIFT_OUTPUT_URL"][len("file://"):])
    latest = json.loads((out / "latest.json").read_text())
    manifest = json.loads((out / latest["manifest"]).read_text())
    return {"wall_s": round(wall, 1), "flow_s": last_flow_run_seconds(env["PREFECT_API_URL"]),
            "stages_s": manifest["timings"]["total"], "gets": counts["object_get"] - before,
            "counts": manifest["counts"], "timings": manifest["timings"]}


def main() -> int:
    """Parse arguments, run the four runs, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/20newsgroups/data.jsonl")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--max-chars", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logs", type=Path, help="save each run's log (Prefect lines with timestamps) here")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"corpus {args.corpus} is absent: pass --corpus <.jsonl with a text field>")
        return 2
    from tests.integration.conftest import free_port

    texts = []
    with args.corpus.open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"].strip()[: args.max_chars]
            if text:
                texts.append(text)
            if len(texts) == args.objects:
                break
    s3_port, prefect_port = free_port(), free_port()
    counts = start_counting_s3(s3_port)
    endpoint = f"http://127.0.0.1:{s3_port}"
    creds = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench", config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket="nightly")
    for i, text in enumerate(texts):
        client.put_object(Bucket="nightly", Key=f"posts/{i:05d}.txt", Body=text.encode())
    with tempfile.TemporaryDirectory(prefix="themesift-incr-") as tmp:
        work = Path(tmp)
        server = start_prefect_server(work / "prefect", prefect_port)
        try:
            env = {**os.environ, **creds, "THEMESIFT_BUCKET_URL": "s3://nightly/posts/",
                   "THEMESIFT_OUTPUT_URL": f"file://{work / 'out'}", "THEMESIFT_STATE_DIR": str(work / "state"),
                   "THEMESIFT_S3_ENDPOINT_URL": endpoint, "THEMESIFT_S3_ADDRESSING_STYLE": "path",
                   "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api"}
            logs = args.logs
            if logs:
                logs.mkdir(parents=True, exist_ok=True)

            def log(name: str) -> Path | None:
                return logs / f"{name}.log" if logs else None

            runs = {"full": timed_run(env, counts, log("full")), "unchanged": timed_run(env, counts, log("unchanged"))}
            changed = range(0, len(texts), 100)  # 1 %
            for i in changed:
                client.put_object(Bucket="nightly", Key=f"posts/{i:05d}.txt",
                                  Body=(texts[i] + "\n\nUpdate: the customer wrote back "
                                        "and the issue is resolved.").encode())
            runs["1pct_changed"] = timed_run(env, counts, log("1pct_changed"))
            for i in range(50, len(texts), 100):  # another 1 %: same bytes, new ETag/mtime
                body = client.get_object(Bucket="nightly", Key=f"posts/{i:05d}.txt")["Body"].read()
                client.put_object(Bucket="nightly", Key=f"posts/{i:05d}.txt", Body=body, Metadata={"touched": "1"})
            counts["object_get"] -= len(range(50, len(texts), 100))  # the benchmark's own GETs above
            runs["1pct_reuploaded"] = timed_run(env, counts, log("1pct_reuploaded"))
        finally:
            server.terminate()
    full = runs["full"]
    print(f"\n{len(texts):,} objects (20NG posts, ≤{args.max_chars} chars), {full['counts']['chunks']:,} chunks")
    print(f"{'run':<18}{'wall s':>8}{'flow s':>8}{'GETs':>8}{'new':>8}{'chg':>6}{'unchg':>8}{'embedded':>10}"
          f"{'wall/full':>11}{'flow/full':>11}")
    for name, r in runs.items():
        c = r["counts"]
        print(f"{name:<18}{r['wall_s']:>8}{r['flow_s']:>8}{r['gets']:>8}{c['objects_new']:>8}{c['objects_changed']:>6}"
              f"{c['objects_unchanged']:>8}{c['chunks_embedded']:>10}{r['wall_s'] / full['wall_s']:>10.1%}"
              f"{r['flow_s'] / full['flow_s']:>10.1%}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
