"""Decoding edge cases: every bad input becomes a recorded skip with the right reason, never an exception."""

import json

import pytest

from tasks.core.decode import DecodeOptions, _decode, decode_object, extension_of
from tasks.core.webpage import html_to_text


def reasons(decoded):
    return [s.reason for s in decoded.skips]


@pytest.mark.parametrize(("key", "data", "reason"), [
    ("a.txt", b"", "empty"),
    ("a.txt", b"  \n\t  \n", "empty"),
    ("a.md", b"caf\xe9 au lait", "bad_utf8"),
    ("a.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
    ("image.png", b"whatever", "unsupported_type"),
    ("report.PDF", b"%PDF-1.7", "pdf_malformed"),
    ("letter.doc", b"\xd0\xcf\x11\xe0", "unsupported_type"),
    ("a.json", b"{not json", "malformed_json"),
    ("a.json", b'{"body": "no text field"}', "missing_text_field"),
    ("a.csv", b"id,body\n1,hello\n", "missing_text_field"),
    ("a.jsonl", b"\n\n", "empty"),
    ("a.html", b"<html><script>x()</script></html>", "empty"),
])
def test_bad_objects_become_one_skip(key, data, reason):
    decoded = decode_object(key, data)
    assert decoded.records == []
    assert reasons(decoded) == [reason]
    assert all(s.detail for s in decoded.skips)


def test_jsonl_bad_lines_are_skipped_and_the_rest_kept():
    lines = [json.dumps({"id": "a", "text": "first", "lang": "en"}), "{broken", json.dumps({"id": "b"}),
             json.dumps({"id": "c", "text": "   "}), json.dumps({"id": "d", "text": "second"}), "[1, 2]"]
    decoded = decode_object("t.jsonl", "\n".join(lines).encode())
    assert [r.text for r in decoded.records] == ["first", "second"]
    assert [r.record_id for r in decoded.records] == ["a", "d"]
    assert decoded.records[0].metadata == {"id": "a", "lang": "en"}
    assert [(s.reason, s.record_no) for s in decoded.skips] == [
        ("malformed_json", 2), ("missing_text_field", 3), ("empty", 4), ("missing_text_field", 6)]


def test_configurable_fields():
    options = DecodeOptions(text_field="body", id_field="ticket", csv_text_column="message")
    jsonl = decode_object("t.jsonl", b'{"ticket": 7, "body": "refund please"}', options)
    assert jsonl.records[0].text == "refund please" and jsonl.records[0].record_id == "7"
    csv = decode_object("t.csv", b'ticket,message\n1,"hello, world"\n2,"multi\nline"\n', options)
    assert [r.text for r in csv.records] == ["hello, world", "multi\nline"]
    tsv = decode_object("t.tsv", b"message\tx\nhi there\t1\n", options)
    assert tsv.records[0].text == "hi there"


def test_json_list_and_string():
    decoded = decode_object("a.json", b'[{"text": "one"}, "two", 3]')
    assert [r.text for r in decoded.records] == ["one", "two"]
    assert reasons(decoded) == ["missing_text_field"]


def test_text_encodings_and_newlines():
    assert decode_object("a.txt", "\ufeffhello\r\nworld\r".encode()).records[0].text == "hello\nworld\n"
    assert decode_object("a.txt", "héllo".encode("utf-16")).records[0].text == "héllo"
    assert decode_object("notes", b"no extension is plain text").records[0].text == "no extension is plain text"


def test_html_keeps_visible_text_only():
    title, text = html_to_text("<html><head><title>Hi &amp; bye</title><style>p{}</style></head>"
                               "<body><h1>Head</h1><p>One <b>two</b></p><script>alert(1)</script><p>three</p></body>")
    assert title == "Hi & bye"
    assert text == "Head\n\nOne two\n\nthree"
    assert "alert" not in text


def test_extension_of():
    assert extension_of("dir.v2/file.JSONL") == ".jsonl"
    assert extension_of("dir/.hidden") == ""
    assert extension_of("README") == ""



def encoded(kind: str, size: int = 600, seed: int = 3) -> str:
    """``size`` random bytes as the real encoder writes them: ``uu`` (with begin/end lines), ``b64``, ``pgp``."""
    import base64
    import binascii
    import random

    blob = random.Random(seed).randbytes(size)
    if kind == "uu":
        body = "".join(binascii.b2a_uu(blob[i : i + 45]).decode() for i in range(0, len(blob), 45))
        return f"begin 644 picture.gif\n{body}`\nend\n"
    b64 = base64.encodebytes(blob).decode()
    if kind == "pgp":
        return f"-----BEGIN PGP SIGNATURE-----\nVersion: 2.2\n\n{b64}=Yx3a\n-----END PGP SIGNATURE-----\n"
    return b64


PROSE = "My card was charged twice for the same order, and the refund is still pending after a week.\n"


@pytest.mark.parametrize("kind", ["uu", "b64", "pgp"])
def test_encoded_blocks_are_left_out_and_the_words_around_them_kept(kind):
    from tasks.core.decode import without_encoded

    body = encoded(kind)
    text, removed = without_encoded(f"{PROSE}\n{body}\nThanks for any help.\n")
    assert removed >= 8 and PROSE in text and "Thanks for any help." in text
    left = text.replace(PROSE, "").replace("Thanks for any help.", "").split()
    # the armour's closing line is mostly dashes and goes with the block; its opening lines stay
    assert left == {"uu": [], "b64": [], "pgp": ["-----BEGIN", "PGP", "SIGNATURE-----", "Version:", "2.2"]}[kind]
    quoted = "".join(f">> {line}\n" for line in encoded("uu").splitlines())
    text, removed = without_encoded(f"In article you wrote:\n{quoted}I could not open it.\n")
    assert removed >= 13 and text.startswith("In article you wrote:") and text.endswith("I could not open it.\n")


def test_prose_tables_rules_and_a_line_or_two_of_identifiers_are_kept_whole():
    from tasks.core.decode import without_encoded

    for text in [
        PROSE * 4,
        "+" * 60 + "\nKen Gantz           kgantz@cup.portal.com\n" + "+" * 60 + "\n" + "=" * 60 + "\n",
        "BURY 38 25 (--) PURDUE\nRICKS PENS 38 25 (--)\nGB Flyers 38 25 (--)\n" * 3,
        "MAKE SURE YOU READ THE MANUAL BEFORE YOU CALL SUPPORT TODAY\nThanks for waiting.\n",
        "commit 3f626d1e5a0b3c4d5e6f7a8b9c0d1e2f3a4b5c6d\nAuthor: someone\n\n" * 3,
        "我们今天去商店买东西。" * 20,
        "",
    ]:
        assert without_encoded(text) == (text, 0)


def test_a_record_of_nothing_but_encoded_data_is_a_skip_and_the_rest_are_kept():
    lines = [json.dumps({"id": "a", "text": PROSE + encoded("b64")}),
             json.dumps({"id": "b", "text": "begin 644 x.gif\n" + encoded("uu")}),
             json.dumps({"id": "c", "text": PROSE})]
    decoded = decode_object("posts.jsonl", "\n".join(lines).encode())
    assert [r.record_id for r in decoded.records] == ["a", "c"]
    assert decoded.records[0].text.strip() == PROSE.strip() and decoded.records[1].text == PROSE
    assert reasons(decoded) == ["encoded_binary"] and decoded.skips[0].record_no == 2  # the second line
    # b's block: its 13 full lines, `begin 644 picture.gif` before them, the short last line, "`" and "end"
    assert decoded.skips[0].detail.startswith("17 lines of encoded binary")
    assert decoded.encoded_lines == len(encoded("b64").splitlines()) + 17
    whole = decode_object("attachment.txt", encoded("uu", 9000).encode())
    assert whole.records == [] and reasons(whole) == ["encoded_binary"] and whole.skips[0].record_no is None


def test_a_bucket_read_before_the_encoded_rule_is_read_again_and_its_blocks_left_out(tmp_path, monkeypatch):
    from tasks.infra.catalog import open_catalog
    from tasks.infra.params import IngestParams, RunParams
    from tasks.infra.storage import open_storage
    from tasks.ingest import ingest_bucket

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "post.txt").write_text(PROSE + encoded("uu"))
    params = RunParams().view(IngestParams)
    with open_catalog(tmp_path / "catalog.duckdb") as catalog:
        with monkeypatch.context() as old:  # the release before: no rule, its own fingerprint
            old.setattr("tasks.ingest.decode_object", lambda key, data, options: _decode(key, data, options))
            old.setattr(DecodeOptions, "fingerprint", lambda self, key="": "v1|text|id|text")
            ingest_bucket(open_storage(f"file://{bucket}"), catalog, run_id="r1", params=params)
        before = catalog.con.execute("SELECT text FROM documents").fetchall()
        again = ingest_bucket(open_storage(f"file://{bucket}"), catalog, run_id="r2", params=params)
        after = catalog.con.execute("SELECT text FROM documents").fetchall()
    assert "begin 644" in before[0][0]
    assert again.objects_read == 1 and again.encoded_lines_left_out == 17
    assert after == [(PROSE,)]


def test_blocks_close_together_are_each_left_out_once():
    from tasks.core.decode import without_encoded

    b64 = encoded("b64", 240).splitlines()  # four full lines and a short one
    # the first block's closing lines ("1+/" and then the second block's first line) reach into the second
    text = "Intro words here.\n" + "\n".join(b64) + "\n1+/\n" + "\n".join(b64[:3]) + "\nOutro words here.\n"
    left, removed = without_encoded(text)
    assert left == "Intro words here.\nOutro words here.\n" and removed == len(b64) + 1 + 3
