"""Decoding edge cases: every bad input becomes a recorded skip with the right reason, never an exception."""

import json

import pytest

from tasks.core.decode import DecodeOptions, decode_object, extension_of
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

