"""Synthetic ``themes.json`` / ``manifest.json`` / skips data for report tests and screenshots.

Everything is deterministic (a seeded ``random.Random``) and follows
``docs/contracts/themes_json.md``. With ``hostile=True`` document-derived strings carry script tags,
event-handler attributes, ``javascript:`` URLs, quotes and very long unbroken tokens, so tests can
prove the report escapes them.

Run as a script to write a sample report:
``python tests/unit/core/reporting/reporting_fixtures.py /tmp/report.html``
(add ``--hostile`` or ``--empty``).
"""

from __future__ import annotations

import random
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.layout import project_embeddings
from tasks.core.reporting import build_map_data, map_rows, render_report, run_changes, sort_themes, theme_documents
from tasks.infra.storage import atomic_write

HOSTILE_STRINGS: tuple[str, ...] = (
    "<script>alert('xss')</script>",
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(2)>',
    "javascript:alert(document.cookie)",
    "it's \"quoted\" & <b>bold</b>",
    "<!-- comment --> ]]> {{ 7*7 }} {% raw %}",
    "A" * 700,
)

_TOPICS: list[dict[str, Any]] = [
    {
        "header": "card arrival · delivery · still waiting",
        "summary": "Customers ordered a card and it has not arrived yet; they ask when it will be delivered.",
        "phrases": ["card arrival", "delivery time", "still waiting", "tracking number", "new card"],
        "subs": [
            ("delivery estimate · how long", "How long does card delivery usually take to my country?"),
            ("lost in post · never arrived", "My card was posted two weeks ago and never arrived, can you resend it?"),
            ("tracking · courier", "Is there a tracking number for the courier delivering my card?"),
        ],
        "texts": [
            "I ordered my new card 12 days ago and it still has not arrived. When will it be delivered?",
            "Still waiting on my card, the app says dispatched but nothing in the mailbox yet.",
            "Can you tell me the expected delivery date for my replacement card? I need it for travel.",
            "Hi, my card hasn't shown up. Is there any way to track it or should I order another one?",
        ],
    },
    {
        "header": "refund · duplicate charge · merchant",
        "summary": "A merchant charged twice or a refund has not shown up on the account.",
        "phrases": ["refund", "charged twice", "pending transaction", "merchant", "dispute"],
        "subs": [
            ("charged twice · duplicate", "I was charged twice for the same purchase at the grocery store."),
            ("refund pending · not received", "The shop says they refunded me a week ago but I don't see it."),
        ],
        "texts": [
            "I see two identical charges from the same merchant on 3 November. Please reverse one of them.",
            "The merchant confirmed my refund but the money is not back in my account after 10 days.",
            "How do I open a dispute for a transaction I did not authorise? The amount is 49.99 EUR.",
        ],
    },
    {
        "header": "password reset · login · 2FA",
        "summary": "Users cannot log in: password reset emails do not arrive or two-factor codes fail.",
        "phrases": ["password reset", "cannot log in", "2fa code", "locked out", "verification email"],
        "subs": [
            ("reset email missing", "I requested a password reset three times and no email has arrived."),
            ("2fa code rejected", "The two-factor code from my authenticator app is always rejected."),
            ("account locked", "My account got locked after too many attempts, how do I unlock it?"),
            ("new phone · authenticator", "I changed phones and lost my authenticator, how do I log in now?"),
        ],
        "texts": [
            "I cannot log in to the app, it keeps saying my password is wrong even after I reset it.",
            "The verification email never arrives, I checked spam. My username is on the ticket.",
            "Locked out after changing my phone number, the SMS code goes to the old number.",
        ],
    },
    {
        "header": "exchange rate · fees · foreign currency",
        "summary": "Questions about the exchange rate applied and fees charged on foreign-currency payments.",
        "phrases": ["exchange rate", "foreign fee", "currency conversion", "atm fee"],
        "subs": [
            ("wrong exchange rate", "The exchange rate on my payment in USD is worse than the one in the app."),
            ("atm withdrawal fee", "Why was I charged a fee for withdrawing cash abroad?"),
        ],
        "texts": [
            "Why did I get a worse exchange rate than advertised when paying in Japanese yen?",
            "There's an extra 2% fee on my card payment in GBP, I thought foreign payments were free.",
        ],
    },
    {
        "header": "top up · bank transfer · pending",
        "summary": "Top-ups by bank transfer or card are pending, failed or missing from the balance.",
        "phrases": ["top up", "bank transfer", "pending top-up", "balance not updated"],
        "subs": [("top-up pending", "My top-up has been pending for two days, is something wrong?")],
        "texts": [
            "I topped up 200 EUR by bank transfer on Monday and it's still not in my balance.",
            "Top up by card failed but the money was taken from my bank account.",
        ],
    },
    {
        "header": "identity verification · documents",
        "summary": "Identity checks fail or take long; users ask which documents are accepted.",
        "phrases": ["verify identity", "passport photo", "documents accepted", "verification failed"],
        "subs": [],
        "texts": [
            "My identity verification keeps failing even though the passport photo is clear.",
            "Which documents do you accept for proof of address? I only have a digital utility bill.",
        ],
    },
    {
        "header": "close account · delete data",
        "summary": "Customers want to close their account or have their personal data deleted.",
        "phrases": ["close account", "delete my data", "gdpr"],
        "subs": [],
        "texts": ["Please close my account and delete all my personal data under GDPR."],
    },
]

