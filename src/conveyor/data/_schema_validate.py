"""``Schema.validate``: every check compiled into one polars query, then a second look at failures.

Checks on a column as a whole (missing, unexpected, dtype) compare the frame's schema and read
no rows. Row checks are compiled to scalar *measures* (null counts, in-range counts, distinct
counts ...) evaluated together in one ``select``: one pass per column, in parallel, the same
work a hand-written polars query does. From the measures each check gets an upper bound of its
failing rows; a check whose bound is 0 passed. Only checks with a positive bound are evaluated
again, in a second ``select``, for their exact count and a few failing values. The bound is
exact for most checks; where one pass cannot tell a NaN from an out-of-range value, the second
query does.

Nulls, and NaN in float columns, fail only ``nullable=False``: every value check skips them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from conveyor.core._errors import ConveyorError
from conveyor.data._schema import Column, Schema, value_family
from conveyor.data._schema_dtypes import FLOATS, INTEGERS, dtype_name, family, time_zone
from conveyor.data._schema_report import CheckFailure, ValidationReport, show

if TYPE_CHECKING:
    import polars as pl

Measures = Mapping[str, int]
ROWS = "rows"  # the one measure every check may read, taken from the frame itself


@dataclass(frozen=True, slots=True)
class _RowCheck:
    """A row check, compiled. ``bound`` reads the phase-1 measures."""

    column: str
    check: str
    description: str
    bound: Callable[[Measures], int]
    exact: pl.Expr | None  # the exact failing count where ``bound`` may count too many
    examples: pl.Expr | None  # failing values, or None where there are none to show


Entry = CheckFailure | _RowCheck


def validate(schema: Schema, data: object, *, lazy: bool, examples: int) -> ValidationReport:
    import polars as pl

    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise ConveyorError(f"examples must be a whole number >= 0, got {examples!r}")
    frame = as_polars(data)
    entries, measures = _compile(schema, frame)
    checks = count_checks(schema)
    values: dict[str, int] = {ROWS: frame.height}
    if measures:
        try:
            row = frame.select([expr.alias(key) for key, expr in measures.items()]).row(0)
        except pl.exceptions.PolarsError as exc:
            raise _polars_error(schema, exc) from exc
        values.update({key: int(v or 0) for key, v in zip(measures, row, strict=True)})
    failures: list[CheckFailure] = []
    if lazy:
        suspects = [e for e in entries if isinstance(e, _RowCheck) and e.bound(values) > 0]
        found = _second_look(frame, suspects, values, examples, schema)
        for entry in entries:
            failure = entry if isinstance(entry, CheckFailure) else found.get(id(entry))
            if failure is not None:
                failures.append(failure)
    else:
        for entry in entries:
            if isinstance(entry, _RowCheck):
                if entry.bound(values) == 0:
                    continue
                failure = _second_look(frame, [entry], values, examples, schema).get(id(entry))
                if failure is None:
                    continue
            else:
                failure = entry
            failures.append(failure)
            break
    return ValidationReport(tuple(failures), rows=frame.height, checks=checks, schema=schema.name)


def count_checks(schema: Schema) -> int:
    """How many constraints ``schema`` sets: dtype, not-null, unique, range, isin, notin ..."""
    n = 0
    for col in schema.columns.values():
        n += sum(
            (
                col.dtype is not None,
                not col.nullable,
                col.unique,
                col.min is not None or col.max is not None,
                col.allowed is not None,
                col.forbidden is not None,
                col.pattern is not None,
                col.min_length is not None or col.max_length is not None,
            )
        )
    return n


def as_polars(data: object) -> pl.DataFrame:
    import polars as pl
    import pyarrow as pa

    from conveyor.data._tables import to_polars

    try:
        return to_polars(data)
    except (pa.ArrowException, pl.exceptions.PolarsError) as exc:
        raise ConveyorError(
            f"cannot read the table for validation: {exc}", type=type(data).__name__
        ) from exc


def _polars_error(schema: Schema, exc: Exception) -> ConveyorError:
    label = f"schema {schema.name!r}" if schema.name else "the schema"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConveyorError(f"polars could not evaluate the checks of {label}: {first}")


# -- compiling ----------------------------------------------------------------------------------
def _compile(schema: Schema, frame: pl.DataFrame) -> tuple[list[Entry], dict[str, pl.Expr]]:
    """The checks in schema order, and the phase-1 measures they read."""
    entries: list[Entry] = []
    measures: dict[str, pl.Expr] = {}
    present = frame.schema
    for index, (name, col) in enumerate(schema.columns.items()):
        if name not in present:
            if col.required:
                entries.append(CheckFailure(name, "missing", None, (), "is missing"))
            continue
        actual = dtype_name(present[name])
        dtype_ok = col.dtype is None or col.dtype == actual
        if not dtype_ok:
            got = actual or str(present[name])
            description = f"dtype: expected {col.dtype}, got {got}"
            entries.append(CheckFailure(name, "dtype", None, (), description))
        compiler = _ColumnChecks(name, f"c{index}", col, present[name], actual, measures)
        for entry in compiler.entries():
            if isinstance(entry, CheckFailure) and not dtype_ok:
                continue  # "does not apply": the dtype failure already says why
            entries.append(entry)
    if schema.strict:
        for name in present:
            if name not in schema.columns:
                entries.append(CheckFailure(name, "unexpected", None, (), "is not in the schema"))
    return entries, measures


class _ColumnChecks:
    """Compiles one column's row checks, adding the measures they need to ``measures``."""

    def __init__(
        self,
        name: str,
        key: str,
        col: Column,
        polars_dtype: pl.DataType,
        actual: str | None,
        measures: dict[str, pl.Expr],
    ) -> None:
        import polars as pl

        self.name, self.key, self.col = name, key, col
        self.dtype, self.actual, self.kind = polars_dtype, actual, family(actual)
        self.is_float = actual in FLOATS
        self.measures = measures
        self.expr = pl.col(name)
        # Strings and categories compare as strings.
        self.text = self.expr.cast(pl.String) if actual == "categorical" else self.expr

    def measure(self, suffix: str, expr: pl.Expr) -> str:
        key = f"{self.key}:{suffix}"
        self.measures.setdefault(key, expr)
        return key

    def entries(self) -> list[Entry]:
        col = self.col
        out: list[Entry] = []
        in_range = self._in_range() if col.min is not None or col.max is not None else None
        if not col.nullable:
            out.append(self._not_null(in_range[0] if isinstance(in_range, tuple) else None))
        if col.unique:
            out.append(self._unique())
        if isinstance(in_range, CheckFailure):
            out.append(in_range)
        elif in_range is not None:
            out.append(self._range(*in_range))
        if col.allowed is not None:
            out.append(self._listed("isin", tuple(col.allowed)))
        if col.forbidden is not None:
            out.append(self._listed("notin", tuple(col.forbidden)))
        if col.pattern is not None:
            out.append(self._pattern(col.pattern))
        if col.min_length is not None or col.max_length is not None:
            out.append(self._length())
        return out

    # -- nulls and duplicates
    def _not_null(self, in_range_key: str | None) -> _RowCheck:
        nulls = self.measure("nulls", self.expr.null_count())
        if not self.is_float:
            return _RowCheck(self.name, "not_null", "not_null", _get(nulls), None, None)
        exact = self.expr.null_count() + self.expr.is_nan().sum()
        if in_range_key is not None:
            # A float column with a range already gets one pass for the in-range count:
            # rows outside it bound the nulls and NaNs, and the clean case needs no other pass.
            def bound(m: Measures, key: str = in_range_key) -> int:
                return m[ROWS] - m[key]

            return _RowCheck(self.name, "not_null", "not_null", bound, exact, None)
        nans = self.measure("nans", self.expr.is_nan().sum())
        return _RowCheck(
            self.name, "not_null", "not_null", lambda m: m[nulls] + m[nans], None, None
        )

    def _unique(self) -> _RowCheck:
        nulls = self.measure("nulls", self.expr.null_count())
        distinct = self.measure("distinct", self.expr.n_unique())
        nans = self.measure("nans", self.expr.is_nan().sum()) if self.is_float else None

        def bound(m: Measures) -> int:
            # n_unique counts null (and NaN) as one value each; neither is a duplicate here.
            missing = m[nulls] + (m[nans] if nans else 0)
            return (
                m[ROWS]
                - missing
                - m[distinct]
                + (m[nulls] > 0)
                + (nans is not None and m[nans] > 0)
            )

        duplicated = self.expr.is_duplicated() & self.expr.is_not_null()
        if self.is_float:
            duplicated = duplicated & self.expr.is_not_nan()
        examples = self.expr.filter(duplicated).unique(maintain_order=True)
        return _RowCheck(self.name, "unique", "unique", bound, None, examples)

    # -- ranges
    def _in_range(self) -> tuple[str, pl.Expr] | CheckFailure:
        """The in-range mask and the key of its count, or why the range does not apply."""
        import polars as pl

        col = self.col
        bounds = [b for b in (col.min, col.max) if b is not None]
        if value_family(bounds[0]) != self.kind:
            return _not_applicable(self.name, "range", _describe_range(col), self.actual)
        lo = None if col.min is None else self._literal(col.min)
        hi = None if col.max is None else self._literal(col.max)
        closed = _CLOSED[col.min_inclusive, col.max_inclusive]
        if self.is_float:
            # NaN sorts above +inf in polars: an explicit infinite bound keeps it out of range.
            low = pl.lit(-math.inf) if lo is None else lo
            high = pl.lit(math.inf) if hi is None else hi
            inside = self.expr.is_between(low, high, closed=closed)
        elif lo is not None and hi is not None:
            inside = self.expr.is_between(lo, hi, closed=closed)
        elif lo is not None:
            inside = self.expr >= lo if col.min_inclusive else self.expr > lo
        else:  # only a max
            inside = self.expr <= hi if col.max_inclusive else self.expr < hi
        self.measure("nulls", self.expr.null_count())
        return self.measure("in", inside.sum()), inside

    def _range(self, in_key: str, inside: pl.Expr) -> _RowCheck:
        nulls = f"{self.key}:nulls"
        failing = ~inside
        if self.is_float:
            failing = failing & self.expr.is_not_nan()

        def bound(m: Measures) -> int:
            return m[ROWS] - m[nulls] - m[in_key]  # NaN included: the exact count drops them

        exact = failing.sum() if self.is_float else None
        description = _describe_range(self.col)
        return _RowCheck(self.name, "range", description, bound, exact, self.expr.filter(failing))

    def _literal(self, value: object) -> pl.Expr:
        import polars as pl

        if self.kind != "datetime" or not isinstance(value, datetime):
            return pl.lit(value)
        return pl.lit(_in_zone(value, time_zone(self.actual or "")), dtype=self.dtype)

    # -- values
    def _listed(self, check: str, values: Sequence[object]) -> Entry:
        import polars as pl

        description = f"{check} {_preview(values)}"
        if value_family(values[0]) != self.kind:
            return _not_applicable(self.name, check, description, self.actual)
        subject = self.text
        items: Any = list(values)
        if self.kind == "numeric" and (
            self.actual not in INTEGERS or not all(isinstance(v, int) for v in values)
        ):
            subject, items = self.expr.cast(pl.Float64), [float(v) for v in values]  # type: ignore[arg-type]
        elif self.kind == "datetime":
            zone = time_zone(self.actual or "")
            converted = [_in_zone(v, zone) for v in values]  # type: ignore[arg-type]
            items = pl.lit(pl.Series(converted, dtype=self.dtype)).implode()
        member = subject.is_in(items)
        failing = ~member if check == "isin" else member
        if self.is_float:
            failing = failing & self.expr.is_not_nan()
        count = self.measure(check, failing.sum())
        return _RowCheck(
            self.name, check, description, _get(count), None, self.expr.filter(failing)
        )

    def _pattern(self, pattern: str) -> Entry:
        import polars as pl

        description = f"pattern {pattern!r}"
        if self.kind != "string":
            return _not_applicable(self.name, "pattern", description, self.actual)
        try:  # polars' regex dialect is not Python's: no look-around, no back-references
            pl.select(pl.lit("").str.contains(pattern))
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConveyorError(
                f"column {self.name!r}: pattern {pattern!r} does not compile in polars: {first}",
                column=self.name,
                pattern=pattern,
            ) from exc
        failing = ~self.text.str.contains(pattern)
        count = self.measure("pattern", failing.sum())
        examples = self.expr.filter(failing)
        return _RowCheck(self.name, "pattern", description, _get(count), None, examples)

    def _length(self) -> Entry:
        col = self.col
        low, high = col.min_length, col.max_length
        if low is not None and high is not None:
            description = f"length [{low}, {high}]"
        else:
            description = f"length >= {low}" if low is not None else f"length <= {high}"
        if self.kind != "string":
            return _not_applicable(self.name, "length", description, self.actual)
        length = self.text.str.len_chars()
        if low is not None and high is not None:
            failing = ~length.is_between(low, high)
        else:
            failing = length < low if low is not None else length > high
        count = self.measure("length", failing.sum())
        examples = self.expr.filter(failing)
        return _RowCheck(self.name, "length", description, _get(count), None, examples)


