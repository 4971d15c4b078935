"""properties-query: what it selects (run against DuckDB over real documents and objects tables), the errors it
gives, and that nothing the user writes ever becomes SQL text."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.infra.query import MAX_DEPTH, QueryError, compile_query, parse

DOCS = [  # (doc_id, object_key, last_modified epoch, metadata)
    ("a", "tickets/2024-05-01.jsonl", 1714521600.0, {"lang": "en", "channel": "chat", "score": 5, "vip": True,
                                                     "opened": "2024-05-01T09:00:00", "customer": {"tier": "gold"}}),
    ("b", "tickets/2024-05-02.jsonl", 1714608000.0, {"lang": "en", "channel": "email", "score": 2, "vip": False,
                                                     "opened": "2024-05-02", "customer": {"tier": "silver"}}),
    ("c", "tickets/2024-06-01.jsonl", 1717200000.0, {"lang": "de", "channel": "chat", "score": 4,
                                                     "opened": "2024-06-01T12:30:00+02:00", "name": "O'Brien"}),
    ("d", "notes/readme.txt", 1717286400.0, {}),
]

ALL_DOCS = {doc_id for doc_id, *_ in DOCS}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE documents (doc_id VARCHAR, object_key VARCHAR, metadata VARCHAR)")
    con.execute("CREATE TABLE objects (key VARCHAR, last_modified DOUBLE)")
    for doc_id, key, modified, meta in DOCS:
        con.execute("INSERT INTO documents VALUES (?, ?, ?)", [doc_id, key, json.dumps(meta)])
        con.execute("INSERT INTO objects VALUES (?, ?)", [key, modified])
    return con


def select(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    where = compile_query(query)
    sql = ("SELECT d.doc_id FROM documents AS d JOIN objects AS o ON o.key = d.object_key "
           f"WHERE {where.sql} ORDER BY d.doc_id")
    return [row[0] for row in con.execute(sql, where.params).fetchall()]


@pytest.mark.parametrize(("query", "expected"), [
    ("lang eq 'en'", ["a", "b"]),
    ("lang neq 'en'", ["c", "d"]),  # a document without the field is "not equal"
    ("lang eq 'en' and channel neq 'email'", ["a"]),
    ("lang eq 'de' or channel eq 'email'", ["b", "c"]),
    ("(lang eq 'en' or lang eq 'de') and (channel eq 'chat')", ["a", "c"]),
    ("lang eq 'en' and (channel eq 'email' or (score gte 5 and vip eq true))", ["a", "b"]),
    ("not lang eq 'en'", ["c", "d"]),
    ("score gt 3", ["a", "c"]),
    ("score eq 2", ["b"]),
    ("score lte 4.5 and score gte -1e3", ["b", "c"]),
    ("vip eq false", ["b"]),
    ("name eq 'O''Brien'", ["c"]),
    ('name eq "O\'Brien"', ["c"]),
    ("customer.tier eq 'gold'", ["a"]),
    ("name eq null", ["a", "b", "d"]),
    ("name neq null", ["c"]),
    ("object_key eq 'notes/readme.txt'", ["d"]),
    ("last_modified gte '2024-06-01'", ["c", "d"]),
    ("last_modified lt 1714608000", ["a"]),
    ("opened gte '2024-05-02'", ["b", "c"]),  # dates compare as dates, offsets included
    ("opened lt '2024-06-01T11:00:00Z'", ["a", "b", "c"]),
    ("LANG EQ 'en'", []),  # words are case-insensitive, field names are not
    ("lang EQ 'en' AND channel Eq 'chat'", ["a"]),
])
def test_a_query_selects_exactly_the_documents_it_describes(con, query: str, expected: list[str]):
    assert select(con, query) == expected


@pytest.mark.parametrize(("query", "position", "token"), [
    ("lang eq", 8, ""),
    ("lang equals 'en'", 6, "equals"),
    ("lang eq 'en' and", 17, ""),
    ("lang eq 'en", 9, "'en"),
    ("(lang eq 'en'", 14, ""),
    ("lang eq 'en')", 13, ")"),
    ("lang eq 'en' lang eq 'de'", 14, "lang"),
    ("eq eq 'x'", 1, "eq"),
    ("lang eq 2024-05-01", 9, "2024-05-01"),
    ("score gt null", 10, "null"),
    ("last_modified gt 'yesterday'", 18, "yesterday"),
    ("lang = 'en'", 6, "= 'en'"),
    ("", 1, ""),
])
def test_a_bad_query_names_the_offending_token_and_where_it_is(query: str, position: int, token: str):
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert caught.value.position == position, str(caught.value)
    assert caught.value.token.startswith(token), str(caught.value)
    assert "properties-query:" in str(caught.value)


def test_nesting_and_length_are_bounded():
    deep = "(" * (MAX_DEPTH + 2) + "a eq 1" + ")" * (MAX_DEPTH + 2)
    with pytest.raises(QueryError, match="nested deeper"):
        parse(deep)
    with pytest.raises(QueryError, match="nested deeper"):
        parse("not " * (MAX_DEPTH + 2) + "a eq 1")
    with pytest.raises(QueryError, match="longer than"):
        parse("a eq '" + "x" * 3000 + "'")


INJECTIONS = [
    "lang eq 'en''; DROP TABLE documents; --'",
    "lang eq 'x' or 1 eq 1",
    "lang\"; DROP TABLE documents; -- eq 'x'",
    "lang eq 'x') OR (1=1",
    "a.b'c eq 1",
]


@pytest.mark.parametrize("query", INJECTIONS)
def test_an_injection_attempt_is_a_query_error_or_a_plain_value_and_the_tables_stay(con, query: str):
    try:
        chosen = select(con, query)
    except QueryError:
        chosen = None
    assert chosen in (None, [])  # no document has such a value
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == len(DOCS)


SQL_SKELETON = re.compile(r"[A-Za-z_]+|\$q\d+|[().,<>=!]+|\s+|'\$\.?'")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_a_query_or_a_query_error_and_never_becomes_sql(text: str):
    try:
        where = compile_query(text)
    except QueryError:
        return
    # The SQL is made of keywords, aliases and placeholders only: no quote, no literal from the user.
    assert "'" not in where.sql and '"' not in where.sql and ";" not in where.sql
    assert all(SQL_SKELETON.fullmatch(piece) for piece in re.findall(r"\S+", where.sql.replace("(", " ( ")
                                                                      .replace(")", " ) ").replace(",", " , ")))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["lang", "channel", "score", "customer.tier", "x-y"]), min_size=1, max_size=6),
       st.lists(st.text(max_size=12), min_size=6, max_size=6), st.lists(st.sampled_from(["and", "or"]), min_size=5,
                                                                      max_size=5))
def test_well_formed_queries_always_compile_and_run(con, keys, values, joins):
    parts = [f"{k} eq '{v.replace(chr(39), chr(39) * 2)}'" for k, v in zip(keys, values, strict=False)]
    query = parts[0] + "".join(f" {j} {p}" for j, p in zip(joins, parts[1:], strict=False))
    found = select(con, query)  # no exception from DuckDB for any value
    assert found == sorted(set(found)) and set(found) <= ALL_DOCS
    rest = select(con, f"not ({query})")
    assert set(found).isdisjoint(rest) and set(found) | set(rest) == ALL_DOCS, "not (q) selects exactly the others"


@pytest.mark.parametrize(("pair", "message"), [
    ("where=lang eq", "expected a value"),
    ("where=lang eq 'en' ) or (x eq 1", "unbalanced"),
    ("from_date=last tuesday", "from_date is not an ISO 8601 date"),
    ("to_date=2024-13-01", "to_date is not an ISO 8601 date"),
    ("date_field=a b", "date_field"),
])
def test_a_bad_slice_parameter_is_a_config_error_naming_it(pair: str, message: str):
    from tasks.infra.errors import ConfigError
    from tasks.infra.params import parse_param_overrides

    with pytest.raises(ConfigError, match=message):
        parse_param_overrides([pair])


def test_a_bare_to_date_includes_its_whole_day(con):
    from tasks.infra.query import compile_filter, slice_query

    def chosen(**kw) -> list[str]:
        where = compile_filter(slice_query(kw.get("where"), kw.get("from_date"), kw.get("to_date"),
                                           kw.get("date_field", "last_modified")))
        sql = ("SELECT d.doc_id FROM documents AS d JOIN objects AS o ON o.key = d.object_key "
               f"WHERE {where.sql} ORDER BY d.doc_id")
        return [row[0] for row in con.execute(sql, where.params).fetchall()]

    assert chosen(date_field="opened", to_date="2024-05-01") == ["a"]  # 09:00 that day is in
    assert chosen(date_field="opened", to_date="2024-05-01T08:00:00") == []
    assert chosen(date_field="opened", from_date="2024-05-02", to_date="2024-06-30") == ["b", "c"]
    assert chosen(from_date="2024-06-01", where="lang eq 'de' or object_key eq 'notes/readme.txt'") == ["c", "d"]
    assert slice_query(None, None, None, "last_modified") is None
