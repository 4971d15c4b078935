"""Benchmark: embedding backends side by side on real chunks, their agreement, and the themes they give.

    .venv/bin/python bench/embed.py --chunks 800 --json /tmp/bench_embed.json

1. Cuts 20 Newsgroups documents (a seeded random sample) and The Great Gatsby into chunks with
   `tasks.chunk` (`tasks.core.chunking`) at the default size (240 model tokens, overlap 32), then samples
   ``--chunks`` of them.
2. Loads every backend (`tasks.core.embedding.engines.BACKENDS`) on ``--threads`` threads; ONNX models are built
   offline into a temp state folder (build seconds are reported, not counted as throughput).
3. Times them interleaved: the sample is cut into ``--rounds`` slices and every backend encodes each
   slice in turn, so the shared machine's load falls on all of them alike. Reports chunks/s, the ratio
   to ``st-fp32`` (sentence-transformers fp32 ``encode``, batch 64: the old default) and the mean and
   min cosine of each backend's vectors to the ``st-fp32`` ones.
4. Embeds Banking77 with ``st-fp32`` and the default backend (``auto`` on this machine), clusters both
   with `tasks.core.knn_graph.build_knn_graph` + `tasks.core.clustering.cluster_embeddings` at default parameters, and
   reports the NMI between the two theme assignments (and each one's NMI to the intent labels).
5. Peak RSS of the embed stage per backend, each in a fresh child process (load + encode 200 chunks).

``--dask N`` measures the fanned-out embed stage instead (`tasks.embed_partitions`): the same sample
encoded in one process on ``--threads`` threads (the baseline), then on local Dask clusters of 1..N
single-threaded worker processes, each worker warmed (model loaded) before the clock starts, at two partition
sizes; it prints chunks/s, the ratio to the baseline, and the fitted per-worker rate and per-partition
overhead (seconds = chunks / (workers x rate) + partitions / workers x overhead) the scale plan uses.

``--device cuda`` measures the GPU instead: st-fp32 on the CPU as the baseline and st-fp32, torch-fp16 and
torch-bf16 on the GPU, interleaved on the same chunks, with each one's cosine to the CPU vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPORA = ROOT.parent / "shared" / "corpora"
MODEL = "all-MiniLM-L6-v2"

import numpy as np  # noqa: E402


def real_chunks(n: int, seed: int) -> tuple[list[str], dict]:
    """``n`` chunks (240 tokens, overlap 32) sampled from 20 Newsgroups documents and Gatsby."""
    from tasks.core.chunking import chunk_document, token_span_finder
    from tasks.core.embedding.identity import tokenizer_file

    rng = random.Random(seed)
    lines = (CORPORA / "20newsgroups" / "data.jsonl").read_text().splitlines()
    docs = [json.loads(line)["text"] for line in rng.sample(lines, min(len(lines), max(400, n // 2)))]
    docs.append((CORPORA / "gatsby" / "gatsby.txt").read_text())
    find = token_span_finder(tokenizer_file(MODEL))
    pool = [d[s:e] for d, spans in zip(docs, find(docs), strict=True) for s, e in
            chunk_document(d, spans, size=240, overlap=32, unit="tokens")]
    sample = rng.sample(pool, min(n, len(pool)))
    lengths = [len(spans) for spans in find(sample)]
    return sample, {"pool_chunks": len(pool), "chunks": len(sample), "mean_tokens": round(float(np.mean(lengths)), 1),
                    "median_tokens": float(np.median(lengths))}


def load_all(backends: list[str], threads: int, models_dir: Path, *, device: str = "cpu",
             batch_size: int = 64) -> dict:
    """Encoders per backend, with load (and first-build) seconds."""
    from tasks.core.embedding.engines import load_encoder

    out = {}
    for backend in backends:
        start = time.perf_counter()
        encode = load_encoder(MODEL, backend=backend, threads=threads, batch_size=batch_size, models_dir=models_dir,
                              device=device)
        encode(["warm up", "a second, slightly longer warm-up sentence"])
        out[backend] = (encode, round(time.perf_counter() - start, 1))
        print(f"loaded {backend} on {device} in {out[backend][1]} s", flush=True)
    return out


def time_interleaved(encoders: dict, texts: list[str], rounds: int) -> tuple[dict, dict]:
    """Seconds and vectors per backend, every slice of ``texts`` encoded by every backend in turn."""
    seconds = {b: 0.0 for b in encoders}
    parts: dict[str, list[np.ndarray]] = {b: [] for b in encoders}
    for r, chunk in enumerate(np.array_split(np.arange(len(texts)), rounds)):
        batch = [texts[i] for i in chunk]
        for backend, (encode, _) in encoders.items():
            start = time.perf_counter()
            parts[backend].append(encode(batch))
            seconds[backend] += time.perf_counter() - start
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{b} {s:.0f}s" for b, s in seconds.items()), flush=True)
    return seconds, {b: np.concatenate(v) for b, v in parts.items()}


def themes_agreement(encoders: dict, reference: str, default: str) -> dict:
    """Banking77 themes from the reference and the default backend's vectors, and their NMI."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from tasks.core.clustering import cluster_embeddings
    from tasks.core.knn_graph import build_knn_graph
    from tasks.infra.params import RunParams
    from tasks.knn import knn_size

    rows = [json.loads(line) for line in (CORPORA / "banking77" / "data.jsonl").read_text().splitlines()]
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    out: dict = {"texts": len(texts)}
    themes = {}
    for backend in dict.fromkeys([reference, default]):
        start = time.perf_counter()
        emb = encoders[backend][0](texts)
        embed_s = time.perf_counter() - start
        graph = build_knn_graph(emb, knn_size(RunParams(), len(texts)))
        clustering = cluster_embeddings(emb, graph)
        themes[backend] = clustering.theme
        out[backend] = {"embed_s": round(embed_s, 1), "texts_per_s": round(len(texts) / embed_s, 1),
                        "themes": int(clustering.theme.max() + 1),
                        "noise_pct": round(100 * float((clustering.theme < 0).mean()), 1),
                        "nmi_to_labels": round(nmi(labels, clustering.theme), 4)}
        print(f"banking77 {backend}: {out[backend]}", flush=True)
    out["nmi_default_vs_reference"] = round(nmi(themes[reference], themes[default]), 4)
    return out


