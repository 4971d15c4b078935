"""``properties-query``: a small filter language over document metadata, compiled to parameterised SQL.

The grammar (OneAI's, with the comparisons a date or a number needs)::

    query      := or
    or         := and ("or" and)*
    and        := primary ("and" primary)*
    primary    := "(" query ")" | "not" primary | comparison
    comparison := key op value
    op         := eq | neq | gt | gte | lt | lte
    key        := a name: letters, digits, "_", "-", "." (a dot walks into nested objects)
    value      := 'single quoted' | "double quoted" | number | true | false | null

Keys are a document's metadata fields (its JSON record's or CSV row's other fields), plus ``object_key`` and
``last_modified`` (the object's). Words are case-insensitive; a quote inside a string is doubled (``'O''Brien'``).

`compile_filter` turns a parsed query into a SQL condition over the aliases ``d`` (documents) and ``o``
(objects). The SQL text is built only from this module's own constants and ``$qN`` placeholders: every key and
every value the user wrote travels as a parameter, never as SQL. A query that does not parse raises `QueryError`
with the offending token and its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Longest query accepted (a filter, not a program).
MAX_QUERY_CHARS = 2000
#: Deepest nesting of parentheses and ``not`` accepted.
MAX_DEPTH = 32
OPERATORS = {"eq": "=", "neq": "IS DISTINCT FROM", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
KEYWORDS = {"and", "or", "not", "true", "false", "null", *OPERATORS}
#: Keys that name a column instead of a metadata field.
COLUMN_KEYS = ("object_key", "last_modified")
#: Where the compiled SQL finds each column: the catalog's documents (d) and objects (o) tables by default; a
#: reader of the published ``items.parquet`` passes its own (`compile_filter`'s ``columns``).
CATALOG_COLUMNS = {"metadata": "d.metadata", "object_key": "d.object_key", "last_modified": "o.last_modified"}
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.\-]))
      | (?P<word>[A-Za-z_][\w.\-]*)""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """A query that does not parse: the message names the offending token and where it is (from 1)."""

    def __init__(self, message: str, position: int, token: str = "") -> None:
        self.position = position
        self.token = token
        where = f" at character {position}" + (f" ({token!r})" if token else "")
        super().__init__(f"properties-query: {message}{where}")


@dataclass(frozen=True)
class Token:
    kind: str  # lparen, rparen, string, number, word, end
    text: str
    position: int  # 1-based
    value: Any = None


@dataclass(frozen=True)
class Comparison:
    key: str
    op: str
    value: str | float | bool | None
    position: int = 0  # of the value, for errors found while compiling


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]


Node = Comparison | Not | Junction


def tokenize(text: str) -> list[Token]:
    """The query's tokens, ending with an ``end`` token."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS + 1)
    tokens = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            bad = text[at]
            hint = ("an unclosed quote" if bad in "'\"" else
                    "a malformed number (quote dates and other text: '2024-05-01')" if bad.isdigit() or bad in "+-."
                    else "a character the language does not use")
            raise QueryError(hint, at + 1, text[at : at + 12])
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "string":
            tokens.append(Token("string", raw, at + 1, raw[1:-1].replace(raw[0] * 2, raw[0])))
        elif kind == "number":
            tokens.append(Token("number", raw, at + 1, float(raw)))
        elif kind != "space":
            tokens.append(Token(kind, raw, at + 1))
        at = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def query(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise QueryError(f"nested deeper than {MAX_DEPTH}", self.peek().position, self.peek().text)
        return self.junction("or", depth)

    def junction(self, op: str, depth: int) -> Node:
        operands = [self.junction("and", depth) if op == "or" else self.primary(depth)]
        while self.word(op):
            self.take()
            operands.append(self.junction("and", depth) if op == "or" else self.primary(depth))
        return operands[0] if len(operands) == 1 else Junction(op, tuple(operands))

    def primary(self, depth: int) -> Node:
        token = self.peek()
        if token.kind == "lparen":
            self.take()
            node = self.query(depth + 1)
            closing = self.take()
            if closing.kind != "rparen":
                raise QueryError("expected ')'", closing.position, closing.text)
            return node
        if self.word("not"):
            self.take()
            if depth + 1 > MAX_DEPTH:
                raise QueryError(f"nested deeper than {MAX_DEPTH}", token.position, token.text)
            return Not(self.primary(depth + 1))
        return self.comparison()

    def comparison(self) -> Comparison:
        key = self.take()
        if key.kind != "word" or key.text.lower() in KEYWORDS:
            raise QueryError("expected a field name", key.position, key.text)
        op = self.take()
        if op.kind != "word" or op.text.lower() not in OPERATORS:
            raise QueryError(f"expected an operator ({', '.join(OPERATORS)})", op.position, op.text)
        value = self.take()
        literal: str | float | bool | None
        if value.kind in ("string", "number"):
            literal = value.value
        elif value.kind == "word" and value.text.lower() in ("true", "false"):
            literal = value.text.lower() == "true"
        elif value.kind == "word" and value.text.lower() == "null":
            literal = None
        else:
            raise QueryError("expected a value: a quoted string, a number, true, false or null", value.position,
                             value.text)
        if literal is None and op.text.lower() not in ("eq", "neq"):
            raise QueryError("null compares only with eq or neq", value.position, value.text)
        return Comparison(key.text, op.text.lower(), literal, value.position)


def parse(text: str) -> Node:
    """The query's syntax tree; `QueryError` when it does not parse."""
    tokens = tokenize(text)
    if tokens[0].kind == "end":
        raise QueryError("the query is empty", 1)
    parser = _Parser(tokens)
    node = parser.query(0)
    rest = parser.peek()
    if rest.kind != "end":
        expected = "'and', 'or' or the end" if rest.kind != "rparen" else "the end (unbalanced ')')"
        raise QueryError(f"expected {expected}", rest.position, rest.text)
    return node


@dataclass(frozen=True)
class SqlFilter:
    """A SQL condition over ``d`` (documents) and ``o`` (objects) and the parameters its ``$qN`` name."""

    sql: str
    params: dict[str, Any]


def json_path(key: str) -> str:
    """The JSON path of a metadata key (a dot walks into nested objects)."""
    return "$" + "".join(f'."{part}"' for part in key.split("."))


class _Compiler:
    def __init__(self, columns: dict[str, str]) -> None:
        self.params: dict[str, Any] = {}
        self.columns = columns

    def param(self, value: Any) -> str:
        name = f"q{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def node(self, node: Node) -> str:
        if isinstance(node, Junction):
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(self.node(n) for n in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT coalesce({self.node(node.operand)}, FALSE))"
        return self.comparison(node)

    def comparison(self, c: Comparison) -> str:
        op = OPERATORS[c.op]
        if c.key in COLUMN_KEYS:
            if c.key == "last_modified":
                return self.timestamp(op, c)
            return f"({self.columns['object_key']} {op} {self.param(text_of(c.value))})"
        field = f"json_extract_string({self.columns['metadata']}, {self.param(json_path(c.key))})"
        if c.value is None:
            return f"({field} IS NULL)" if c.op == "eq" else f"({field} IS NOT NULL)"
        if isinstance(c.value, bool):
            return f"(lower({field}) {op} {self.param(text_of(c.value))})"
        if isinstance(c.value, float):
            return f"(TRY_CAST({field} AS DOUBLE) {op} {self.param(c.value)})"
        if c.op in ("eq", "neq"):
            return f"({field} {op} {self.param(c.value)})"
        moment = as_timestamp(c.value)
        if moment is not None:  # a date compares as a date ('2024-05-01' < '2024-05-01T10:00')
            return f"(TRY_CAST({field} AS TIMESTAMPTZ) {op} {self.param(moment)})"
        return f"({field} {op} {self.param(c.value)})"

    def timestamp(self, op: str, c: Comparison) -> str:
        epoch = self.columns["last_modified"]
        column = f"to_timestamp({epoch})"
        if c.value is None:
            return f"({column} IS NULL)" if c.op == "eq" else f"({column} IS NOT NULL)"
        if isinstance(c.value, float):
            return f"({epoch} {op} {self.param(c.value)})"
        moment = as_timestamp(c.value) if isinstance(c.value, str) else None
        if moment is None:
            raise QueryError("last_modified compares with a date ('2024-05-01', ISO 8601) or epoch seconds",
                             c.position, str(c.value))
        return f"({column} {op} {self.param(moment)})"


def text_of(value: str | float | bool | None) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return value


def as_timestamp(text: str) -> datetime | None:
    """An ISO 8601 date or date-time (naive ones are UTC), or None when ``text`` is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compile_filter(node: Node, columns: dict[str, str] | None = None) -> SqlFilter:
    """The SQL condition of a parsed query (TRUE for a document the query selects). ``columns`` names the SQL
    expressions of ``metadata`` (JSON text), ``object_key`` and ``last_modified`` (epoch seconds); default: the
    catalog's (`CATALOG_COLUMNS`). They are this program's constants, never user text."""
    compiler = _Compiler(columns or CATALOG_COLUMNS)
    return SqlFilter(f"coalesce({compiler.node(node)}, FALSE)", compiler.params)


def compile_query(text: str, columns: dict[str, str] | None = None) -> SqlFilter:
    """Parse and compile in one step."""
    return compile_filter(parse(text), columns)


KEY_PATTERN = r"^[A-Za-z_][\w.\-]*$"


def date_bound(text: str, name: str) -> datetime:
    """A ``from_date``/``to_date`` value as a moment; `QueryError` naming the parameter when it is not a date."""
    moment = as_timestamp(text)
    if moment is None:
        raise QueryError(f"{name} is not an ISO 8601 date or date-time ('2024-05-01', '2024-05-01T09:30:00Z')", 1,
                         text[:40])
    return moment


def slice_query(where: str | None, from_date: str | None, to_date: str | None, date_field: str) -> Node | None:
    """The documents a run clusters: its ``where`` query and its date range on ``date_field``, joined by
    ``and`` (None: every document). A ``to_date`` given as a bare date includes that whole day."""
    parts: list[Node] = [parse(where)] if where else []
    if not re.fullmatch(KEY_PATTERN, date_field):
        raise QueryError("date_field is not a field name", 1, date_field[:40])
    if from_date:
        parts.append(Comparison(date_field, "gte", date_bound(from_date, "from_date").isoformat()))
    if to_date:
        end = date_bound(to_date, "to_date")
        whole_day = len(to_date.strip()) == 10  # YYYY-MM-DD
        op = "lt" if whole_day else "lte"
        parts.append(Comparison(date_field, op, (end + timedelta(days=1) if whole_day else end).isoformat()))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))
