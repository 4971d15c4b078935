"""End to end: the recluster flow on a generated corpus with planted themes and bad inputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from tasks.infra.params import RunParams
from tasks.ingest import document_id
from tests.integration.conftest import Workspace, make_workspace
from tests.integration.corpus import BAD_INPUTS, HOSTILE_TEXT, write_planted_corpus

pytestmark = pytest.mark.integration
PARAMS = RunParams(min_cluster_size=10, min_subcluster_size=4, top_n_nodes=8)
HOSTILE_NAME = "bad/<img src=x onerror=alert(3)>.bin"


def truth_by_doc(truth: dict[str, str]) -> dict[str, str]:
    """Planted theme per document id."""
    out = {}
    for key, theme in truth.items():
        obj, _, rid = key.partition("#")
        out[document_id(obj, None, rid or None)] = theme
    return out


@pytest.fixture(scope="module")
def first_run(prefect_harness, tmp_path_factory) -> Iterator[tuple[Workspace, dict, dict]]:
    """One full run over the planted corpus, shared by the checks below."""
    from flows.recluster import recluster

    with pytest.MonkeyPatch.context() as mp:
        ws = make_workspace(tmp_path_factory.mktemp("planted"), mp)
        truth = write_planted_corpus(ws.bucket)
        (ws.bucket / HOSTILE_NAME).write_bytes(b"\x00\xff" * 10)
        result = recluster(params=PARAMS)
        yield ws, truth, result


def test_found_themes_match_the_planted_ones(first_run):
    ws, truth, result = first_run
    assignments = pq.read_table(ws.out / "runs" / result["run_id"] / "assignments.parquet").to_pylist()
    planted = truth_by_doc(truth)
    assert {a["doc_id"] for a in assignments} == set(planted), "every good document is clustered"
    clustered = [a for a in assignments if a["theme_id"] is not None]
    assert len(clustered) / len(assignments) >= 0.8
    by_theme: dict[str, Counter] = {}
    for a in clustered:
        by_theme.setdefault(a["theme_id"], Counter())[planted[a["doc_id"]]] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_theme.values()) / len(clustered)
    assert purity >= 0.9, by_theme
    majorities = {c.most_common(1)[0][0] for c in by_theme.values()}
    assert majorities == set(planted.values()), "each planted theme leads a found theme"


def test_every_bad_input_is_a_recorded_skip(first_run):
    ws, _truth, result = first_run
    manifest = ws.manifest(result["run_id"])
    counts = manifest["counts"]
    assert counts["objects_skipped"] == len(BAD_INPUTS) + 1
    assert counts["records_skipped"] == 1, "the malformed JSONL line"
    html = (ws.out / "runs" / result["run_id"] / "report.html").read_text()
    for key, (_data, reason) in BAD_INPUTS.items():
        assert key in html and reason in html


def test_outputs_are_published_with_manifest_and_latest(first_run):
    ws, _truth, result = first_run
    run_dir = ws.out / "runs" / result["run_id"]
    assert {p.name for p in run_dir.iterdir()} >= {"themes.json", "assignments.parquet", "manifest.json", "report.html"}
    latest = (ws.out / "latest.json").read_text()
    assert result["run_id"] in latest
    themes = ws.themes(result["run_id"])
    first = themes["clusters"][0]
    assert {"cluster_id", "cluster_header", "cluster_summary", "total_number_of_nodes", "nodes",
            "subclusters"} <= set(first)
    assert first["cluster_header"] and first["nodes"][0]["filename"] and first["nodes"][0]["text"]
    node = first["nodes"][0]
    doc_text = node["text"]
    assert node["char_end"] - node["char_start"] == len(doc_text)
    manifest = ws.manifest(result["run_id"])
    assert set(manifest["timings"]) >= {"ingest", "chunk", "embed", "knn", "cluster", "summarize", "total"}
    assert manifest["params"]["min_cluster_size"] == PARAMS.min_cluster_size
    assert 0 <= manifest["noise_pct"] <= 20


def test_hostile_text_is_kept_as_data_and_escaped_in_the_report(first_run):
    import duckdb

    ws, _truth, result = first_run
    con = duckdb.connect(str(ws.state / "catalog.duckdb"), read_only=True)
    stored = con.execute("SELECT text FROM documents WHERE object_key = 'notes/hostile.md'").fetchall()
    con.close()
    assert stored == [(HOSTILE_TEXT,)], "documents are stored verbatim; escaping happens only when rendering"
    html = (ws.out / "runs" / result["run_id"] / "report.html").read_text(encoding="utf-8")
    assert "<img src=x onerror" not in html
    assert "<script>alert(" not in html
    assert "&lt;img src=x onerror=alert(3)&gt;" in html, "the hostile file name is shown, escaped"


def test_second_run_with_nothing_changed_reads_and_embeds_nothing(first_run):
    from flows.recluster import recluster

    ws, _truth, result = first_run
    with pytest.MonkeyPatch.context() as mp:
        make_workspace(ws.root, mp)
        again = recluster(params=PARAMS)
    counts = ws.manifest(again["run_id"])["counts"]
    assert counts["objects_read"] == 0 and counts["objects_new"] == 0 and counts["objects_changed"] == 0
    assert counts["chunks_embedded"] == 0 and counts["chunks_cached"] > 0
    before = pq.read_table(ws.out / "runs" / result["run_id"] / "assignments.parquet").to_pylist()
    after = pq.read_table(ws.out / "runs" / again["run_id"] / "assignments.parquet").to_pylist()
    assert [(a["chunk_id"], a["theme_id"], a["subtheme_id"]) for a in before] == \
           [(a["chunk_id"], a["theme_id"], a["subtheme_id"]) for a in after], "same input, same seed: same themes"


def test_changed_and_deleted_objects_are_picked_up(first_run):
    from flows.recluster import recluster

    ws, _truth, _result = first_run
    changed = sorted((ws.bucket / "notes").glob("gardening-*.txt"))[0]
    changed.write_text("Prune the apple trees in winter. Water young trees weekly in dry summers. "
                       "Mulch keeps roots cool.")
    deleted = sorted((ws.bucket / "notes").glob("astronomy-*.txt"))[0]
    deleted.unlink()
    with pytest.MonkeyPatch.context() as mp:
        make_workspace(ws.root, mp)
        third = recluster(params=PARAMS)
    counts = ws.manifest(third["run_id"])["counts"]
    assert (counts["objects_changed"], counts["objects_deleted"], counts["objects_read"]) == (1, 1, 1)
    assert counts["chunks_embedded"] == 1
    keys = {a["object_key"]
            for a in pq.read_table(ws.out / "runs" / third["run_id"] / "assignments.parquet").to_pylist()}
    assert f"notes/{deleted.name}" not in keys and f"notes/{changed.name}" in keys


def test_a_bucket_of_only_bad_files_publishes_an_empty_run(prefect_harness, workspace: Workspace):
    from flows.recluster import recluster
    from tests.integration.corpus import write_bad_inputs

    write_bad_inputs(workspace.bucket)
    result = recluster(params=PARAMS)
    manifest = workspace.manifest(result["run_id"])
    assert manifest["counts"]["chunks"] == 0 and manifest["counts"]["themes"] == 0
    assert manifest["counts"]["objects_skipped"] == len(BAD_INPUTS)
    assert (workspace.out / "runs" / result["run_id"] / "report.html").is_file()


def test_missing_bucket_is_a_clear_error(prefect_harness, workspace: Workspace):
    from flows.recluster import recluster
    from tasks.infra.errors import BucketNotFoundError

    with pytest.raises(BucketNotFoundError, match="does not exist"):
        recluster(params=PARAMS, bucket_url=f"file://{workspace.root / 'nope'}")


def test_published_runs_leave_no_large_scratch_arrays(first_run):
    ws, _truth, result = first_run
    scratch = ws.state / "runs" / result["run_id"]
    assert (scratch / "corpus.parquet").is_file()
    assert not (scratch / "embeddings.npy").exists() and not (scratch / "knn.npz").exists()


def test_a_run_clusters_only_the_slice_its_where_and_dates_select(prefect_harness, workspace: Workspace):
    """``where`` and the date range pick documents by their metadata: the corpus, the assignments and the themes
    hold those and nothing else; a query that does not parse stops the run before it starts, naming the token."""
    import json
    import random

    from prefect.exceptions import ParameterTypeError

    from flows.recluster import recluster
    from tests.integration.corpus import PLANTED, planted_document

    rng = random.Random(3)
    records, chosen = [], set()
    for theme in PLANTED:
        for i in range(30):
            channel = "chat" if i % 2 else "email"
            opened = f"2024-0{5 + i % 3}-{1 + i % 28:02d}"  # May, June, July
            rid = f"{theme}-{i:02d}"
            records.append({"id": rid, "text": planted_document(theme, rng),
                            "meta": {"channel": channel, "opened": opened}})
            if channel == "chat" and opened < "2024-07-01":
                chosen.add(document_id("tickets.jsonl", None, rid))
    (workspace.bucket / "tickets.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    params = PARAMS.model_copy(update={"where": "meta.channel eq 'chat'", "date_field": "meta.opened",
                                       "to_date": "2024-06-30", "min_cluster_size": 5, "min_subcluster_size": 3,
                                       "publish_items": True})
    result = recluster(params=params)
    run = workspace.out / "runs" / result["run_id"]
    assigned = {a["doc_id"] for a in pq.read_table(run / "assignments.parquet").to_pylist()}
    assert assigned == chosen and len(chosen) == 10 * len(PLANTED)
    assert workspace.manifest(result["run_id"])["counts"]["chunks"] >= len(chosen)
    assert workspace.manifest(result["run_id"])["counts"]["themes"] >= 2
    check_query_cli(workspace, rng)

    with pytest.raises(ParameterTypeError, match=r"expected an operator .* at character 14 \('equals'\)"):
        recluster(params={"where": "meta.channel equals 'chat'"})


def check_query_cli(workspace: Workspace, rng) -> None:
    """``themesift query`` over the run just published (items.parquet, no server): clusters, a filter, items,
    find, and a filter that does not parse."""
    import json

    from typer.testing import CliRunner

    from flows.cli import app
    from tests.integration.corpus import planted_document

    out = ["--output", f"file://{workspace.out}", "--json"]

    def rows(*args: str) -> list[dict]:
        result = CliRunner().invoke(app, ["query", *args, *out])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    clusters = rows("clusters")
    assert len(clusters) >= 2 and all(c["cluster_phrase"] for c in clusters)
    june = rows("clusters", "--where", "meta.opened lt '2024-06-01'", "--date-field", "meta.opened")
    assert 0 < sum(c["items_count"] for c in june) < sum(c["items_count"] for c in clusters)
    first = clusters[0]["cluster_id"]
    items = rows("items", "--cluster", first, "--limit", "1000")
    assert len(items) == clusters[0]["items_count"] and all(i["cluster_id"] == first for i in items)
    text = planted_document("gardening", rng)
    found = rows("find", text)
    gardening = [i for c in clusters for i in rows("items", "--cluster", c["cluster_id"], "--limit", "1000")
                 if i["metadata"].get("id", "").startswith("gardening")]
    assert found[0]["cluster_id"] == max({i["cluster_id"] for i in gardening},
                                         key=[i["cluster_id"] for i in gardening].count)
    bad = CliRunner().invoke(app, ["query", "clusters", "--where", "meta.opened lt", *out])
    assert bad.exit_code != 0 and "error:" in bad.output and "at character" in bad.output


def test_near_duplicate_passages_are_published_as_one_phrase_with_a_count(prefect_harness, workspace: Workspace):
    """Copies of one ticket with other case, punctuation and spacing become one phrase (in phrases.parquet, in
    assignments.phrase_id and in the catalog), and the other passages keep phrases of their own."""
    import random

    import duckdb

    from tests.integration.corpus import PLANTED, planted_document

    rng = random.Random(11)
    lines = [planted_document(theme, rng) for theme in PLANTED for _ in range(15)]
    original = "Where is my refund for the order I returned last week?"
    copies = [original, original.upper(), "where is my refund for the order i returned last week",
              "Where is my refund, for the order I returned last week!!", "  where IS my refund for the order "
              "I returned   last week ?"]
    reworded = "Where's my refund for the order I returned last week?"  # cosine 0.993 to the original
    other = "How do I return an order I bought last week?"  # cosine 0.79: a passage of its own
    texts = lines + copies * 2 + [reworded, reworded, other]
    (workspace.bucket / "tickets.csv").write_text("text\n" + "\n".join(f'"{t}"' for t in texts))
    result = recluster_with(min_cluster_size=5, min_subcluster_size=3)
    run = workspace.out / "runs" / result["run_id"]
    phrases = pq.read_table(run / "phrases.parquet").to_pylist()
    assignments = pq.read_table(run / "assignments.parquet").to_pylist()
    by_id = {p["phrase_id"]: p for p in phrases}
    refund = [p for p in phrases if "refund for the order" in p["text"].lower()]
    # ten copies of one normalised text, and two of a rewording near enough in meaning: 12 items, 2 variants
    assert len(refund) == 1 and refund[0]["items_count"] == 12 and refund[0]["variants"] == 2, refund
    assert sum(p["items_count"] for p in phrases) == len(assignments)
    assert all(a["phrase_id"] in by_id for a in assignments)
    assert sum(a["phrase_id"] == refund[0]["phrase_id"] for a in assignments) == 12
    assert [p["items_count"] for p in phrases if p["text"] == other] == [1]
    manifest = workspace.manifest(result["run_id"])
    assert manifest["counts"]["phrases"] == len(phrases) and manifest["counts"]["chunks_in_shared_phrases"] >= 10
    with duckdb.connect(str(workspace.state / "catalog.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT items_count FROM phrases WHERE run_id = ? AND phrase_id = ?",
                             [result["run_id"], refund[0]["phrase_id"]]).fetchall()
        linked = con.execute("SELECT count(*) FROM assignments WHERE run_id = ? AND phrase_id = ?",
                             [result["run_id"], refund[0]["phrase_id"]]).fetchone()[0]
    assert stored == [(12,)] and linked == 12


def recluster_with(**overrides):
    from flows.recluster import recluster

    return recluster(params=PARAMS.model_copy(update=overrides))


def test_pdfs_are_read_page_by_page_and_their_passages_say_which_page(prefect_harness, workspace: Workspace):
    """A bucket of PDFs (one planted theme per page, three themes across pages) is clustered, every
    published passage names its page, and an encrypted, an image-only and a broken PDF are recorded skips."""
    import json
    import random

    from flows.recluster import recluster
    from tests.integration.corpus import PLANTED, planted_document
    from tests.unit.core.pdf_fixtures import encrypted, make_pdf

    rng = random.Random(8)
    themes = list(PLANTED)[:3]
    for i in range(12):  # each PDF holds three pages, one per theme, in a rotating order
        order = themes[i % 3:] + themes[:i % 3]
        (workspace.bucket / f"report-{i:02d}.pdf").write_bytes(make_pdf([planted_document(t, rng) for t in order]))
    (workspace.bucket / "locked.pdf").write_bytes(encrypted(make_pdf(["secret plans"]), "pw"))
    (workspace.bucket / "scan.pdf").write_bytes(make_pdf([None]))
    (workspace.bucket / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")
    tuned = {"min_cluster_size": 5, "min_subcluster_size": 3, "chunk_size": 64, "chunk_overlap": 0,
             "publish_items": True}
    result = recluster(params=PARAMS.model_copy(update=tuned))
    run = workspace.out / "runs" / result["run_id"]
    doc = json.loads((run / "themes.json").read_text())
    nodes = [n for c in doc["clusters"] for n in c["nodes"]]
    assert len(doc["clusters"]) >= 2 and nodes
    assert all(1 <= n["page"] <= n["page_end"] <= 3 and n["filename"].endswith(".pdf") for n in nodes)
    from tasks.infra.catalog import open_catalog
    from tasks.infra.settings import load_settings

    with open_catalog(load_settings().catalog_path) as catalog:
        skips = {key: reason for key, _, reason, *_ in catalog.con.execute(
            "SELECT object_key, record_no, reason FROM skips").fetchall()}
    assert skips == {"locked.pdf": "pdf_encrypted", "scan.pdf": "pdf_no_text", "broken.pdf": "pdf_malformed"}
    items = pq.read_table(run / "items.parquet").to_pylist()
    assert all(1 <= i["page"] <= i["page_end"] <= 3 and '"pages": 3' in i["metadata"] for i in items)
    assert not any("page_starts" in i["metadata"] for i in items), "the page list stays in the catalog"
    again = recluster(params=PARAMS.model_copy(update=tuned))
    counts = workspace.manifest(again["run_id"])["counts"]
    assert counts["objects_read"] == 0 and counts["chunks_embedded"] == 0, "an unchanged PDF is never read again"



def test_web_pages_cluster_by_their_content_not_the_sites_boilerplate(prefect_harness, workspace: Workspace):
    """36 pages of one shop (shared header, menu, cookie banner, sidebar, footer) around articles of three
    planted themes. Read as visible text, the boilerplate is a theme of its own; read for main content (the
    default) no theme's header, keyphrase or shown passage comes from it. Switching the mode re-reads the
    pages and nothing else."""
    import json
    import random

    from tests.integration.corpus import PLANTED, planted_document
    from tests.unit.core.webpage_fixtures import BOILERPLATE_WORDS, COOKIE_NOTICE, FOOTER_NOTICE, MENU_ITEMS, site_page

    rng = random.Random(5)
    for theme in list(PLANTED)[:3]:
        for i in range(12):
            text = planted_document(theme, rng)
            (workspace.bucket / f"site/{theme}-{i:02d}.html").parent.mkdir(exist_ok=True)
            (workspace.bucket / f"site/{theme}-{i:02d}.html").write_text(site_page(f"{theme} {i}", [text]))
    (workspace.bucket / "notes.txt").write_text(planted_document("astronomy", rng))
    boilerplate = [COOKIE_NOTICE[:60], FOOTER_NOTICE[:60], *MENU_ITEMS]

    def shown(run_id: str) -> tuple[list[str], list[str]]:
        doc = json.loads((workspace.out / "runs" / run_id / "themes.json").read_text())
        clusters = doc["clusters"] + [s for c in doc["clusters"] for s in c.get("subclusters", [])]
        words = [w for c in clusters for w in [*c["cluster_header"].lower().split(" · "),
                                                *(k["phrase"] for k in c["keyphrases"])]]
        return words, [n["text"] for c in clusters for n in c["nodes"]]

    tuned = {"min_cluster_size": 5, "min_subcluster_size": 3, "chunk_size": 64, "chunk_overlap": 0}
    visible = recluster_with(html_mode="visible", **tuned)
    words, passages = shown(visible["run_id"])
    assert any(b in p for p in passages for b in boilerplate) and BOILERPLATE_WORDS & set(words), \
        "the visible-text mode should show the shared boilerplate (else this test proves nothing)"
    main = recluster_with(**tuned)
    counts = workspace.manifest(main["run_id"])["counts"]
    assert counts["objects_read"] == 36 and counts["objects_unchanged"] == 1, "only the web pages are read again"
    words, passages = shown(main["run_id"])
    assert len(passages) >= 9 and not BOILERPLATE_WORDS & {w for p in words for w in p.split()}, words
    assert not [p for p in passages for b in boilerplate if b in p]


def test_a_flooding_document_cannot_take_over_the_run(prefect_harness, workspace: Workspace):
    """A 2.8 MB file of one word (under the size cap), a note of one paragraph pasted 80 times and a note with a
    uuencoded attachment beside the planted corpus: the flood is a `repetitive` skip, the pasted paragraph counts
    once, the attachment's encoded windows are set aside, and the planted documents keep their themes."""
    import binascii
    import random

    truth = truth_by_doc(write_planted_corpus(workspace.bucket, per_theme=20))
    (workspace.bucket / "dump").mkdir()
    (workspace.bucket / "dump/flood.txt").write_bytes(b"buy " * 700_000)
    pasted = ("Our office will be closed on public holidays and the helpdesk answers again on the next working "
              "day, so please allow extra time for replies during the festive season. ")
    (workspace.bucket / "dump/pasted.txt").write_text(pasted * 80)
    note = ("The receipt for the refund of my double charge is attached below, as the bank asked for it. "
            "Please reverse the duplicate payment on my credit card statement.\n\nbegin 644 receipt.gif\n")
    blob = random.Random(5).randbytes(9000)
    uuencoded = "".join(binascii.b2a_uu(blob[i : i + 45]).decode() for i in range(0, len(blob), 45))
    (workspace.bucket / "dump/attachment.txt").write_text(f"{note}{uuencoded}`\nend\n")
    result = recluster_with(min_cluster_size=8, min_subcluster_size=4)
    counts = workspace.manifest(result["run_id"])["counts"]
    assert counts["chunks_repeated"] >= 8  # of the ~13 windows the pasted note is cut into
    # the uuencoded receipt (200 lines, with its begin and end) is left out; the note's own words stay in the run
    assert counts["encoded_lines_left_out"] == 203
    kept = pq.read_table(workspace.out / "runs" / result["run_id"] / "assignments.parquet",
                         filters=[("object_key", "=", "dump/attachment.txt")]).to_pylist()
    assert [(a["char_start"], a["char_end"]) for a in kept] == [(0, len(note.split("\n\nbegin")[0]))]
    from tasks.infra.catalog import open_catalog
    from tasks.infra.settings import load_settings

    with open_catalog(load_settings().catalog_path) as catalog:
        reasons = dict(catalog.con.execute("SELECT object_key, reason FROM skips WHERE object_key LIKE 'dump/%'")
                       .fetchall())
    assert reasons == {"dump/flood.txt": "repetitive"}
    assignments = pq.read_table(workspace.out / "runs" / result["run_id"] / "assignments.parquet").to_pylist()
    assert sum(a["object_key"] == "dump/pasted.txt" for a in assignments) <= 3  # first, middle and last window
    clustered = [a for a in assignments if a["theme_id"] is not None and a["doc_id"] in truth]
    assert len(clustered) / sum(a["doc_id"] in truth for a in assignments) >= 0.8
    by_theme: dict[str, Counter] = {}
    for a in clustered:
        by_theme.setdefault(a["theme_id"], Counter())[truth[a["doc_id"]]] += 1
    assert sum(c.most_common(1)[0][1] for c in by_theme.values()) / len(clustered) >= 0.9, by_theme
    assert {c.most_common(1)[0][0] for c in by_theme.values()} == set(truth.values())


