"""Benchmark: do theme ids survive a night of new documents, and are the planted events found?

    .venv/bin/python bench/lineage.py --corpus ../shared/corpora/banking77/data.jsonl

Banking77 is split into two "nights" and run through the real flow twice (Prefect, DuckDB, the packaged
model, default parameters) in a fresh state folder. Planted, with a seed:

- **born**: ``--emerging`` intents are absent on night 1 and arrive whole on night 2;
- **died**: ``--dying`` intents are present on night 1 and deleted on night 2;
- **grew**: ``--growing`` intents have ``--held-back`` of their documents held back on night 1;
- every other intent is untouched.

The new documents are about 10 % of night 1's. Themes are tied to intents by majority of their chunks. The
benchmark prints:

- **id kept**: of night 1's themes led by an untouched intent, the share whose id is on night 2 on a
  theme led by the same intent; side by side, the same share for **rank ids** (what a tool that numbers
  clusters by size each run gives: theme i tonight vs theme i last night) and the ratio;
- **event accuracy**: for each planted intent, whether the theme it lives in shows the planted event
  (``died`` for a theme the dying intent led, ``grew`` when the added chunks reach ``event_min_change`` of the
  theme, ``born`` for the theme an emerging intent leads), and the **false event rate** among themes of
  untouched intents (any event but ``stable``, ``grew`` or ``shrank`` there: a split, merge, birth or death
  that nothing planted).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plan(records: list[dict], args: argparse.Namespace) -> tuple[dict, dict, dict[str, str]]:
    """Night 1 and night 2 objects (key -> records) and the planted event per intent."""
    rng = random.Random(args.seed)
    intents = sorted({r["label"] for r in records})
    picked = rng.sample(intents, args.emerging + args.dying + args.growing)
    planted = {i: "born" for i in picked[:args.emerging]}
    planted.update({i: "died" for i in picked[args.emerging:args.emerging + args.dying]})
    planted.update({i: "grew" for i in picked[args.emerging + args.dying:]})
    by_intent: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_intent[r["label"]].append(r)
    night1: dict[str, list[dict]] = {}
    night2: dict[str, list[dict]] = {}
    for intent, recs in sorted(by_intent.items()):
        event = planted.get(intent)
        if event == "grew":
            recs = recs[:]
            rng.shuffle(recs)
            cut = round(len(recs) * (1 - args.held_back))
            night1[f"{intent}/part-0.jsonl"] = recs[:cut]
            night2[f"{intent}/part-0.jsonl"] = recs[:cut]
            night2[f"{intent}/part-1.jsonl"] = recs[cut:]
        elif event == "born":
            night2[f"{intent}/part-0.jsonl"] = recs
        elif event == "died":
            night1[f"{intent}/part-0.jsonl"] = recs
        else:
            night1[f"{intent}/part-0.jsonl"] = recs
            night2[f"{intent}/part-0.jsonl"] = recs
    return night1, night2, planted


def write_bucket(bucket: Path, objects: dict[str, list[dict]]) -> None:
    """Make the bucket folder hold exactly these objects (unchanged files keep their bytes and mtime)."""
    wanted = set(objects)
    for path in list(bucket.rglob("*.jsonl")):
        if path.relative_to(bucket).as_posix() not in wanted:
            path.unlink()
    for key, recs in objects.items():
        path = bucket / key
        data = "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in recs)
        if not path.exists() or path.read_text() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data)


def themes_of(work: Path, run_id: str, truth: dict[str, str]) -> tuple[dict, dict, dict]:
    """Per theme id: its majority intent, its size and its intent counts; and per intent: its theme counts."""
    import pyarrow.parquet as pq

    rows = pq.read_table(work / "out" / "runs" / run_id / "assignments.parquet",
                         columns=["doc_id", "theme_id"]).to_pylist()
    counts: dict[str, Counter] = defaultdict(Counter)
    homes: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        intent = truth[r["doc_id"]]
        if r["theme_id"] is not None:
            counts[r["theme_id"]][intent] += 1
            homes[intent][r["theme_id"]] += 1
    lead = {t: c.most_common(1)[0][0] for t, c in counts.items()}
    return lead, counts, homes


def main() -> int:
    """Plant the nights, run the flow twice, score ids and events."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpora/banking77/data.jsonl"))
    parser.add_argument("--emerging", type=int, default=4)
    parser.add_argument("--dying", type=int, default=4)
    parser.add_argument("--growing", type=int, default=8)
    parser.add_argument("--held-back", type=float, default=0.35, help="share of a growing intent held back on night 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--param", "-p", action="append", default=[], help="run parameter override key=value")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus path/to/banking77/data.jsonl)", file=sys.stderr)
        return 2
    records = [json.loads(line) for line in args.corpus.open(encoding="utf-8")]
    night1, night2, planted = plan(records, args)
    n1 = sum(map(len, night1.values()))
    n_new = sum(len(v) for k, v in night2.items() if k not in night1)
    n_gone = sum(len(v) for k, v in night1.items() if k not in night2)
    print(f"night 1: {n1:,} documents; night 2: +{n_new:,} new ({100 * n_new / n1:.1f} %), -{n_gone:,} deleted; "
          f"planted: {dict(Counter(planted.values()))}")

    work = Path(tempfile.mkdtemp(prefix="themesift-lineage-"))
    bucket = work / "bucket"
    os.environ["THEMESIFT_STATE_DIR"] = str(work / "state")
    os.environ["THEMESIFT_OUTPUT_URL"] = f"file://{work / 'out'}"
    from flows.recluster import recluster
    from tasks.infra.params import parse_param_overrides
    from tasks.ingest import document_id

    params = parse_param_overrides(args.param)
    truth = {}
    for key, recs in {**night1, **night2}.items():
        truth.update({document_id(key, None, r["id"]): r["label"] for r in recs})
    results, seconds = [], []
    for objects in (night1, night2):
        write_bucket(bucket, objects)
        start = time.perf_counter()
        results.append(recluster(params=params, bucket_url=f"file://{bucket}"))
        seconds.append(time.perf_counter() - start)
    run1, run2 = (r["run_id"] for r in results)
    lead1, counts1, homes1 = themes_of(work, run1, truth)
    lead2, counts2, homes2 = themes_of(work, run2, truth)
    manifest2 = json.loads((work / "out" / "runs" / run2 / "manifest.json").read_text())
    events = [e for e in json.loads(json.dumps(manifest2["lineage"]["diff"])) if e["level"] == "theme"]
    event_of: dict[str, str] = {}
    for e in events:
        for cid in {e["cluster_id"], *e["current_ids"]}:
            event_of.setdefault(cid, e["event"])
    died = {e["cluster_id"] for e in events if e["event"] == "died"}
    min_change = params.event_min_change

    untouched1 = [t for t, i in lead1.items() if i not in planted]
    kept = [t for t in untouched1 if lead2.get(t) == lead1[t]]
    rank1 = sorted(counts1, key=lambda t: -sum(counts1[t].values()))
    rank2 = sorted(counts2, key=lambda t: -sum(counts2[t].values()))
    rank_kept = [t for i, t in enumerate(rank1)
                 if lead1[t] not in planted and i < len(rank2) and lead2[rank2[i]] == lead1[t]]

    checks: dict[str, list[bool]] = defaultdict(list)
    detail = []
    for intent, event in sorted(planted.items()):
        if event == "born":
            home = homes2[intent].most_common(1)[0][0] if homes2[intent] else None
            ok = home is not None and lead2.get(home) == intent and event_of.get(home) == "born"
            expect = "born"
        elif event == "died":
            home = homes1[intent].most_common(1)[0][0] if homes1[intent] else None
            expect = "died" if home and lead1[home] == intent else "shrank"
            ok = home is not None and (home in died if expect == "died" else event_of.get(home) in ("shrank", None))
        else:
            home = homes2[intent].most_common(1)[0][0] if homes2[intent] else None
            before = sum(counts1.get(home, Counter()).values())
            added = sum(1 for k, v in night2.items() if k.startswith(intent + "/") and k not in night1 for _ in v)
            expect = "grew" if home in counts1 and added >= min_change * before else "stable"
            ok = home is not None and (event_of.get(home) == "grew" if expect == "grew"
                                       else event_of.get(home) in (None, "grew"))
        checks[event].append(bool(ok))
        detail.append({"intent": intent, "planted": event, "expected": expect, "theme": home,
                       "found": event_of.get(home, "stable") if home else None, "ok": bool(ok)})
    untouched2 = {t for t, i in lead2.items() if i not in planted}
    false_events = [e for e in events if e["event"] in ("born", "died", "split", "merged")
                    and all(c in untouched2 or c in untouched1 for c in {e["cluster_id"], *e["current_ids"]})]
    n_untouched = len(set(untouched1) | untouched2)
    all_checks = [c for v in checks.values() for c in v]
    figures = {
        "documents_night1": n1, "new_documents": n_new, "new_pct": round(100 * n_new / n1, 2), "deleted": n_gone,
        "themes_night1": len(lead1), "themes_night2": len(lead2),
        "id_kept_pct": round(100 * len(kept) / max(len(untouched1), 1), 1),
        "rank_id_kept_pct": round(100 * len(rank_kept) / max(len(untouched1), 1), 1),
        "event_accuracy_pct": round(100 * sum(all_checks) / max(len(all_checks), 1), 1),
        "event_accuracy_by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(checks.items())},
        "false_events": len(false_events),
        "false_event_rate_pct": round(100 * len(false_events) / max(n_untouched, 1), 1),
        "diff_events": dict(Counter(e["event"] for e in events)),
        "seconds": {"night1": round(seconds[0], 1), "night2": round(seconds[1], 1),
                    "lineage_stage_night2": manifest2["timings"].get("lineage")},
        "detail": detail, "work": str(work),
    }
    ratio = figures["id_kept_pct"] / figures["rank_id_kept_pct"] if figures["rank_id_kept_pct"] else float("inf")
    print(f"themes: night 1 {len(lead1)}, night 2 {len(lead2)}; diff: {figures['diff_events']}")
    print(f"id kept (themes of untouched intents): themesift {figures['id_kept_pct']} %  vs  rank ids "
          f"{figures['rank_id_kept_pct']} %  (ratio {ratio:.1f}x)")
    print(f"planted events found: {figures['event_accuracy_pct']} % {figures['event_accuracy_by_kind']}; "
          f"false events among {n_untouched} untouched themes: {len(false_events)} "
          f"({figures['false_event_rate_pct']} %)")
    print(f"seconds: night 1 {figures['seconds']['night1']}, night 2 {figures['seconds']['night2']} "
          f"(lineage stage {figures['seconds']['lineage_stage_night2']})")
    for d in detail:
        if not d["ok"]:
            print(f"  missed: {d['intent']} planted {d['planted']}, expected {d['expected']} on {d['theme']}, "
                  f"found {d['found']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