_NOISE_TEXTS: list[str] = [
    "thanks!!",
    "Hello? Anyone there?",
    "see attached screenshot",
    "Ticket merged into #48213.",
    "ok",
]


def _node(rng: random.Random, text: str, day: int) -> dict[str, Any]:
    """Build one node (chunk) in the contract's shape."""
    start = rng.randrange(0, 400)
    return {
        "filename": f"tickets/2026-11-{day:02d}.jsonl",
        "text": text,
        "chunk_id": f"c_{rng.getrandbits(48):012x}",
        "doc_id": f"d_{rng.getrandbits(48):012x}",
        "char_start": start,
        "char_end": start + len(text),
        "centrality": round(rng.uniform(0.55, 0.97), 2),
    }


def _hostile_node(rng: random.Random, i: int) -> dict[str, Any]:
    """A node whose text, filename and offsets come straight from an attacker."""
    node = _node(rng, HOSTILE_STRINGS[i % len(HOSTILE_STRINGS)] + " my card never arrived", 1)
    node["filename"] = f"<img src=x onerror=alert({i})>/{'B' * 200}.jsonl"
    return node


def _keyphrases(phrases: list[str]) -> list[dict[str, Any]]:
    """Scored keyphrases, best first."""
    return [{"phrase": p, "score": round(0.14 - 0.02 * i, 3)} for i, p in enumerate(phrases)]


