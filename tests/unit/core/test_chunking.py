"""Chunking edge cases: offsets, overlap, sentence ends, no split words, tokens versus characters."""

import pytest

from tasks.core.chunking import ChunkSpec, chunk_document, word_spans


def chunks(text, size, overlap, unit="chars"):
    spans = word_spans([text])[0]
    return chunk_document(text, spans, size=size, overlap=overlap, unit=unit)


def test_empty_and_tiny_texts():
    assert chunks("", 100, 10) == []
    assert chunks("   \n ", 100, 10) == []
    assert chunks("hello", 100, 10) == [(0, 5)]


def test_offsets_point_into_the_text_and_cover_it():
    text = " ".join(f"word{i}" for i in range(300))
    windows = chunks(text, 120, 30)
    assert windows[0][0] == 0 and windows[-1][1] == len(text)
    for (a, b), (c, _d) in zip(windows, windows[1:], strict=False):
        assert c < b, "consecutive chunks overlap"
        assert c > a, "every chunk starts later than the previous one"
    for a, b in windows:
        assert b - a <= 120
        assert text[a] != " " and text[b - 1] != " "
        assert (a == 0 or text[a - 1] == " ") and (b == len(text) or text[b] == " "), "no word is cut"


def test_prefers_sentence_ends():
    text = ("This sentence is about refunds. " * 3 + "Another one about passwords here. " * 3).strip()
    first = chunks(text, 150, 20)[0]
    assert text[first[1] - 1] == "."


def test_oversized_word_is_its_own_chunk():
    text = "short " + "x" * 500 + " tail"
    windows = chunks(text, 100, 10)
    assert (6, 506) in windows
    assert windows[-1] == (507, 511)


def test_token_unit_counts_spans():
    text = "a b c d e f g h i j"
    spans = word_spans([text])[0]
    windows = chunk_document(text, spans, size=4, overlap=1, unit="tokens")
    assert [text[a:b] for a, b in windows] == ["a b c d", "d e f g", "g h i j"]


def test_continuation_tokens_never_start_or_end_a_chunk():
    text = "unbelievable tokenization"
    # word pieces: un|believ|able tokeni|zation
    spans = [(0, 2), (2, 8), (8, 12), (13, 19), (19, 25)]
    windows = chunk_document(text, spans, size=3, overlap=1, unit="tokens")
    for a, b in windows:
        assert a in (0, 13) and b in (12, 25)


def test_fingerprint_changes_with_settings():
    base = ChunkSpec("tokens", 240, 32, "m")
    assert base.fingerprint() != ChunkSpec("tokens", 200, 32, "m").fingerprint()
    assert base.fingerprint() != ChunkSpec("tokens", 240, 32, "other").fingerprint()
    assert ChunkSpec("chars", 240, 32, "m").fingerprint() == ChunkSpec("chars", 240, 32, "other").fingerprint()


@pytest.mark.parametrize("size", [10, 37, 200])
def test_progress_is_guaranteed(size):
    text = "word " * 400
    assert len(chunks(text, size, size - 1)) < 400 * 5


def test_next_chunk_starts_at_a_sentence_inside_the_overlap():
    text = "Alpha beta gamma delta. Epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma."
    windows = chunks(text, 60, 40)
    assert text[windows[1][0]:].startswith("Epsilon")
