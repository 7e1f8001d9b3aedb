"""``Schema`` and ``Column``: what a table is expected to hold, as plain editable data.

A schema is frozen: editing it (``with_column``, ``dataclasses.replace``) returns a new one,
and every field is checked when it is built, so a schema that exists can be validated against.
The work lives beside this module: inference in ``_schema_infer.py``, validation in
``_schema_validate.py`` (report types in ``_schema_report.py``), YAML/JSON in ``_schema_io.py``,
pandera translation in ``_schema_pandera.py``, dtype names in ``_schema_dtypes.py``. Those are
imported inside the methods, and none of them imports a table library at module level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.core._errors import ConveyorError
from conveyor.data._schema_dtypes import DTYPES, Family, family, is_dtype

if TYPE_CHECKING:
    from conveyor.data._schema_report import ValidationReport

Bound = int | float | date  # a datetime is a date
Value = str | int | float | bool | date

_RANGED: frozenset[Family] = frozenset({"numeric", "date", "datetime"})
_LISTED: frozenset[Family] = frozenset({"numeric", "bool", "string", "date", "datetime"})


def value_family(value: object) -> Family:
    """The family a Python value compares with (see ``_schema_dtypes.family``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "numeric"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, str):
        return "string"
    return "other"


@dataclass(frozen=True, slots=True)
class Column:
    """What one column must hold. Every constraint is optional; the defaults constrain nothing.

    Attributes:
        dtype: A name from the dtype vocabulary (``int64``, ``float64``, ``string``,
            ``categorical``, ``date``, ``datetime``, ``datetime[UTC]`` ...); None accepts any.
        nullable: Whether nulls are allowed. NaN counts as null in float columns.
        unique: Whether each non-null value may occur only once.
        min: Lowest allowed value (a number, a ``date`` or a ``datetime``); None for no bound.
        max: Highest allowed value; None for no bound.
        min_inclusive: Whether ``min`` itself is allowed.
        max_inclusive: Whether ``max`` itself is allowed.
        allowed: The only values allowed (nulls aside), or None. Kept as a tuple, in the
            order given (a set is sorted).
        forbidden: Values that may not occur, or None. Kept as a tuple, like ``allowed``.
        pattern: A regular expression every string must contain (anchor it with ``^`` and ``$``
            for a full match). It runs in polars, whose regex dialect has no look-around and
            no back-references.
        min_length: Fewest characters a string may have.
        max_length: Most characters a string may have.
        required: Whether the column must be present; a missing optional column is not checked.

    Raises:
        ConveyorError: a field has a value no check can use (an unknown dtype, ``min > max``, a
            bound that cannot compare with the dtype, a pattern that does not compile ...).
    """

    dtype: str | None = None
    nullable: bool = True
    unique: bool = False
    min: Bound | None = None
    max: Bound | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    allowed: Collection[Value] | None = None  # kept as a tuple
    forbidden: Collection[Value] | None = None  # kept as a tuple
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if self.dtype is not None and (not isinstance(self.dtype, str) or not is_dtype(self.dtype)):
            raise ConveyorError(
                f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}, datetime[<zone>]",
                dtype=self.dtype,
            )
        for name in ("nullable", "unique", "min_inclusive", "max_inclusive", "required"):
            if not isinstance(getattr(self, name), bool):
                raise ConveyorError(f"{name} must be true or false, got {getattr(self, name)!r}")
        kind = family(self.dtype)
        self._check_bounds(kind)
        for name in ("allowed", "forbidden"):
            values = getattr(self, name)
            if values is not None:
                object.__setattr__(self, name, _value_tuple(name, values, kind, self.dtype))
        self._check_strings(kind)

    def _check_bounds(self, kind: Family) -> None:
        kinds = set()
        for name in ("min", "max"):
            bound = getattr(self, name)
            if bound is None:
                continue
            bound_kind = value_family(bound)
            if bound_kind not in _RANGED:
                raise ConveyorError(f"{name} must be a number, date or datetime, got {bound!r}")
            if isinstance(bound, float) and math.isnan(bound):
                raise ConveyorError(f"{name} must not be NaN")
            if self.dtype is not None and bound_kind != kind:
                raise ConveyorError(
                    f"{name} {bound!r} cannot be compared with values of dtype {self.dtype}"
                )
            kinds.add(bound_kind)
        if len(kinds) > 1:
            raise ConveyorError(f"min {self.min!r} and max {self.max!r} are of different kinds")
        if self.min is None or self.max is None:
            return
        try:
            empty = self.min > self.max or (  # type: ignore[operator]
                self.min == self.max and not (self.min_inclusive and self.max_inclusive)
            )
        except TypeError:  # a datetime with a time zone against one without
            raise ConveyorError(
                f"min {self.min!r} and max {self.max!r}: either both have a time zone or neither"
            ) from None
        if empty:
            raise ConveyorError(f"min {self.min!r} and max {self.max!r} allow no value")

    def _check_strings(self, kind: Family) -> None:
        if self.pattern is not None:
            if not isinstance(self.pattern, str):
                raise ConveyorError(f"pattern must be a string, got {self.pattern!r}")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ConveyorError(f"pattern {self.pattern!r} does not compile: {exc}") from None
        for name in ("min_length", "max_length"):
            length = getattr(self, name)
            if length is not None and (
                isinstance(length, bool) or not isinstance(length, int) or length < 0
            ):
                raise ConveyorError(f"{name} must be a whole number >= 0, got {length!r}")
        if (
            self.min_length is not None
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            raise ConveyorError(f"min_length {self.min_length} > max_length {self.max_length}")
        uses_strings = self.pattern is not None or (self.min_length, self.max_length) != (None,) * 2
        if uses_strings and self.dtype is not None and kind != "string":
            raise ConveyorError(f"pattern and lengths apply to strings, not to dtype {self.dtype}")


def _value_tuple(name: str, values: object, kind: Family, dtype: str | None) -> tuple[Value, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ConveyorError(f"{name} must be a list of values, got {values!r}")
    items = tuple(values)
    if isinstance(values, Collection) and not isinstance(values, list | tuple):
        # A set has no order of its own; a sorted one keeps saved schemas stable.
        with contextlib.suppress(TypeError):
            items = tuple(sorted(items))
    if not items and name == "allowed":
        raise ConveyorError("allowed must list at least one value")
    kinds = {value_family(item) for item in items}
    if not kinds <= _LISTED:
        odd = next(item for item in items if value_family(item) not in _LISTED)
        raise ConveyorError(
            f"{name}: {odd!r} is not a string, number, boolean, date or datetime"
            + (" (nulls are allowed or not by `nullable`)" if odd is None else "")
        )
    if len(kinds) > 1:
        raise ConveyorError(f"{name} mixes values of different kinds: {list(items)!r}")
    if dtype is not None and kinds and kinds != {kind}:
        raise ConveyorError(f"{name} {list(items)!r} cannot be compared with dtype {dtype}")
    return items  # checked element by element above


@dataclass(frozen=True, slots=True)
class Schema:
    """What a table is expected to hold: its columns by name, and whether others may appear.

    Build one by hand, with ``Schema.infer(data)``, ``Schema.from_pandera(...)`` or
    ``Schema.load(path)``; edit it with ``with_column`` or ``dataclasses.replace``.

    Attributes:
        columns: The expected columns, by name, in the order they are checked.
        name: A label used in reports and error messages.
        strict: Whether a column the schema does not list is a failure.
    """

    columns: Mapping[str, Column] = field(default_factory=dict)
    name: str | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.columns, Mapping):
            raise ConveyorError(f"columns must map names to Column, got {self.columns!r}")
        columns = dict(self.columns)  # a copy: editing the caller's dict changes nothing here
        for name, column in columns.items():
            if not isinstance(name, str) or not isinstance(column, Column):
                raise ConveyorError(
                    f"columns must map names (str) to Column, got {name!r}: {column!r}"
                )
        if self.name is not None and not isinstance(self.name, str):
            raise ConveyorError(f"name must be a string, got {self.name!r}")
        if not isinstance(self.strict, bool):
            raise ConveyorError(f"strict must be true or false, got {self.strict!r}")
        object.__setattr__(self, "columns", columns)

    def __hash__(self) -> int:  # the columns dict is a copy no one else holds
        return hash((tuple(self.columns.items()), self.name, self.strict))

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def infer(
        cls,
        data: object,
        *,
        name: str | None = None,
        max_categories: int = 50,
        category_ratio: float = 0.5,
    ) -> Schema:
        """A schema that ``data`` passes, read from the data itself.

        Per column: ``dtype`` from the data; ``nullable`` if it holds a null (or a NaN);
        ``min``/``max`` the smallest and largest value of a numeric, date or datetime column;
        ``allowed`` the distinct values of a string or categorical column that has at most
        ``max_categories`` of them, and no more than ``category_ratio`` times its non-null
        rows; ``unique`` for an integer or string column with at least two non-null values,
        all distinct. The inferred ranges are the observed ones: widen them where new data
        may go further.

        Args:
            data: A pandas or polars DataFrame, a polars LazyFrame, a pyarrow Table or a Dataset.
            name: The schema's name.
            max_categories: Most distinct values a column may have to get ``allowed``.
            category_ratio: Largest share of distinct values among non-null rows for ``allowed``.
        """
        from conveyor.data._schema_infer import infer

        return infer(data, name=name, max_categories=max_categories, category_ratio=category_ratio)

    @classmethod
    def from_pandera(cls, schema: object, *, drop_unsupported: bool = False) -> Schema:
        """The conveyor schema equal to a pandera ``DataFrameSchema`` (pandas or polars).

        Translated: each column's dtype, ``nullable``, ``unique`` and ``required``; the
        schema's ``strict`` and ``name``; the built-in checks ``in_range``/``between``,
        ``greater_than(_or_equal_to)``, ``less_than(_or_equal_to)`` (and ``gt``, ``ge``, ``lt``,
        ``le``), ``equal_to``/``eq``, ``not_equal_to``/``ne``, ``isin``, ``notin``,
        ``str_matches``, ``str_contains``, ``str_startswith``, ``str_endswith`` and
        ``str_length``. Several range checks on one column combine to the narrowest range.
        ``coerce`` is ignored: conveyor checks data, it never converts it.

        Anything else (a custom check function, a groupby or DataFrame-wide check, an index,
        a regex column name, a dtype outside the vocabulary) cannot be checked the same way,
        so it is never dropped silently: it raises ``ConveyorError`` naming each column and
        check, unless ``drop_unsupported=True``, which leaves them out with a
        ``ConveyorWarning``.
        """
        from conveyor.data._schema_pandera import translate

        return translate(schema, drop_unsupported=drop_unsupported)

    # -- editing ----------------------------------------------------------------------------
    def with_column(self, name: str, column: Column | None = None, /, **changes: Any) -> Schema:
        """A copy with column ``name`` set to ``column``, or with ``changes`` to its fields.

        ``schema.with_column("amount", max=2000)`` edits one constraint of an existing column;
        ``schema.with_column("note", Column(dtype="string"))`` adds or replaces a column.
        """
        if column is None:
            if name not in self.columns:
                raise ConveyorError(
                    f"schema has no column {name!r} to change; pass a Column to add one"
                )
            column = self.columns[name]
        if changes:
            try:
                column = dataclasses.replace(column, **changes)
            except TypeError as exc:  # an unknown field name
                raise ConveyorError(f"column {name!r}: {exc}") from None
        return dataclasses.replace(self, columns={**self.columns, name: column})

    def without_columns(self, *names: str) -> Schema:
        """A copy without the columns ``names`` (names it does not have are an error)."""
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise ConveyorError(f"schema has no column {unknown[0]!r}", columns=unknown)
        kept = {n: c for n, c in self.columns.items() if n not in names}
        return dataclasses.replace(self, columns=kept)

    # -- checking ---------------------------------------------------------------------------
    def validate(self, data: object, *, lazy: bool = True, examples: int = 5) -> ValidationReport:
        """Check ``data`` against this schema; a report lists each failing check.

        All row checks run as one polars query of failure counts; only checks that fail are
        looked at again, to count exactly and to collect example values. Nulls (and NaN in
        float columns) fail only ``nullable=False``, never a range or value check. A column of
        the wrong dtype fails ``dtype``, and its value checks run only if they still compare.

        Args:
            data: A pandas or polars DataFrame, a polars LazyFrame, a pyarrow Table or a Dataset
                (read whole).
            lazy: Report every failing check; with False, only the first one, in schema order.
            examples: How many failing values to keep per failing check.
        """
        from conveyor.data._schema_validate import validate

        return validate(self, data, lazy=lazy, examples=examples)

    # -- saving -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The schema as JSON-able data (dates as ISO text, defaults left out)."""
        from conveyor.data._schema_io import schema_to_dict

        return schema_to_dict(self)

    @classmethod
    def from_dict(cls, data: object, *, source: str = "schema") -> Schema:
        """The schema ``to_dict`` gave; ``source`` names it in error messages."""
        from conveyor.data._schema_io import schema_from_dict

        return schema_from_dict(data, source=source)

    def to_yaml(self) -> str:
        from conveyor.data._schema_io import dump_yaml

        return dump_yaml(self.to_dict())

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "schema") -> Schema:
        from conveyor.data._schema_io import parse_yaml

        return cls.from_dict(parse_yaml(text, source=source), source=source)

    def to_json(self) -> str:
        from conveyor.data._schema_io import dump_json

        return dump_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str, *, source: str = "schema") -> Schema:
        from conveyor.data._schema_io import parse_json

        return cls.from_dict(parse_json(text, source=source), source=source)

    def save(self, path: str | Path) -> Path:
        """Write the schema to ``path``: YAML for ``.yaml``/``.yml``, JSON for ``.json``."""
        from conveyor.data._schema_io import save

        return save(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Read a schema that ``save`` wrote (or one written by hand).

        Raises:
            ConveyorError: the file is missing, is not valid YAML/JSON, or holds something that
                is not a schema; the message names the file and the problem.
        """
        from conveyor.data._schema_io import load

        return load(Path(path))