def _subclusters(
    rng: random.Random, parent_id: str, topic: dict[str, Any], size: int, total: int, hostile: bool
) -> tuple[list[dict[str, Any]], int]:
    """Build a theme's subthemes; return them and the number of unassigned members."""
    subs: list[dict[str, Any]] = []
    remaining = int(size * 0.85)
    for j, (header, text) in enumerate(topic["subs"], start=1):
        sub_size = max(5, remaining // 2) if j < len(topic["subs"]) else remaining
        remaining -= sub_size
        node = _node(rng, text, j)
        if hostile and j == 1:
            header = HOSTILE_STRINGS[1] + " " + header
            node = _hostile_node(rng, j)
        subs.append(
            {
                "cluster_id": f"{parent_id}.{j}",
                "parent_cluster_id": parent_id,
                "cluster_header": header,
                "cluster_summary": text,
                "total_number_of_nodes": sub_size,
                "share": round(sub_size / total, 4),
                "cohesion": round(rng.uniform(0.62, 0.84), 2),
                "keyphrases": _keyphrases(header.split(" · ")),
                "documents": max(1, sub_size - rng.randrange(0, 5)),
                "nodes": [node],
                "unassigned_nodes": 0,
                "subclusters": [],
            }
        )
    subs.sort(key=lambda s: -s["total_number_of_nodes"])  # the contract numbers subthemes by size
    for j, sub in enumerate(subs, start=1):
        sub["cluster_id"] = f"{parent_id}.{j}"
    assigned = sum(s["total_number_of_nodes"] for s in subs)
    return subs, size - assigned


def make_themes(n_themes: int = 6, hostile: bool = False) -> dict[str, Any]:
    """Build a ``themes.json`` document.

    Args:
        n_themes: Number of top-level themes (0 gives an all-noise run). Topics repeat past 7.
        hostile: Put XSS payloads and unbroken long strings into document-derived fields.

    Returns:
        A dict matching the ``themes.json`` contract, clusters numbered by size.
    """
    rng = random.Random(42 + n_themes)
    sizes = [int(1400 / (1 + 0.55 * i)) + rng.randrange(0, 30) for i in range(n_themes)]
    sizes.sort(reverse=True)
    noise_size = 380 if n_themes else 57
    total = sum(sizes) + noise_size
    clusters = []
    for i, size in enumerate(sizes):
        topic = _TOPICS[i % len(_TOPICS)]
        cid = f"t{i}"
        nodes = [_node(rng, t, 1 + (k * 7 + i) % 28) for k, t in enumerate(topic["texts"][:3])]
        header, summary, phrases = topic["header"], topic["summary"], list(topic["phrases"])
        if hostile and i < 2:
            header = f"{HOSTILE_STRINGS[i]} {header}"
            summary = " ".join(HOSTILE_STRINGS)
            phrases = [HOSTILE_STRINGS[2], HOSTILE_STRINGS[4], *phrases]
            nodes = [_hostile_node(rng, k) for k in (7, 0, 2, 1, 3, 4, 5, 6)] + nodes
        subs, unassigned = _subclusters(rng, cid, topic, size, total, hostile and i == 0)
        repeated = [HOSTILE_STRINGS[3]] if hostile and i < 2 else []
        top_phrases = [{"phrase_id": f"p_{i:04x}{k:012x}", "text": text, "items_count": 40 // (k + 1)}
                       for k, text in enumerate([*repeated, *topic["texts"][:2]])]
        clusters.append(
            {
                "cluster_id": cid,
                "cluster_header": header,
                "cluster_summary": summary,
                "total_number_of_nodes": size,
                "share": round(size / total, 4),
                "cohesion": round(rng.uniform(0.48, 0.78), 2),
                "keyphrases": _keyphrases(phrases),
                "documents": size - rng.randrange(0, max(1, size // 20)),
                "nodes": nodes,
                "unassigned_nodes": unassigned,
                "subclusters": subs,
                "phrases_count": size - 40,
                "top_phrases": top_phrases,
            }
        )
    noise_nodes = [_node(rng, t, 3 + k) for k, t in enumerate(_NOISE_TEXTS[:4])]
    if hostile:
        noise_nodes.insert(0, _hostile_node(rng, 0))
    return {
        "run_id": "20261124T063800Z-3f2a",
        "status": "complete",
        "total_number_of_nodes": total,
        "clusters": clusters,
        "noise": {"total_number_of_nodes": noise_size, "share": round(noise_size / total, 4), "nodes": noise_nodes},
    }


def make_manifest(themes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build a ``manifest.json`` consistent with ``themes`` (default: ``make_themes()``).

    Args:
        themes: The themes document the manifest describes.

    Returns:
        A dict matching the ``manifest.json`` contract.
    """
    themes = make_themes() if themes is None else themes
    clusters = themes["clusters"]
    chunks = themes["total_number_of_nodes"]
    noise = themes["noise"]["total_number_of_nodes"]
    clustered_pct = round(100 * (chunks - noise) / chunks, 1) if chunks else 0.0
    cohesions = [c["cohesion"] for c in clusters]
    return {
        "run_id": themes["run_id"],
        "status": "complete",
        "started_at": "2026-11-24T06:38:00Z",
        "finished_at": "2026-11-24T06:40:47Z",
        "bucket_url": "s3://support-exports/tickets/2026-11/",
        "output_url": "file:///srv/themesift/runs",
        "settings": {"embedding_model": "all-MiniLM-L6-v2", "s3_secret_access_key": "must-not-appear"},
        "params": {
            "min_cluster_size": 25,
            "min_samples": 5,
            "subtheme_min_cluster_size": 10,
            "chunk_max_chars": 1200,
            "chunk_overlap_chars": 120,
            "knn_k": 15,
            "top_n_nodes": 5,
            "text_field": "body",
        },
        "counts": {
            "objects_listed": 31,
            "objects_new": 27,
            "objects_changed": 1,
            "objects_unchanged": 0,
            "objects_deleted": 0,
            "objects_skipped": 3,
            "records_skipped": 2,
            "documents": int(chunks * 0.83),
            "chunks": chunks,
            "chunks_embedded": chunks,
            "chunks_cached": 0,
            "themes": len(clusters),
            "subthemes": sum(len(c["subclusters"]) for c in clusters),
            "noise_chunks": noise,
        },
        "noise_pct": round(100 * noise / chunks, 1) if chunks else 0.0,
        "quality": {
            "clustered_pct": clustered_pct,
            "finest_clustered_pct": round(clustered_pct * 0.9, 1),
            "mean_cohesion": round(sum(cohesions) / len(cohesions), 2) if cohesions else None,
        },
        "timings": {
            "ingest": 1.24,
            "chunk": 0.31,
            "embed": 140.08,
            "knn": 0.52,
            "cluster": 2.03,
            "summarize": 1.01,
            "publish": 0.2,
            "report": 0.09,
            "total": 167.4,
        },
        "outputs": {"themes": "themes.json", "assignments": "assignments.parquet", "report": "report.html"},
    }


def make_skips(hostile: bool = False) -> list[dict[str, Any]]:
    """Build the skipped-objects list passed to the report.

    Args:
        hostile: Add entries whose key and detail carry XSS payloads.

    Returns:
        Skip records (``object_key``, ``record``, ``reason``, ``detail``).
    """
    skips: list[dict[str, Any]] = [
        {"object_key": "exports/2026-11/attachments.zip", "record": None, "reason": "binary",
         "detail": "NUL bytes in the first 8 KiB"},
        {"object_key": "exports/2026-11/legacy-latin1.csv", "record": None, "reason": "bad_utf8",
         "detail": "invalid start byte 0xe9 at offset 1433"},
        {"object_key": "tickets/2026-11-07.jsonl", "record": 17, "reason": "malformed_json",
         "detail": "Expecting ',' delimiter: line 1 column 88 (char 87)"},
        {"object_key": "tickets/2026-11-09.jsonl", "record": 3, "reason": "missing_text_field",
         "detail": "no field 'body' in record"},
        {"object_key": "exports/2026-11/empty.txt", "record": None, "reason": "empty",
         "detail": "0 bytes"},
    ]
    if hostile:
        skips.append({"object_key": "<script>alert('key')</script>" + "K" * 300, "record": None,
                      "reason": "unsafe_key", "detail": "<img src=x onerror=alert('detail')>"})
        skips.append({"object_key": "../../etc/passwd", "record": None, "reason": "<b>weird</b>",
                      "detail": "javascript:alert(1)"})
    return skips


def _object_key(i: int, hostile: bool) -> str:
    """The object key of the ``i``-th file of the synthetic map inputs (40 chunks per file)."""
    return f"<img src=x onerror=alert({i})>.jsonl" if hostile else f"tickets/2026-11-{i % 28 + 1:02d}.jsonl"


def make_map_inputs(themes: dict[str, Any], hostile: bool = False, seed: int = 0) -> tuple[pa.Table, dict[int, str]]:
    """Assignments (with map positions) consistent with ``themes``, and passage text for every chunk.

    Chunks get embeddings near a per-theme (and per-subtheme) direction and are placed by the real
    `tasks.core.layout.project_embeddings`, so the map looks like a pipeline run's. Row order: theme by theme,
    then the noise.

    Args:
        themes: A ``make_themes`` document.
        hostile: Give some passages and object keys XSS payloads.
        seed: Seed for the embeddings and the layout.

    Returns:
        ``(assignments, passages)``: a pyarrow table with ``chunk_id, doc_id, object_key, char_start,
        char_end, theme_id, subtheme_id, centrality, x, y`` and ``{row: text}``.
    """
    rng = np.random.default_rng(seed)
    theme_ids: list[str | None] = []
    sub_ids: list[str | None] = []
    texts: list[str] = []
    for cluster in themes["clusters"]:
        pool = [n["text"] for n in cluster["nodes"]] or [cluster["cluster_summary"]]
        for sub in cluster["subclusters"]:
            theme_ids += [cluster["cluster_id"]] * sub["total_number_of_nodes"]
            sub_ids += [sub["cluster_id"]] * sub["total_number_of_nodes"]
            texts += [sub["cluster_summary"]] * sub["total_number_of_nodes"]
        rest = cluster["total_number_of_nodes"] - sum(c["total_number_of_nodes"] for c in cluster["subclusters"])
        theme_ids += [cluster["cluster_id"]] * rest
        sub_ids += [None] * rest
        texts += [pool[k % len(pool)] for k in range(rest)]
    n_noise = themes["noise"]["total_number_of_nodes"]
    theme_ids += [None] * n_noise
    sub_ids += [None] * n_noise
    texts += [_NOISE_TEXTS[k % len(_NOISE_TEXTS)] for k in range(n_noise)]
    if hostile:
        texts = [HOSTILE_STRINGS[k % len(HOSTILE_STRINGS)] + " " + t if k % 7 == 0 else t for k, t in enumerate(texts)]
    n = len(texts)
    # sorted: set order follows string hashing, which changes from process to process
    centre = {c: rng.normal(size=64) for c in sorted({c for c in theme_ids + sub_ids if c is not None})}
    emb = rng.normal(size=(n, 64)) * 0.6
    for i, (t, s) in enumerate(zip(theme_ids, sub_ids, strict=True)):
        if t is not None:
            emb[i] += centre[t] + (0.6 * centre[s] if s is not None else 0.0)
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    labels = {t: i for i, t in enumerate(dict.fromkeys(t for t in theme_ids if t is not None))}
    coords = project_embeddings(emb, np.array([labels.get(t, -1) for t in theme_ids]), seed=seed)
    assignments = pa.table({
        "chunk_id": [f"c{i:07d}" for i in range(n)], "doc_id": [f"d{i // 3:07d}" for i in range(n)],
        "object_key": [_object_key(i // 40, hostile) for i in range(n)],
        "char_start": [0] * n, "char_end": [len(t) for t in texts],
        "theme_id": pa.array(theme_ids, pa.string()), "subtheme_id": pa.array(sub_ids, pa.string()),
        "centrality": pa.array(rng.uniform(0.5, 0.95, n).astype(np.float32)),
        "x": pa.array(coords[:, 0]), "y": pa.array(coords[:, 1]),
    })
    return assignments, dict(enumerate(texts))


def render_fixture_report(n_themes: int = 6, hostile: bool = False, with_map: bool = True) -> str:
    """A full report (map, documents, changes since a previous run) from the synthetic data."""
    themes = make_themes(n_themes, hostile=hostile)
    manifest = make_manifest(themes)
    kwargs: dict[str, Any] = {}
    if with_map:
        assignments, passages = make_map_inputs(themes, hostile)
        drawn, carried = map_rows(assignments)
        kwargs = {"map_data": build_map_data(assignments, sort_themes(themes),
                                             {r: passages[r] for r in carried.tolist()}, drawn),
                  "documents": theme_documents(assignments)}
    previous = {**manifest, "run_id": "20261123T020000Z-0001", "finished_at": "2026-11-23T02:03:00Z",
                "counts": {**manifest["counts"], "documents": manifest["counts"]["documents"] - 40,
                           "themes": max(0, manifest["counts"]["themes"] - 1)},
                "noise_pct": (manifest["noise_pct"] or 0) + 2.5}
    return render_report(themes, manifest, make_skips(hostile), changes=run_changes(manifest, previous), **kwargs)


class Page(HTMLParser):
    """A parsed report: every start tag with its attributes, and the text inside each ``<script>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record the tag; start collecting text if it is a script."""
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag: str) -> None:
        """Stop collecting script text."""
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        """Collect text inside a script."""
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parse_page(html: str) -> Page:
    """Parse a rendered report (`Page`)."""
    page = Page()
    page.feed(html)
    page.close()
    return page


def _main(argv: list[str]) -> None:
    """Write a sample report: ``reporting_fixtures.py OUT.html [--hostile] [--empty] [--themes N]``."""
    hostile = "--hostile" in argv
    n = 0 if "--empty" in argv else int(argv[argv.index("--themes") + 1]) if "--themes" in argv else 6
    out = Path(argv[0])
    atomic_write(out, render_fixture_report(n, hostile).encode())
    print(out)


if __name__ == "__main__":
    _main(sys.argv[1:])