_CLOSED: Mapping[tuple[bool, bool], Any] = {
    (True, True): "both",
    (True, False): "left",
    (False, True): "right",
    (False, False): "none",
}


def _get(key: str) -> Callable[[Measures], int]:
    return lambda m: m[key]


def _not_applicable(column: str, check: str, description: str, actual: str | None) -> CheckFailure:
    return CheckFailure(
        column, check, None, (), f"{description}: does not apply to a {actual or 'such'} column"
    )


def _in_zone(value: datetime, zone: str | None) -> datetime:
    """``value`` as the column holds it: in the column's zone, or naive UTC for a naive column.

    A naive bound on a zoned column is read as a time in that zone.
    """
    if zone is None:
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    tz = ZoneInfo(zone)
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def _describe_range(col: Column) -> str:
    if col.min is not None and col.max is not None:
        left = "[" if col.min_inclusive else "("
        right = "]" if col.max_inclusive else ")"
        return f"range {left}{show(col.min)}, {show(col.max)}{right}"
    if col.min is not None:
        return f"range {'>=' if col.min_inclusive else '>'} {show(col.min)}"
    return f"range {'<=' if col.max_inclusive else '<'} {show(col.max)}"


def _preview(values: Sequence[object], limit: int = 8) -> str:
    shown = ", ".join(show(v) for v in values[:limit])
    if len(values) > limit:
        shown += f", … ({len(values)} values)"
    return "{" + shown + "}"


# -- the second look ----------------------------------------------------------------------------
def _second_look(
    frame: pl.DataFrame,
    suspects: Sequence[_RowCheck],
    measures: Measures,
    examples: int,
    schema: Schema,
) -> dict[int, CheckFailure]:
    """Exact counts and example values of the checks whose bound was positive, by ``id``."""
    import polars as pl

    if not suspects:
        return {}
    exprs = []
    for i, check in enumerate(suspects):
        if check.exact is not None:
            exprs.append(check.exact.alias(f"n{i}"))
        if check.examples is not None and examples > 0:
            exprs.append(check.examples.head(examples).implode().alias(f"e{i}"))
    row: dict[str, Any] = {}
    if exprs:
        try:
            row = frame.select(exprs).row(0, named=True)
        except pl.exceptions.PolarsError as exc:
            raise _polars_error(schema, exc) from exc
    found = {}
    for i, check in enumerate(suspects):
        count = int(row[f"n{i}"] or 0) if check.exact is not None else check.bound(measures)
        if count > 0:
            shown = tuple(row.get(f"e{i}") or ())
            found[id(check)] = CheckFailure(
                check.column, check.check, count, shown, check.description
            )
    return found
