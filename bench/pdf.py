"""PDFs against the same texts as .txt: do they cluster to the same themes, and how fast are pages read?

Usage::

    python bench/pdf.py --corpus ../shared/corpora/20newsgroups/data.jsonl [--docs 200] [--workdir DIR]

A seeded sample of ``--docs`` posts (full length) is written twice: as ``.txt`` files and as PDFs laid out by
fpdf2 on A5 pages (``--page-format``, ``--font-size``; longer posts run over several pages; characters outside
Latin-1, which the PDF core font lacks, are replaced by ``?`` in both copies). Then, in one run of this script:

1. **Reading**: every PDF decoded as the ingest stage does (`tasks.core.decode.decode_object`), timed: pages/s,
   MB/s, and whether the text came back (the share of the .txt's words found, in order, in the PDF's text).
2. **Themes**: the whole pipeline (``themesift run``, each bucket with its own state and output folder) over
   both buckets; each post's theme is the most common theme of its chunks (noise when none), and the two runs
   are compared by NMI over posts (target >= 0.95), beside the chunk counts and themes of each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from fpdf import FPDF
from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.core.decode import decode_object  # noqa: E402


def latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def write_pdf(text: str, path: Path, page_format: str, font_size: float) -> None:
    doc = FPDF(format=page_format)
    doc.set_auto_page_break(True, margin=12)
    doc.set_font("Helvetica", size=font_size)
    doc.add_page()
    doc.multi_cell(0, font_size * 0.5, text)
    doc.output(str(path))


def post_themes(output: Path) -> dict[str, int]:
    """Each post's (file stem's) most common non-noise theme in the run ``latest.json`` points at (-1: none)."""
    run_id = json.loads((output / "latest.json").read_text())["run_id"]
    rows = pq.read_table(output / "runs" / run_id / "assignments.parquet", columns=["object_key", "theme_id"])
    by_post: dict[str, Counter] = {}
    for key, theme in zip(rows.column("object_key").to_pylist(), rows.column("theme_id").to_pylist(), strict=True):
        by_post.setdefault(Path(key).stem, Counter())[theme] += 1
    out = {}
    for post, counts in by_post.items():
        counts.pop(None, None)
        out[post] = int(counts.most_common(1)[0][0].lstrip("t")) if counts else -1
    return out


def run_pipeline(bucket: Path, work: Path, name: str,
                 params: tuple[str, ...] = ()) -> tuple[dict[str, int], dict, float]:
    """``themesift run`` over ``bucket`` with its own state and output under ``work`` (``params``: ``k=v``)."""
    env = {**os.environ, "THEMESIFT_STATE_DIR": str(work / f"state-{name}"), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    overrides = [arg for param in params for arg in ("-p", param)]
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--bucket", f"file://{bucket}",
                           "--output", f"file://{work / f'out-{name}'}", *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the {name} run failed:\n{done.stderr[-3000:]}")
    out = work / f"out-{name}"
    manifest = json.loads((out / "runs" / json.loads((out / "latest.json").read_text())["run_id"] /
                           "manifest.json").read_text())
    return post_themes(out), manifest["counts"], seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/20newsgroups/data.jsonl")
    p.add_argument("--docs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--page-format", default="A5", help="A5 (default: long posts run over pages) or A4")
    p.add_argument("--font-size", type=float, default=10)
    args = p.parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus PATH; the corpora are not in the repository)")
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="themesift-pdf-bench-"))
    rows = [json.loads(line) for line in args.corpus.open(encoding="utf-8")]
    rows = [r for r in rows if len(r["text"].strip()) > 200]
    sample = random.Random(args.seed).sample(rows, args.docs)
    txt, pdf = work / "txt", work / "pdf"
    txt.mkdir(parents=True, exist_ok=True)
    pdf.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(sample):
        text = latin1(row["text"])
        (txt / f"post-{i:04d}.txt").write_text(text, encoding="utf-8")
        write_pdf(text, pdf / f"post-{i:04d}.pdf", args.page_format, args.font_size)
    files = sorted(pdf.glob("*.pdf"))
    size = sum(f.stat().st_size for f in files)
    started = time.perf_counter()
    decoded = [decode_object(f.name, f.read_bytes()) for f in files]
    seconds = time.perf_counter() - started
    pages = sum(d.records[0].metadata["pages"] for d in decoded if d.records)
    kept, altered = [], 0
    for f, d in zip(files, decoded, strict=True):
        words = (txt / f"{f.stem}.txt").read_text(encoding="utf-8").split()
        got = Counter(d.records[0].text.split()) if d.records else Counter()
        kept.append(sum(min(c, got[w]) for w, c in Counter(words).items()) / max(len(words), 1))
        altered += bool(d.records) and words != d.records[0].text.split()
    print(f"{len(files)} PDFs, {pages:,} pages ({pages / len(files):.1f} a PDF), {size / 1e6:.1f} MB: read in "
          f"{seconds:.2f} s = {pages / seconds:,.0f} pages/s, {size / 1e6 / seconds:.1f} MB/s; skipped "
          f"{sum(1 for d in decoded if not d.records)}; words of the .txt found in the PDF text: "
          f"{100 * sum(kept) / len(kept):.2f} % on average, {100 * min(kept):.2f} % at worst; posts whose words "
          f"differ at all: {altered}", flush=True)
    themes_txt, counts_txt, s_txt = run_pipeline(txt, work, "txt")
    themes_pdf, counts_pdf, s_pdf = run_pipeline(pdf, work, "pdf")
    posts = sorted(themes_txt)
    score = normalized_mutual_info_score([themes_txt[p] for p in posts], [themes_pdf.get(p, -2) for p in posts])
    for name, counts, secs in (("txt", counts_txt, s_txt), ("pdf", counts_pdf, s_pdf)):
        print(f"  {name}: {counts['chunks']:,} chunks, {counts['themes']} themes, {counts['subthemes']} subthemes, "
              f"run {secs:.1f} s")
    print(f"post-level NMI between the two runs: {score:.3f} (target >= 0.95)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
