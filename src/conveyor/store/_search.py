"""What a run search means, for every adapter: the checked form of a ``RunQuery``, and the rules
its conditions and orderings follow, written out in Python (the memory store runs them as they
are; the SQL store translates them), so every adapter finds the same runs in the same order.

Pure: no I/O, no SQLAlchemy. How an adapter executes a checked query is its own business.

The rules:

* ``metrics`` compare the latest point's value (highest step, then newest), with numbers only.
  A NaN value fails every comparison except ``!=`` and ``not in``, as IEEE arithmetic has it.
* ``params`` and ``tags`` are JSON text. A number operand compares with the field's number,
  which only a field holding a JSON number has (not a bool, not NaN); a string operand compares
  with the field's text: the string itself for a JSON string, else the JSON text as logged.
  A run's pipeline parameters are params too.
* ``attributes``: ``run_id``, ``pipeline``, ``status`` and ``user`` are text; ``started_at`` and
  ``finished_at`` are times, given as seconds since the epoch or as ISO 8601 text (UTC unless it
  names a zone). A run still running has no ``finished_at``.
* A run without the field never matches, whatever the operator; otherwise ``!=`` and
  ``not in`` hold exactly when ``=`` and ``in`` do not.
* Text compares by code point. ``like`` patterns take ``%`` (any characters), ``_`` (one
  character) and ``\\`` (the next character as itself), case-sensitively; ``ilike`` ignores
  the case of ASCII letters.
* Orderings put runs without the field last, ascending or descending; a NaN metric sorts after
  every number, and params or tags holding numbers sort before the others, which sort by text.
  Ties, and queries with no ordering, go newest first: ``started_at``, then ``run_id``,
  descending.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from conveyor.core._errors import ConveyorError
from conveyor.store._checks import Tracked, fields, tracking_key
from conveyor.store._tracking_records import (
    ATTRIBUTES,
    Condition,
    FieldKind,
    Operator,
    Ordering,
    RunQuery,
)

KINDS: tuple[str, ...] = ("metrics", "params", "tags", "attributes")
OPERATORS: tuple[str, ...] = ("=", "!=", ">", ">=", "<", "<=", "like", "ilike", "in", "not in")
TIME_ATTRIBUTES: tuple[str, ...] = ("started_at", "finished_at")
LISTS: tuple[str, ...] = ("in", "not in")
PATTERNS: tuple[str, ...] = ("like", "ilike")

Operand = float | str | datetime
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Check:
    """A checked condition: numbers as floats, times as UTC datetimes."""

    kind: FieldKind
    key: str
    op: Operator
    operands: tuple[Operand, ...]  # exactly one, except for in / not in


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    pipelines: tuple[str, ...]
    checks: tuple[Check, ...]
    order_by: tuple[Ordering, ...]
    limit: int
    offset: int
    parent_id: str | None
    top_level_only: bool  # include_children=False; a parent_id asks for children instead


def check_query(query: RunQuery) -> CheckedQuery:
    """``query`` with every condition and ordering checked; ConveyorError names what is wrong."""
    limit = query.max_results
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ConveyorError(f"max_results must be a whole number, got {limit!r}")
    offset = query.offset
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConveyorError(f"offset must be a whole number of at least 0, got {offset!r}")
    pipelines = tuple(query.pipelines)
    if not all(isinstance(p, str) for p in pipelines):
        raise ConveyorError(f"pipelines must be names (strings), got {pipelines!r}")
    if query.parent_id is not None and not isinstance(query.parent_id, str):
        raise ConveyorError(f"parent_id must be a run id or None, got {query.parent_id!r}")
    fields(query)  # the numbers within 64 bits, which is all a SQL store can bind
    return CheckedQuery(
        pipelines=pipelines,
        checks=tuple(_check(c) for c in query.conditions),
        order_by=tuple(_ordering(o) for o in query.order_by),
        limit=max(limit, 0),
        offset=offset,
        parent_id=query.parent_id,
        top_level_only=query.parent_id is None and not query.include_children,
    )


def _field(kind: object, key: object) -> tuple[FieldKind, str]:
    if kind not in KINDS:
        raise ConveyorError(
            f"unknown field kind {kind!r} in a run query: use {', '.join(KINDS)}", kind=repr(kind)
        )
    if kind == "attributes":
        if key not in ATTRIBUTES:
            raise ConveyorError(
                f"unknown attribute {key!r}: a run query can use {', '.join(ATTRIBUTES)}",
                attribute=repr(key),
            )
        return "attributes", str(key)
    checked_kind: FieldKind = kind  # type: ignore[assignment]  # one of KINDS, checked above
    return checked_kind, tracking_key(key, f"{kind[:-1]} key")


def _ordering(ordering: Ordering) -> Ordering:
    kind, key = _field(ordering.kind, ordering.key)
    return Ordering(kind, key, bool(ordering.descending))


def _check(condition: Condition) -> Check:
    kind, key = _field(condition.kind, condition.key)
    op = condition.op
    name = f"{kind}.{key}" if kind != "attributes" else key
    if op not in OPERATORS:
        raise ConveyorError(
            f"unknown operator {op!r} in the condition on {name}: use {', '.join(OPERATORS)}",
            op=repr(op),
        )
    if op in PATTERNS and (kind == "metrics" or key in TIME_ATTRIBUTES):
        raise ConveyorError(f"{name} cannot be compared with {op.upper()}: it is not text")
    value = condition.value
    if op in LISTS:
        if not isinstance(value, tuple | list):
            raise ConveyorError(f"{name} {op.upper()} takes a tuple of values, got {value!r}")
        raw = tuple(value)
    else:
        if isinstance(value, tuple | list):
            raise ConveyorError(f"{name} {op} takes one value, got {value!r}")
        raw = (value,)
    return Check(kind, key, op, tuple(_operand(kind, key, op, name, v) for v in raw))


def _operand(kind: FieldKind, key: str, op: str, name: str, value: object) -> Operand:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number):
            raise ConveyorError(f"{name} {op} NaN matches nothing; compare with a number")
    elif not isinstance(value, str):
        raise ConveyorError(
            f"{name} {op} {value!r}: a condition compares with numbers or strings, "
            f"not {type(value).__name__}"
        )
    if op in PATTERNS and number is not None:
        raise ConveyorError(f"{name} {op.upper()} needs a text pattern, got {value!r}")
    if kind == "metrics":
        if number is None:
            raise ConveyorError(f"metrics compare with numbers: {name} {op} {value!r}")
        return number
    if kind != "attributes":
        return value if number is None else number
    if key in TIME_ATTRIBUTES:
        return _moment(name, value, number)
    if number is not None:
        raise ConveyorError(f"{name} is text: compare it with a string, not {value!r}")
    return value


def _moment(name: str, value: object, number: float | None) -> datetime:
    try:
        if number is not None:
            return datetime.fromtimestamp(number, UTC)
        moment = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        raise ConveyorError(
            f"{name} compares with a time: seconds since the epoch or ISO 8601 text such as "
            f"'2025-01-31T12:00:00', not {value!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- like patterns ----------------------------------------------------------------------------


def like_parts(pattern: str) -> list[tuple[bool, str]]:
    """The pattern as (is_wildcard, character) pairs: ``%`` and ``_`` are wildcards, and a
    backslash makes the next character literal (a trailing backslash is itself)."""
    parts: list[tuple[bool, str]] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append((False, char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append((char in "%_", char))
    if escaped:
        parts.append((False, "\\"))
    return parts


def like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    text = "".join(
        (".*" if char == "%" else ".") if wild else re.escape(char)
        for wild, char in like_parts(pattern)
    )
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if ignore_case else 0)
    return re.compile(text, flags)


# -- the rules, in Python ---------------------------------------------------------------------


def holds(check: Check, value: object) -> bool:
    """Whether a run whose field has ``value`` (None: it has no such field) passes ``check``.

    ``value`` is a float for metrics (NaN included), a ``Tracked`` triple for params and tags,
    and a str or an aware datetime for attributes.
    """
    if value is None:
        return False
    op = check.op
    if op in ("!=", "not in"):
        return not holds(
            Check(check.kind, check.key, "=" if op == "!=" else "in", check.operands), value
        )
    if check.kind in ("params", "tags"):
        tracked: Tracked = value  # type: ignore[assignment]  # params and tags hold Tracked
        _, num, text = tracked
        if op == "in":
            return any(
                (num is not None and num == o) if isinstance(o, float) else text == o
                for o in check.operands
            )
        operand = check.operands[0]
        if isinstance(operand, float):
            return num is not None and _compare(op, num, operand)
        return _compare(op, text, operand)
    if op == "in":
        return any(value == o for o in check.operands)
    return _compare(op, value, check.operands[0])


def _compare(op: str, value: object, operand: object) -> bool:
    if op in PATTERNS:
        regex = like_regex(str(operand), ignore_case=op == "ilike")
        return regex.fullmatch(str(value)) is not None
    left: float = value  # type: ignore[assignment]  # same type as operand: checked queries
    right: float = operand  # type: ignore[assignment]
    if op == "=":
        return left == right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def ordered(
    items: Sequence[T],
    order_by: Sequence[Ordering],
    value_of: Callable[[T, FieldKind, str], object],
    newest: Callable[[T], tuple[datetime, str]],
) -> list[T]:
    """``items`` in the query's order: each ordering in turn, then newest first."""
    result = sorted(items, key=newest, reverse=True)
    for ordering in reversed(order_by):  # stable sorts: the first ordering is applied last

        def rank(item: T, ordering: Ordering = ordering) -> tuple[object, ...]:
            value = value_of(item, ordering.kind, ordering.key)
            return _rank(ordering.kind, value, ordering.descending)

        result.sort(key=rank, reverse=ordering.descending)
    return result


def _rank(kind: FieldKind, value: object, descending: bool) -> tuple[object, ...]:
    """A sort key that, sorted in the ordering's direction, puts the missing last, and NaN
    metrics or non-numeric params just before them."""
    present, odd, missing = (2, 1, 0) if descending else (0, 1, 2)
    if value is None:
        return (missing,)
    if kind == "metrics":
        return (odd,) if math.isnan(value) else (present, value)  # type: ignore[arg-type]
    if kind in ("params", "tags"):
        tracked: Tracked = value  # type: ignore[assignment]
        _, num, text = tracked
        return (odd, text) if num is None else (present, num, text)
    return (present, value)