def peak_rss(backend: str, threads: int, models_dir: Path, texts: list[str]) -> float:
    """Peak RSS (MB, VmHWM) of a fresh process that loads ``backend`` and embeds ``texts``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(texts, handle)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) parent across fork + exec.
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from tasks.core.embedding.engines import load_encoder; "
            f"e = load_encoder({MODEL!r}, backend={backend!r}, threads={threads:d}, "
            f"models_dir=__import__('pathlib').Path({str(models_dir)!r})); "
            f"e(json.load(open({handle.name!r}))); "
            "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    os.unlink(handle.name)
    return round(int(result.stdout.strip().splitlines()[-1]) / 1024, 1)


def main() -> None:
    """Run the benchmark and print (and optionally save) its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state", type=Path, default=None, help="state folder for ONNX builds (default: temp)")
    parser.add_argument("--skip-banking77", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--dask", type=int, default=0, help="measure the Dask fan-out on 1..N local workers")
    parser.add_argument("--device", default="cpu", help="cuda: measure the GPU backends against st-fp32 on the CPU")
    args = parser.parse_args()
    if args.dask:
        dask_scaling(args)
        return
    if args.device != "cpu":
        gpu_backends(args)
        return

    from tasks.core.embedding.engines import BACKENDS, REFERENCE_BACKEND, resolve_backend
    from tasks.infra.machine import cpu_features

    features = cpu_features()
    default = resolve_backend("auto")
    models_dir = (args.state or Path(tempfile.mkdtemp(prefix="themesift-bench-embed-"))) / "models"
    texts, sample_info = real_chunks(args.chunks, args.seed)
    print(f"cpu {features.model!r}; amx_bf16={features.amx_bf16} avx512_bf16={features.avx512_bf16} "
          f"vnni={features.vnni}; auto -> {default}; {sample_info}", flush=True)
    encoders = load_all(list(BACKENDS), args.threads, models_dir)
    seconds, vectors = time_interleaved(encoders, texts, args.rounds)
    ref = vectors[REFERENCE_BACKEND]
    table = {}
    for backend in BACKENDS:
        cos = (vectors[backend] * ref).sum(axis=1)
        table[backend] = {"chunks_per_s": round(len(texts) / seconds[backend], 2),
                          "ratio_to_st_fp32": round(seconds[REFERENCE_BACKEND] / seconds[backend], 2),
                          "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5),
                          "load_s": encoders[backend][1], "default": backend == default}
    report = {"cpu": features.model, "threads": args.threads, "default_backend": default, "sample": sample_info,
              "backends": table}
    if not args.skip_banking77:
        report["banking77"] = themes_agreement(encoders, REFERENCE_BACKEND, default)
    report["peak_rss_mb"] = {b: peak_rss(b, args.threads, models_dir, texts[:200]) for b in BACKENDS}
    report["bench_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def gpu_backends(args: argparse.Namespace) -> None:
    """``--device cuda``: st-fp32 on ``--threads`` CPU threads (the baseline) and every torch backend on the GPU
    (batches of 256), timed interleaved on the same chunks; chunks/s, ratio to the CPU and cosine to its vectors."""
    from tasks.core.embedding.engines import check_device
    from tasks.infra.errors import ConfigError

    try:
        check_device(args.device)
    except ConfigError as exc:
        raise SystemExit(f"bench/embed.py: {exc}") from None
    texts, sample_info = real_chunks(args.chunks, args.seed)
    models_dir = Path(tempfile.mkdtemp(prefix="themesift-bench-embed-")) / "models"
    encoders = {"cpu st-fp32": load_all(["st-fp32"], args.threads, models_dir)["st-fp32"]}
    for backend, encoder in load_all(["st-fp32", "torch-fp16", "torch-bf16"], args.threads, models_dir,
                                     device=args.device, batch_size=256).items():
        encoders[f"{args.device} {backend}"] = encoder
    seconds, vectors = time_interleaved(encoders, texts, args.rounds)
    ref = vectors["cpu st-fp32"]
    table = {}
    for name in encoders:
        cos = (vectors[name] * ref).sum(axis=1)
        table[name] = {"chunks_per_s": round(len(texts) / seconds[name], 1),
                       "ratio_to_cpu": round(seconds["cpu st-fp32"] / seconds[name], 2),
                       "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5)}
        print(f"{name:<20} {table[name]}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": args.device, "sample": sample_info, "backends": table}, indent=2))


def dask_scaling(args: argparse.Namespace) -> None:
    """The embed stage's partitions on local Dask clusters of 1..N workers against one process (see docstring)."""
    from distributed import Client, LocalCluster

    from tasks.core.embedding.engines import load_encoder, resolve_backend
    from tasks.embed import encode_in_slices
    from tasks.embed_partitions import encode_partition
    from tasks.infra.settings import load_settings

    backend = resolve_backend("auto")
    state = args.state or Path(tempfile.mkdtemp(prefix="themesift-bench-dask-"))
    settings = load_settings(state_dir=str(state), embed_backend=backend, threads=1)
    texts, info = real_chunks(args.chunks, args.seed)
    batch = [(str(i), t) for i, t in enumerate(texts)]
    encode = load_encoder(MODEL, threads=args.threads, backend=backend, models_dir=state / "models")
    encode_in_slices(encode, texts[:16])
    start = time.perf_counter()
    encode_in_slices(encode, texts)
    alone = len(texts) / (time.perf_counter() - start)
    print(f"{info}; backend {backend}; one process on {args.threads} threads: {alone:.1f} chunks/s", flush=True)
    rows = []
    for workers in range(1, args.dask + 1):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.run(lambda: __import__("tasks.embed_partitions").embed_partitions.worker_encoder(settings, backend))
            for size in (16, 128):
                parts = [batch[i:i + size] for i in range(0, len(batch), size)]
                start = time.perf_counter()
                client.gather(client.map(encode_partition, parts, settings=settings, backend=backend, pure=False))
                seconds = time.perf_counter() - start
                rows.append((workers, size, len(parts), seconds))
                print(f"| {workers} worker(s) | partitions of {size} ({len(parts)}) | {len(texts) / seconds:.1f} "
                      f"chunks/s | x{len(texts) / seconds / alone:.2f} of one process |", flush=True)
    # One worker, two partition sizes: seconds = chunks / rate + partitions x overhead (two equations). Rows
    # with more workers are not fitted: 4 partitions over 2 workers leave one idle (load imbalance, not cost).
    (_, _, p_small, t_small), (_, _, p_large, t_large) = [r for r in rows if r[0] == 1]
    overhead = (t_small - t_large) / (p_small - p_large)
    rate = len(texts) / (t_large - p_large * overhead)
    best = max(len(texts) / seconds for workers, _, _, seconds in rows if workers == args.dask)
    print(f"fit: {rate:.1f} chunks/s per single-threaded worker, {overhead * 1000:.0f} ms per partition; "
          f"{args.dask} workers reach {best / rate:.2f} x one worker's rate")


def print_report(report: dict) -> None:
    """The figures as Markdown tables."""
    print(f"\n{report['sample']['chunks']} chunks, {report['threads']} threads, default backend "
          f"{report['default_backend']} ({report['cpu']})\n")
    print("| backend | chunks/s | × st-fp32 | cosine mean | cosine min | load s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name, row in report["backends"].items():
        mark = " (default)" if row["default"] else ""
        print(f"| {name}{mark} | {row['chunks_per_s']} | {row['ratio_to_st_fp32']} | {row['cosine_mean']} | "
              f"{row['cosine_min']} | {row['load_s']} | {report['peak_rss_mb'].get(name, '')} |")
    if "banking77" in report:
        print(f"\nBanking77: {json.dumps(report['banking77'])}")


if __name__ == "__main__":
    main()
