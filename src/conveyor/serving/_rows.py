"""Rows of a request, whatever protocol sent them, and their check against a model's signature.

Every protocol turns its body into ``Rows`` (column names, or none for positional values, and
one list of values per row); ``conform`` checks them against the served version's signature
and puts the columns in the signature's order. The checks are plain Python over the values, as
a request holds a few rows and building a DataFrame per request would cost more than the
check. Errors name the field of the body (``records[2].age``) so a client can find it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from conveyor.serving._errors import ClientError

ABSENT: Final = object()  # a column a record does not have (``None`` is an explicit null)
_MAX_PROBLEMS: Final = 20

_ACCEPTED: Final[Mapping[str, tuple[type, ...]]] = {
    "float": (float, int),
    "integer": (int,),
    "boolean": (bool,),
    "string": (str,),
    "category": (str,),
    "datetime": (str,),
}
_JSON_NAMES: Final[Mapping[type, str]] = {
    float: "number",
    int: "integer",
    bool: "boolean",
    str: "string",
    list: "array",
    dict: "object",
}


@dataclass(frozen=True, slots=True)
class Rows:
    """Values of a request: ``rows[i][j]`` belongs to ``columns[j]`` (None: by position)."""

    columns: tuple[str, ...] | None
    rows: list[list[Any]]
    field: str  # where the rows are in the body, for error messages: "records", "data"...
    keyed: bool = False  # rows were objects: a value is ``field[row].column``
    cells: tuple[str, ...] | None = None  # per column, where its values are (column-wise bodies)

    def __len__(self) -> int:
        return len(self.rows)

    def cell(self, row: int, column: int) -> str:
        """How to point at one value in the body."""
        if self.cells is not None:
            return f"{self.cells[column]}[{row}]"
        if self.keyed and self.columns is not None:
            return f"{self.field}[{row}].{self.columns[column]}"
        return f"{self.field}[{row}][{column}]"


def from_records(records: object, field: str) -> Rows:
    """Rows from a list of objects, columns in the order they first appear."""
    if not isinstance(records, list) or not records:
        raise invalid(field, f"'{field}' must be a non-empty list of objects")
    columns: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise invalid(f"{field}[{i}]", f"{field}[{i}] must be an object of column → value")
        columns.update(dict.fromkeys(record))
    names = tuple(columns)
    return Rows(names, [[r.get(c, ABSENT) for c in names] for r in records], field, keyed=True)


def from_table(columns: object, data: object, field: str = "data") -> Rows:
    """Rows from ``columns`` (None: positional) and a list of value lists."""
    names = None if columns is None else column_names(columns, "columns")
    if not isinstance(data, list) or not data:
        raise invalid(field, f"'{field}' must be a non-empty list of rows")
    width = len(names) if names is not None else None
    for i, row in enumerate(data):
        if not isinstance(row, list):
            raise invalid(f"{field}[{i}]", f"{field}[{i}] must be a list of values")
        if width is None:
            width = len(row)
        if len(row) != width:
            what = f"{len(names)} columns" if names is not None else f"{width} values like row 0"
            raise invalid(f"{field}[{i}]", f"{field}[{i}] has {len(row)} values, expected {what}")
    return Rows(names, data, field)


def column_names(columns: object, field: str) -> tuple[str, ...]:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise invalid(field, f"'{field}' must be a list of column names (strings)")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise invalid(field, f"'{field}' names {', '.join(map(repr, duplicated))} twice")
    return tuple(columns)


def only_fields(obj: Mapping[str, object], allowed: Iterable[str], where: str = "") -> None:
    """A 400 naming every field of ``obj`` (found at ``where``; "" for the body) that is not
    one of ``allowed``."""
    known = set(allowed)
    unknown = sorted(k for k in obj if k not in known)
    if unknown:
        prefix = f"{where}." if where else ""
        names = ", ".join(repr(prefix + k) for k in unknown)
        raise invalid(
            prefix + unknown[0], f"unknown field(s) {names}; expected {', '.join(sorted(known))}"
        )


def invalid(field: str, message: str, **details: object) -> ClientError:
    return ClientError(400, "InvalidRequest", message, field=field, **details)


def conform(rows: Rows, signature: Mapping[str, Any]) -> Rows:
    """``rows`` with the signature's columns in its order, or a 422 naming every problem.

    A version registered without reference data has no signature: its rows pass unchecked.
    """
    inputs = signature.get("inputs")
    if not inputs:
        return rows
    names = tuple(str(i["name"]) for i in inputs)
    if rows.columns is None:
        if len(rows.rows[0]) != len(names):
            raise ClientError(
                422,
                "SignatureMismatch",
                f"{rows.field}[0] has {len(rows.rows[0])} values; the model takes "
                f"{len(names)}: {_listed(names)}",
                field=rows.field,
                expected=list(names),
            )
        rows = dataclasses.replace(rows, columns=names)
    elif rows.columns != names:
        rows = _reordered(rows, names)
    problems = list(_value_problems(rows, inputs))
    if problems:
        shown = "; ".join(p["message"] for p in problems[:3])
        more = ""
        if len(problems) >= _MAX_PROBLEMS:
            more = f" (and more: the first {_MAX_PROBLEMS} are in details)"
        elif len(problems) > 3:
            more = f" (and {len(problems) - 3} more)"
        raise ClientError(
            422,
            "SignatureMismatch",
            f"input does not fit the model: {shown}{more}",
            problems=problems[:_MAX_PROBLEMS],
        )
    return rows


def _reordered(rows: Rows, names: tuple[str, ...]) -> Rows:
    assert rows.columns is not None
    given = set(rows.columns)
    missing = [n for n in names if n not in given]
    extra = [c for c in rows.columns if c not in set(names)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {_listed(missing)}")
        if extra:
            parts.append(f"column(s) not in the signature {_listed(extra)}")
        raise ClientError(
            422,
            "SignatureMismatch",
            f"{rows.field}: {' and '.join(parts)}; the model takes {_listed(names)}",
            field=rows.field,
            missing=missing,
            unexpected=extra,
        )
    position = {c: i for i, c in enumerate(rows.columns)}
    order = [position[n] for n in names]
    cells = None if rows.cells is None else tuple(rows.cells[i] for i in order)
    reordered = [[row[i] for i in order] for row in rows.rows]
    return dataclasses.replace(rows, columns=names, rows=reordered, cells=cells)


def _value_problems(rows: Rows, inputs: Sequence[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    found = 0
    for j, spec in enumerate(inputs):
        accepted = _ACCEPTED.get(str(spec["type"]))
        nullable = bool(spec.get("nullable", False))
        for i, row in enumerate(rows.rows):
            value = row[j]
            problem = _problem(value, accepted, nullable, str(spec["type"]))
            if problem is None:
                continue
            field = rows.cell(i, j)
            yield {
                "field": field,
                "column": spec["name"],
                "expected": spec["type"],
                "value": None if value is ABSENT else value,
                "message": f"{field}: {problem}",
            }
            found += 1
            if found >= _MAX_PROBLEMS:
                return


def _problem(
    value: object, accepted: tuple[type, ...] | None, nullable: bool, kind: str
) -> str | None:
    if value is ABSENT:
        return "missing (every record needs every column)"
    if value is None or (type(value) is float and math.isnan(value)):
        return None if nullable else f"expected {kind}, found a missing value (null or NaN)"
    if accepted is None or type(value) in accepted:
        return None
    if kind == "integer" and type(value) is float and value.is_integer():
        return None
    found = _JSON_NAMES.get(type(value), type(value).__name__)
    return f"expected {kind}, found {found} {value!r:.40}"


def _listed(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:12])
    return shown + (f" … ({len(names)} in all)" if len(names) > 12 else "")
