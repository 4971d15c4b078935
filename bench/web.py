"""Web pages: main content against visible text, on posts laid out the way real sites lay them out.

Usage::

    python bench/web.py --corpus ../shared/corpora/20newsgroups/data.jsonl [--docs 300] [--workdir DIR]

A seeded sample of ``--docs`` posts (their first ``--max-chars``) is written three times: as ``.txt`` (the
words alone: the ceiling), and as web pages of three made-up sites, one per post in turn, each with its own
cookie banner, menu, sidebar of links and footer, in three layouts (HTML5 landmarks; ``div`` soup with
class names; an old table layout with no hints at all). Then, in one run of this script:

1. **Reading**: every page decoded as the ingest stage does, in both modes, timed (pages/s), and the share
   of each page's text that is the site's boilerplate.
2. **Themes**: the whole pipeline over the .txt bucket and over the pages with ``html_mode=main`` (default)
   and ``html_mode=visible``; each post's theme is the most common theme of its chunks; reported: NMI of the
   posts' themes against their newsgroups, NMI against the .txt run, and how many of the published themes are
   headed by, or show a passage of, the sites' boilerplate.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from html import escape
from pathlib import Path

from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pdf import run_pipeline  # noqa: E402
from tasks.core.decode import DecodeOptions, decode_object  # noqa: E402

SITES = [
    {"name": "Orbit Forums", "menu": ["Home", "Latest threads", "Members", "Search the forums", "Help centre"],
     "cookie": "This site uses cookies to personalise content and ads and to analyse our traffic. You accept "
               "cookies if you continue to use the forums.",
     "footer": "Orbit Forums is operated by Orbit Media Group. Copyright 2026. All trademarks belong to their "
               "owners. Advertise with us. Terms and conditions. Report abuse to the moderators."},
    {"name": "Usenet Archive Online", "menu": ["Browse groups", "Popular today", "Archives by year", "About"],
     "cookie": "We and our partners store and access information on your device, such as cookies, for "
               "measurement and personalised advertising. Manage your privacy choices at any time.",
     "footer": "Usenet Archive Online keeps old discussions readable. Hosting sponsored by Kestrel Networks. "
               "Contact the archivists. Privacy notice. Accessibility statement."},
    {"name": "The Newsgroup Reader", "menu": ["Front page", "Groups A to Z", "Newsletter", "Donate", "Sign in"],
     "cookie": "Cookies help us deliver our services. By using our services you agree to our use of cookies "
               "and to the data policy of the reader.",
     "footer": "The Newsgroup Reader, a volunteer project since 2009. Subscribe to our weekly newsletter for "
               "the best threads. Follow us. Site map. Legal notice."},
]


def page(site: dict, layout: int, title: str, body: str, related: list[str]) -> str:
    """A post as one site shows it, in one of three layouts."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    links = "".join(f'<li><a href="/t/{i}">{escape(t)}</a></li>' for i, t in enumerate(related))
    menu = "".join(f'<li><a href="/{i}">{escape(m)}</a></li>' for i, m in enumerate(site["menu"]))
    head = f"<head><title>{escape(title)} - {site['name']}</title></head>"
    if layout == 0:  # HTML5 landmarks
        return (f"<!DOCTYPE html><html>{head}<body><div class='cookie-banner'><p>{site['cookie']}</p></div>"
                f"<header><h2>{site['name']}</h2><nav><ul>{menu}</ul></nav></header><main><article>"
                f"<h1>{escape(title)}</h1>{paragraphs}</article></main><aside><h3>Related threads</h3>"
                f"<ul>{links}</ul></aside><footer><p>{site['footer']}</p></footer></body></html>")
    if layout == 1:  # div soup with class names
        return (f"<html>{head}<body><div id='consent' class='consent-popup'>{site['cookie']}</div>"
                f"<div class='top-bar'><div class='brand'>{site['name']}</div><ul class='menu'>{menu}</ul></div>"
                f"<div class='wrapper'><div class='post-body'><h1>{escape(title)}</h1>{paragraphs}</div>"
                f"<div class='sidebar'><b>Related threads</b><ul>{links}</ul></div></div>"
                f"<div class='site-footer'>{site['footer']}</div></body></html>")
    return (f"<html>{head}<body><table width='100%'><tr><td colspan='2'><font size='5'>{site['name']}</font>"  # 1998
            f"<br>{' | '.join(escape(m) for m in site['menu'])}</td></tr><tr><td width='25%' valign='top'>"
            f"Related threads<ul>{links}</ul></td><td valign='top'><b>{escape(title)}</b>{paragraphs}</td></tr>"
            f"<tr><td colspan='2'><small>{site['cookie']} {site['footer']}</small></td></tr></table></body></html>")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/20newsgroups/data.jsonl")
    p.add_argument("--docs", type=int, default=300)
    p.add_argument("--max-chars", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path)
    args = p.parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus PATH; the corpora are not in the repository)")
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="themesift-web-bench-"))
    rows = [json.loads(line) for line in args.corpus.open(encoding="utf-8")]
    rows = [r for r in rows if len(r["text"].strip()) > 300]
    rng = random.Random(args.seed)
    sample = rng.sample(rows, args.docs)
    labels = {f"post-{i:04d}": r.get("label", r.get("category", r["id"].rsplit("-", 1)[0])) for i, r in
              enumerate(sample)}
    titles = [(r.get("subject") or r["text"].strip().split("\n", 1)[0])[:70] for r in sample]
    (work / "txt").mkdir(parents=True, exist_ok=True)
    (work / "html").mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(sample):
        text = row["text"].strip()[: args.max_chars]
        (work / "txt" / f"post-{i:04d}.txt").write_text(text, encoding="utf-8")
        html = page(SITES[i % 3], (i // 3) % 3, titles[i], text, rng.sample(titles, 6))
        (work / "html" / f"post-{i:04d}.html").write_text(html, encoding="utf-8")
    # What only the sites say: their banners, footers and longer menu entries ("Home" is also a word of posts).
    boilerplate = [s[k][:50] for s in SITES for k in ("cookie", "footer")] + [
        m for s in SITES for m in s["menu"] if len(m) >= 12]
    files = sorted((work / "html").glob("*.html"))
    for mode in ("main", "visible"):
        started = time.perf_counter()
        decoded = [decode_object(f.name, f.read_bytes(), DecodeOptions(html_mode=mode)) for f in files]
        seconds = time.perf_counter() - started
        texts = [d.records[0].text if d.records else "" for d in decoded]
        share = sum(sum(len(b) for b in boilerplate if b in t) for t in texts) / max(sum(map(len, texts)), 1)
        by_layout = [sum(any(b in t for b in boilerplate) for i, t in enumerate(texts) if (i // 3) % 3 == layout)
                     for layout in range(3)]
        print(f"{mode:>7}: {len(files)} pages in {seconds:.2f} s = {len(files) / seconds:,.0f} pages/s; pages "
              f"showing boilerplate {sum(by_layout)}/{len(files)} (landmarks / div soup / table layout: "
              f"{' / '.join(map(str, by_layout))}), {100 * share:.1f} % of the characters", flush=True)
    runs = {"txt": run_pipeline(work / "txt", work, "txt"),
            "main": run_pipeline(work / "html", work, "main", ("html_mode=main",)),
            "visible": run_pipeline(work / "html", work, "visible", ("html_mode=visible",))}
    posts = sorted(labels)
    truth = [labels[p] for p in posts]
    for name, (themes, counts, seconds) in runs.items():
        doc = json.loads((work / f"out-{name}" / "runs" / counts_run(work / f"out-{name}") / "themes.json")
                         .read_text())
        clusters = doc["clusters"] + [s for c in doc["clusters"] for s in c.get("subclusters", [])]
        polluted = sum(any(b in n["text"] for n in c["nodes"] for b in boilerplate) or
                       any(w in c["cluster_header"].lower() for w in ("cookie", "copyright", "privacy"))
                       for c in clusters)
        guess = [themes.get(p, -2) for p in posts]
        print(f"  {name:>7}: {counts['chunks']:,} chunks, {counts['themes']} themes, {counts['subthemes']} "
              f"subthemes; NMI vs newsgroups {normalized_mutual_info_score(truth, guess):.3f}, vs the .txt run "
              f"{normalized_mutual_info_score([runs['txt'][0].get(p, -2) for p in posts], guess):.3f}; themes "
              f"and subthemes showing boilerplate: {polluted}/{len(clusters)}; run {seconds:.1f} s")
    return 0


def counts_run(output: Path) -> str:
    return json.loads((output / "latest.json").read_text())["run_id"]


if __name__ == "__main__":
    raise SystemExit(main())
