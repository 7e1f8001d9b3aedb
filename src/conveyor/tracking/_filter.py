"""Search strings in MLflow's syntax, parsed into the store's query records.

Pure text in, frozen ``Condition``/``Ordering`` records out: no store, no clock. Matching runs
against the conditions is the store's job (``TrackingStore.search_runs``); this module checks that
each condition makes sense (a metric compared with a number, a tag with a string, a known
attribute) so the store only ever sees well-formed queries.

Grammar (keywords, kinds and attribute names are case-insensitive)::

    filter   := clause ("and" clause)*            -- "or" is rejected
    clause   := field op value
              | field ["not"] "in" "(" value ("," value)* ")"
    field    := kind "." key | attribute
    kind     := metrics | metric | m | params | param | p | tags | tag | t
              | attributes | attribute | attr | run
    key      := name ("." name)* | `quoted` | "quoted"
    op       := = | == | != | <> | < | <= | > | >= | like | ilike
    value    := number | 'string' | "string"      -- \\' or '' escapes a quote
    ordering := field ["asc" | "desc"]

Attributes are the run columns in ``ATTRIBUTES``; MLflow's ``start_time``, ``end_time`` and
``id`` name ``started_at``, ``finished_at`` and ``run_id``. Time values reach the store as seconds
since the epoch (UTC), whether written as a number or as an ISO 8601 string; numbers given for
MLflow's ``start_time``/``end_time`` are milliseconds, as in MLflow, and are converted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from conveyor.errors import ConveyorError
from conveyor.store import RUN_STATUSES
from conveyor.store._tracking_records import ATTRIBUTES, Condition, FieldKind, Operator, Ordering

__all__ = ["parse_filter", "parse_order_by"]

_Value = float | str

_KINDS: Mapping[str, FieldKind] = {
    **dict.fromkeys(("metrics", "metric", "m"), "metrics"),
    **dict.fromkeys(("params", "param", "p"), "params"),
    **dict.fromkeys(("tags", "tag", "t"), "tags"),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), "attributes"),
}
_ATTRIBUTE_ALIASES: Mapping[str, str] = {
    "start_time": "started_at",
    "end_time": "finished_at",
    "id": "run_id",
}
_MILLISECOND_ATTRIBUTES = frozenset({"start_time", "end_time"})
_TIME_ATTRIBUTES = frozenset({"started_at", "finished_at"})
_STATUS_ALIASES: Mapping[str, str] = {"finished": "succeeded"}  # MLflow's name for it

_COMPARISONS: tuple[Operator, ...] = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS: tuple[Operator, ...] = ("=", "!=", "like", "ilike", "in", "not in")
_SYMBOLS: Mapping[str, Operator] = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_WORDS: Mapping[str, Operator] = {"like": "like", "ilike": "ilike", "in": "in"}
_OPERATORS_TEXT = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN"
_FIELD_TEXT = f"metrics.<key>, params.<key>, tags.<key> or an attribute ({', '.join(ATTRIBUTES)})"
_QUOTE_HINT = " (keys with spaces, dashes or other symbols need quotes: metrics.`my-key`)"

_TOKENS = re.compile(
    r"""
    (?P<space>\s+)
    |(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    |(?P<backtick>`[^`]*`)
    |(?P<op>==|!=|<>|>=|<=|=|<|>)
    |(?P<punct>[().,])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<open_quote>['"`])
    """,
    re.VERBOSE | re.DOTALL,
)

_TokenKind = Literal["number", "string", "backtick", "op", "punct", "ident", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    text: str
    pos: int
    value: str = ""  # a quoted token's content, unescaped

    @property
    def end(self) -> int:
        return self.pos + len(self.text)


@dataclass(frozen=True, slots=True)
class _Field:
    kind: FieldKind
    key: str
    text: str  # as written, for messages
    milliseconds: bool = False  # MLflow's start_time/end_time count milliseconds


def parse_filter(text: str | None) -> tuple[Condition, ...]:
    """Parse a search filter such as ``"metrics.accuracy > 0.9 and params.model = 'rf'"``.

    Args:
        text: the filter; None, empty or blank means no condition.

    Returns:
        The conditions, all of which a run must meet, in the order written.

    Raises:
        ConveyorError: the filter is malformed; the message shows where and what was expected,
            and ``details`` hold the ``filter`` and the ``position`` (0-based) of the problem.
    """
    if text is None or not text.strip():
        return ()
    return _Parser(text, "filter").conditions()


def parse_order_by(items: Sequence[str]) -> tuple[Ordering, ...]:
    """Parse sort keys such as ``["metrics.accuracy desc", "params.lr", "started_at ASC"]``.

    Each item is a field, as in a filter, and an optional ``asc`` (the default) or ``desc``.

    Raises:
        ConveyorError: an item is malformed; ``details`` hold the ``order_by`` item and the
            ``position`` of the problem.
    """
    if isinstance(items, str):  # a lone string would otherwise be read one character at a time
        items = (items,)
    return tuple(_Parser(item, "order_by").ordering() for item in items)


def _tokenize(source: str, what: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKENS.match(source, pos)
        if match is None:
            raise _error(source, what, pos, f"unexpected character {source[pos]!r}", _QUOTE_HINT)
        kind = match.lastgroup
        text = match.group()
        if kind == "open_quote":
            raise _error(source, what, pos, f"unterminated {text} quote")
        if kind == "string":
            tokens.append(_Token("string", text, pos, _unescape(text)))
        elif kind == "backtick":
            tokens.append(_Token("backtick", text, pos, text[1:-1]))
        elif kind == "number":
            tokens.append(_Token("number", text, pos))
        elif kind == "op":
            tokens.append(_Token("op", text, pos))
        elif kind == "punct":
            tokens.append(_Token("punct", text, pos))
        elif kind == "ident":
            tokens.append(_Token("ident", text, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _unescape(quoted: str) -> str:
    quote, inner = quoted[0], quoted[1:-1]
    # Only the quote and the backslash itself are escapes; other backslashes stay, so LIKE
    # patterns keep theirs (``'50\%'``).
    pattern = re.compile(r"\\([\\" + quote + "])|" + quote * 2)
    return pattern.sub(lambda m: m.group(1) or quote, inner)


def _error(source: str, what: str, pos: int, problem: str, hint: str = "") -> ConveyorError:
    line_start = source.rfind("\n", 0, pos) + 1
    line_end = source.find("\n", pos)
    line = source[line_start : line_end if line_end != -1 else len(source)]
    # Tabs stay tabs under the caret, so it lines up however the terminal renders them.
    pad = "".join("\t" if c == "\t" else " " for c in line[: pos - line_start])
    label = "filter" if what == "filter" else "order_by item"
    where = f"at the end (position {pos})" if pos == len(source) else f"at position {pos}"
    message = f"invalid {label}: {problem} {where}{hint}\n    {line}\n    {pad}^"
    return ConveyorError(message, **{what: source, "position": pos})


class _Parser:
    """Recursive descent over the tokens of one filter or one order_by item."""

    def __init__(self, source: str, what: str) -> None:
        self._source = source
        self._what = what
        self._tokens = _tokenize(source, what)
        self._i = 0
        self._last_clause = ""  # for "expected 'and' after <clause>"

    # -- entry points ---------------------------------------------------------------------------

    def conditions(self) -> tuple[Condition, ...]:
        conditions = [self._clause()]
        while (token := self._peek()).kind != "end":
            if _is_word(token, "and"):
                self._i += 1
                conditions.append(self._clause())
            elif _is_word(token, "or"):
                problem = "'or' is not supported: conditions can only be joined with 'and'"
                raise self._fail(token, problem + " (run one search per alternative)")
            else:
                raise self._fail(token, f"expected 'and' or the end after {self._last_clause!r}")
        return tuple(conditions)

    def ordering(self) -> Ordering:
        field = self._field()
        descending = False
        token = self._peek()
        if _is_word(token, "asc") or _is_word(token, "desc"):
            descending = token.text.lower() == "desc"
            self._i += 1
            token = self._peek()
        if token.kind != "end":
            raise self._fail(token, f"expected ASC, DESC or the end after {field.text!r}")
        return Ordering(field.kind, field.key, descending)

    # -- grammar --------------------------------------------------------------------------------

    def _clause(self) -> Condition:
        start = self._peek().pos
        field = self._field()
        op_token = self._peek()
        op = self._operator(field)
        self._check_operator(field, op, op_token)
        value: _Value | tuple[_Value, ...]
        if op in ("in", "not in"):
            value = tuple(self._checked(field, op, token, v) for token, v in self._values(op))
        else:
            token = self._next()
            value = self._checked(field, op, token, self._literal(token, field, op))
        self._last_clause = self._source[start : self._tokens[self._i - 1].end]
        return Condition(field.kind, field.key, op, value)

    def _field(self) -> _Field:
        token = self._next()
        if _is_punct(token, "("):
            raise self._fail(token, "parentheses are not supported: join conditions with 'and'")
        if token.kind != "ident":
            raise self._fail(token, f"expected a field: {_FIELD_TEXT}")
        if _is_punct(self._peek(), "."):
            kind = _KINDS.get(token.text.lower())
            if kind is None:
                problem = (
                    f"unknown kind {token.text!r}: expected metrics, params, tags or attributes"
                )
                raise self._fail(token, problem)
            self._i += 1
            key_token, key = self._key(token.text)
        else:
            kind, key_token, key = "attributes", token, token.text
        text = self._source[token.pos : self._tokens[self._i - 1].end]
        if kind != "attributes":
            return _Field(kind, key, text)
        written = key.lower()
        name = _ATTRIBUTE_ALIASES.get(written, written)
        if name not in ATTRIBUTES:
            problem = f"unknown attribute {key!r}: expected {_FIELD_TEXT}"
            raise self._fail(key_token, problem)
        return _Field("attributes", name, text, milliseconds=written in _MILLISECOND_ATTRIBUTES)

    def _key(self, kind: str) -> tuple[_Token, str]:
        token = self._next()
        if token.kind in ("string", "backtick"):
            if not token.value:
                raise self._fail(token, "empty key")
            return token, token.value
        if token.kind != "ident":
            raise self._fail(token, f"expected a key after '{kind}.'", _QUOTE_HINT)
        # An unquoted dotted key (metrics.val.loss) reads as one key; MLflow needs it quoted.
        parts = [token.text]
        end = token.end
        while (
            _is_punct(dot := self._peek(), ".")
            and dot.pos == end
            and (name := self._tokens[self._i + 1]).kind == "ident"
            and name.pos == dot.end
        ):
            parts.append(name.text)
            end = name.end
            self._i += 2
        return token, ".".join(parts)

    def _operator(self, field: _Field) -> Operator:
        token = self._next()
        if token.kind == "op":
            return _SYMBOLS[token.text]
        if token.kind == "ident":
            word = token.text.lower()
            if word in _WORDS:
                return _WORDS[word]
            if word == "not":
                if _is_word(self._peek(), "in"):
                    self._i += 1
                    return "not in"
                raise self._fail(self._peek(), "expected IN after NOT (only NOT IN is supported)")
        hint = _QUOTE_HINT if token.kind in ("ident", "number", "punct") else ""
        problem = f"expected an operator ({_OPERATORS_TEXT}) after {field.text!r}"
        raise self._fail(token, problem, hint)

    def _values(self, op: Operator) -> list[tuple[_Token, _Value]]:
        keyword = op.upper()
        opening = self._next()
        if not _is_punct(opening, "("):
            raise self._fail(opening, f"expected '(' after {keyword}")
        values: list[tuple[_Token, _Value]] = []
        while True:
            token = self._next()
            values.append((token, self._literal(token, None, op)))
            separator = self._next()
            if _is_punct(separator, ")"):
                return values
            if not _is_punct(separator, ","):
                raise self._fail(separator, f"expected ',' or ')' in the {keyword} list")

    def _literal(self, token: _Token, field: _Field | None, op: Operator) -> _Value:
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return token.value
        after = f" after '{field.text} {op.upper()}'" if field is not None else ""
        if token.kind == "backtick":
            problem = "backticks quote keys; quote values with ' or \"" + after
        elif token.kind == "ident":
            problem = f"expected a value{after}: a number, or text in quotes ('{token.text}')"
        else:
            problem = f"expected a value{after}: a number or a quoted string"
        raise self._fail(token, problem)

    # -- checks ---------------------------------------------------------------------------------

    def _check_operator(self, field: _Field, op: Operator, token: _Token) -> None:
        if field.kind == "params":
            return
        if field.kind == "metrics" or field.key in _TIME_ATTRIBUTES:
            allowed = _COMPARISONS
        else:
            allowed = _TEXT_OPS
        if op not in allowed:
            what = "metrics" if field.kind == "metrics" else repr(field.text)
            listed = ", ".join(o.upper() for o in allowed)
            raise self._fail(token, f"{what} can be compared with {listed}, not {op.upper()}")

    def _checked(self, field: _Field, op: Operator, token: _Token, value: _Value) -> _Value:
        """The value the store compares: checked against the field, times as epoch seconds."""
        if field.kind == "metrics":
            if isinstance(value, str):
                raise self._fail(token, f"metrics compare with numbers, not text ({token.text})")
            return value
        if field.kind == "params":
            if op in ("like", "ilike") and not isinstance(value, str):
                raise self._fail(
                    token, f"{op.upper()} needs a quoted pattern, such as '%{value:g}%'"
                )
            return value
        if field.key in _TIME_ATTRIBUTES:
            return self._seconds(field, token, value)
        if not isinstance(value, str):
            kind = "tag values" if field.kind == "tags" else f"{field.key} values"
            raise self._fail(token, f"{kind} are text: write '{token.text}'")
        if field.key == "status" and op not in ("like", "ilike"):
            status = _STATUS_ALIASES.get(value.lower(), value.lower())
            if status not in RUN_STATUSES:
                listed = ", ".join(RUN_STATUSES)
                raise self._fail(token, f"unknown status {value!r}: expected one of {listed}")
            return status
        return value

    def _seconds(self, field: _Field, token: _Token, value: _Value) -> float:
        if isinstance(value, float):
            return value / 1000 if field.milliseconds else value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            problem = (
                f"{field.text} compares with a time: seconds since the epoch or an ISO 8601 "
                f"date such as '2025-01-31T12:00:00', not {token.text}"
            )
            raise self._fail(token, problem) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    # -- tokens ---------------------------------------------------------------------------------

    def _peek(self) -> _Token:
        return self._tokens[self._i]

    def _next(self) -> _Token:
        token = self._tokens[self._i]
        if token.kind != "end":
            self._i += 1
        return token

    def _fail(self, token: _Token, problem: str, hint: str = "") -> ConveyorError:
        return _error(self._source, self._what, token.pos, problem, hint)


def _is_word(token: _Token, word: str) -> bool:
    return token.kind == "ident" and token.text.lower() == word


def _is_punct(token: _Token, char: str) -> bool:
    return token.kind == "punct" and token.text == char
