"""A checked run query (``store._search``) as one SELECT of run rows, on SQLite and PostgreSQL.

Each condition on a metric, param or tag is ``runs.id IN (SELECT run_id FROM <table> WHERE
key = … AND <test>)``, which the (key, value) and (key, num) indexes answer; each ordering is a
LEFT OUTER JOIN on (run_id, key). The rules themselves are ``store._search``'s; this module
only has to give the same answers:

* a NULL metric value is NaN, so positive tests guard against NULL and ``!=`` / ``not in``
  are their negations, which NaN then passes, as in Python;
* text compares by code point: PostgreSQL is told ``COLLATE "C"`` where order matters, and
  SQLite's default BINARY collation already is;
* SQLite's LIKE ignores ASCII case, so a case-sensitive ``like`` becomes a GLOB there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, not_, or_, select, true
from sqlalchemy.sql.expression import FromClause

from conveyor.store._search import Check, CheckedQuery, like_parts
from conveyor.store._tracking_records import Ordering
from conveyor.store.sql import _rows
from conveyor.store.sql._tables import latest_metrics, params, runs, tags

_TABLES = {"metrics": latest_metrics, "params": params, "tags": tags}
_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.id,
    "pipeline": runs.c.pipeline,
    "status": runs.c.status,
    "started_at": runs.c.started_at,
    "finished_at": runs.c.finished_at,
    "user": runs.c.user,
}
_NEGATED = {"!=": "=", "not in": "in"}


def search_statement(
    query: CheckedQuery, dialect: str, columns: Sequence[Any] = _rows.RUN_COLUMNS
) -> Select[Any]:
    where: list[ColumnElement[bool]] = []
    if query.pipelines:
        where.append(runs.c.pipeline.in_(query.pipelines))
    if query.parent_id is not None:
        where.append(runs.c.parent_id == query.parent_id)
    elif query.top_level_only:
        where.append(runs.c.parent_id.is_(None))
    where.extend(_condition(check, dialect) for check in query.checks)
    source: FromClause = runs
    order: list[Any] = []
    for position, ordering in enumerate(query.order_by):
        source = _order(ordering, position, source, order, dialect)
    order += [runs.c.started_at.desc(), bytewise(runs.c.id, dialect).desc()]
    statement = select(*columns).select_from(source).where(*where).order_by(*order)
    return statement.limit(query.limit).offset(query.offset or None)


def bytewise(column: Any, dialect: str) -> Any:
    """``column`` compared and sorted by code point (UTF-8 bytes) on every backend."""
    return column.collate("C") if dialect == "postgresql" else column


# -- conditions -------------------------------------------------------------------------------


def _condition(check: Check, dialect: str) -> ColumnElement[bool]:
    positive = check.op not in _NEGATED
    op = check.op if positive else _NEGATED[check.op]
    if check.kind == "attributes":
        column = _ATTRIBUTE_COLUMNS[check.key]
        found = _compare(op, column, check.operands, dialect)
        # A run without the field (finished_at while running) fails every check, negated or not.
        return found if positive else and_(column.is_not(None), not_(found))
    table = _TABLES[check.kind]
    if check.kind == "metrics":
        found = _guarded(op, table.c.value, check.operands, dialect)
    else:
        found = _tracked(op, table.c.num, table.c.text, check.operands, dialect)
    matching = select(table.c.run_id).where(
        table.c.key == check.key, found if positive else not_(found)
    )
    return runs.c.id.in_(matching)


def _tracked(
    op: str, num: Any, text: Any, operands: tuple[Any, ...], dialect: str
) -> ColumnElement[bool]:
    """A param or tag test: numbers against ``num``, strings against ``text``; never NULL."""
    if op == "in":
        numbers = [o for o in operands if isinstance(o, float)]
        strings = [o for o in operands if isinstance(o, str)]
        parts = []
        if numbers:
            parts.append(_guarded("in", num, tuple(numbers), dialect))
        if strings:
            parts.append(text.in_(strings))
        return or_(false(), *parts)
    if isinstance(operands[0], float):
        return _guarded(op, num, operands, dialect)
    return _compare(op, text, operands, dialect)


def _guarded(op: str, column: Any, operands: tuple[Any, ...], dialect: str) -> ColumnElement[bool]:
    """A test that is false, never NULL, where ``column`` is NULL, so its negation holds there."""
    return and_(column.is_not(None), _compare(op, column, operands, dialect))


def _compare(op: str, column: Any, operands: tuple[Any, ...], dialect: str) -> ColumnElement[bool]:
    if op == "in":
        return column.in_(list(operands)) if operands else false()
    operand = operands[0]
    if op == "=":
        return column == operand  # type: ignore[no-any-return]
    if op in ("like", "ilike"):
        return _like(column, operand, op == "ilike", dialect)
    if isinstance(operand, str):
        column = bytewise(column, dialect)
    if op == ">":
        return column > operand  # type: ignore[no-any-return]
    if op == ">=":
        return column >= operand  # type: ignore[no-any-return]
    if op == "<":
        return column < operand  # type: ignore[no-any-return]
    if op == "<=":
        return column <= operand  # type: ignore[no-any-return]
    return true()  # unreachable: _search.check_query admits only the operators above


def _like(column: Any, pattern: str, ignore_case: bool, dialect: str) -> ColumnElement[bool]:
    parts = like_parts(pattern)
    if dialect == "sqlite" and not ignore_case:
        glob = "".join(
            ("*" if char == "%" else "?") if wild else (f"[{char}]" if char in "*?[" else char)
            for wild, char in parts
        )
        return column.op("GLOB")(glob)  # type: ignore[no-any-return]
    escaped = "".join(
        char if wild else ("\\" + char if char in "%_\\" else char) for wild, char in parts
    )
    if ignore_case and dialect == "postgresql":
        return column.ilike(escaped, escape="\\")  # type: ignore[no-any-return]
    return column.like(escaped, escape="\\")  # type: ignore[no-any-return]  # SQLite: ASCII case


# -- orderings --------------------------------------------------------------------------------


def _order(
    ordering: Ordering, position: int, source: FromClause, order: list[Any], dialect: str
) -> FromClause:
    """Append the sort keys of ``ordering`` to ``order``; the source with its join, if any."""
    descending = ordering.descending

    def direction(column: Any) -> Any:
        return column.desc() if descending else column.asc()

    if ordering.kind == "attributes":
        column = _ATTRIBUTE_COLUMNS[ordering.key]
        if ordering.key in ("started_at", "finished_at"):
            order += [column.is_(None), direction(column)]
        else:
            order.append(direction(bytewise(column, dialect)))
        return source
    joined = _TABLES[ordering.kind].alias(f"order_{position}")
    source = source.outerjoin(
        joined, and_(joined.c.run_id == runs.c.id, joined.c.key == ordering.key)
    )
    order.append(joined.c.run_id.is_(None))  # runs without the field last, either way
    if ordering.kind == "metrics":
        order += [joined.c.value.is_(None), direction(joined.c.value)]  # NaN after numbers
    else:
        order += [
            joined.c.num.is_(None),  # numbers before other values
            direction(joined.c.num),
            direction(bytewise(joined.c.text, dialect)),
        ]
    return source