def test_cluster_unit_document_gives_every_chunk_of_a_document_its_theme(prefect_harness, workspace: Workspace):
    """Long notes cut into several chunks, each with sentences off its topic (the planted refunds pool holds
    two about planets): with ``cluster_unit=document`` the documents are clustered, every chunk of a document is
    in its theme and subtheme, the themes are the planted ones, and the manifest says what was clustered."""
    import random

    from tests.integration.corpus import PLANTED

    rng = random.Random(11)
    truth = {}
    for theme, pool in PLANTED.items():
        for i in range(18):
            key = f"long/{theme}-{i:02d}.txt"
            (workspace.bucket / "long").mkdir(exist_ok=True)
            (workspace.bucket / key).write_text(" ".join(rng.sample(pool, len(pool))))
            truth[document_id(key, None, None)] = theme
    result = recluster_with(cluster_unit="document", chunk_size=32, chunk_overlap=4, min_cluster_size=8,
                            min_subcluster_size=3)
    quality = workspace.manifest(result["run_id"])["quality"]
    assert quality["unit"] == "document" and quality["documents"] == len(truth)
    assignments = pq.read_table(workspace.out / "runs" / result["run_id"] / "assignments.parquet").to_pylist()
    chunks_of: dict[str, list[dict]] = {}
    for a in assignments:
        chunks_of.setdefault(a["doc_id"], []).append(a)
    assert set(chunks_of) == set(truth) and quality["chunks"] == len(assignments) > 2 * len(truth)
    for rows in chunks_of.values():
        assert len({(a["theme_id"], a["subtheme_id"]) for a in rows}) == 1, rows
    by_theme: dict[str, Counter] = {}
    for doc, rows in chunks_of.items():
        if rows[0]["theme_id"] is not None:
            by_theme.setdefault(rows[0]["theme_id"], Counter())[truth[doc]] += 1
    assert sum(sum(c.values()) for c in by_theme.values()) >= 0.8 * len(truth)
    assert all(len(c) == 1 for c in by_theme.values()), by_theme
    assert {c.most_common(1)[0][0] for c in by_theme.values()} == set(truth.values())
