"""A model's input signature: the columns it takes, read from example data, and checks against it.

Belongs here: reading column names, types and missing values from a pandas, polars or Arrow
table, a 2-D numpy array or a list of dicts, and comparing a request's input with a stored
signature. Does not belong here: value ranges and allowed categories (``conveyor.data.Schema``
and the reference profile), and converting requests into frames (serving).

Types use a small vocabulary (``TYPES``) so a signature stays comparable across libraries and
their versions; each input also keeps its exact dtype string for people to read. A NaN counts
as a missing value, as it does in pandas. Each table library is imported only when its data is
seen, and ``check_signature`` does one pass per column, so checking a request of a few rows is
cheap.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Final, Literal, NotRequired, TypedDict

from conveyor.core._errors import RegistryError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import polars as pl
    import pyarrow as pa

TYPES: Final = ("integer", "float", "boolean", "string", "category", "datetime", "other")

# expected type -> the found types a model also accepts for it: integers are exact as floats,
# and categories arrive as plain strings in a JSON request.
_ACCEPTS: Final[Mapping[str, frozenset[str]]] = {
    "float": frozenset({"float", "integer"}),
    "string": frozenset({"string", "category"}),
    "category": frozenset({"category", "string"}),
}
_POLARS_TYPES: Final[Mapping[str, str]] = {
    **dict.fromkeys(("Int8", "Int16", "Int32", "Int64", "Int128"), "integer"),
    **dict.fromkeys(("UInt8", "UInt16", "UInt32", "UInt64", "UInt128"), "integer"),
    **dict.fromkeys(("Float16", "Float32", "Float64", "Decimal"), "float"),
    "Boolean": "boolean",
    "String": "string",
    "Utf8": "string",
    "Categorical": "category",
    "Enum": "category",
    "Datetime": "datetime",
    "Date": "datetime",
}
_NUMPY_KINDS: Final[Mapping[str, str]] = {
    "i": "integer",
    "u": "integer",
    "f": "float",
    "b": "boolean",
    "U": "string",
    "M": "datetime",
}

# the dtype names of the values in a list of dicts
_PYTHON_DTYPES: Final[Mapping[str, str]] = {
    "integer": "int",
    "float": "float",
    "boolean": "bool",
    "string": "str",
    "datetime": "datetime",
}


class Input(TypedDict):
    """One input column of a signature."""

    name: str
    type: str  # one of TYPES
    dtype: str  # the library's own dtype name, as the example had it
    nullable: bool  # whether the example had missing values (None, null or NaN) in it


class Signature(TypedDict):
    """What ``infer_signature`` returns; plain JSON once stored."""

    format: Literal["columns", "array"]
    inputs: list[Input]
    shape: NotRequired[list[int]]  # arrays only: [-1, number of columns]


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    type: str
    dtype: str
    nulls: int


def infer_signature(example: object) -> Signature:
    """The input signature of a model, read from a few rows of its input.

    Args:
        example: A pandas or polars DataFrame, a pyarrow Table, a 2-D numpy array (its
            columns are named ``"0"``, ``"1"``, ...) or a non-empty list of dicts.

    Raises:
        RegistryError: ``example`` is none of those.
    """
    layout, columns = _read(example)
    inputs = [Input(name=c.name, type=c.type, dtype=c.dtype, nullable=c.nulls > 0) for c in columns]
    if layout == "array":
        return Signature(format="array", inputs=inputs, shape=[-1, len(inputs)])
    return Signature(format="columns", inputs=inputs)


def check_signature(signature: Mapping[str, Any], frame: object) -> list[str]:
    """Every way ``frame`` does not fit ``signature``, one sentence each; empty if it fits.

    Reports missing and unexpected columns, columns of the wrong type and missing values in
    columns the signature does not allow them in. A float column accepts integers, and
    string and category columns accept each other.

    Raises:
        RegistryError: ``signature`` is not one ``infer_signature`` made, or ``frame`` is not
            a kind of data it reads.
    """
    expected = _inputs(signature)
    layout, columns = _read(frame)
    found = {c.name: c for c in columns}
    problems = []
    if signature.get("format") == "array" and layout == "array":
        if len(columns) != len(expected):
            problems.append(f"expected an array of {len(expected)} columns, found {len(columns)}")
    else:
        problems.extend(
            f"column {name!r} is missing (expected {spec['type']}, {spec['dtype']})"
            for name, spec in expected.items()
            if name not in found
        )
        problems.extend(
            f"column {c.name!r} is not in the signature (found {c.type}, {c.dtype})"
            for c in columns
            if c.name not in expected
        )
    for column in columns:
        spec = expected.get(column.name)
        if spec is not None:
            problems.extend(_column_problems(spec, column))
    return problems


def _column_problems(spec: Mapping[str, Any], column: _Column) -> Iterable[str]:
    wanted = str(spec["type"])
    if not _accepts(wanted, str(spec["dtype"]), column):
        hint = ""
        if wanted == "integer" and column.type == "float" and column.nulls:
            hint = " (missing values turn an integer column into floats)"
        yield (
            f"column {column.name!r}: expected {wanted} ({spec['dtype']}), "
            f"found {column.type} ({column.dtype}){hint}"
        )
    if column.nulls and not spec.get("nullable", False):
        values = "value" if column.nulls == 1 else "values"
        yield (
            f"column {column.name!r}: expected no missing values, "
            f"found {column.nulls} missing {values}"
        )


def _accepts(wanted: str, wanted_dtype: str, column: _Column) -> bool:
    if wanted == "other" or column.type == "other":
        return wanted == column.type and wanted_dtype == column.dtype
    return column.type in _ACCEPTS.get(wanted, frozenset({wanted}))


def _inputs(signature: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    inputs = signature.get("inputs")
    if not isinstance(inputs, Sequence) or not all(
        isinstance(i, Mapping) and {"name", "type", "dtype"} <= i.keys() for i in inputs
    ):
        raise RegistryError(
            "not a model signature: it needs 'inputs', a list of {name, type, dtype, nullable}",
            signature=dict(signature),
        )
    return {str(i["name"]): i for i in inputs}


# -- reading columns from each kind of data ---------------------------------------------------


def _read(data: object) -> tuple[Literal["columns", "array"], list[_Column]]:
    package = type(data).__module__.partition(".")[0]
    if package == "pandas" and hasattr(data, "dtypes") and hasattr(data, "columns"):
        return "columns", _pandas(data)  # type: ignore[arg-type]
    if package == "polars" and hasattr(data, "schema"):
        return "columns", _polars(data)  # type: ignore[arg-type]
    if package == "pyarrow" and hasattr(data, "schema"):
        return "columns", _arrow(data)
    if package == "numpy" and getattr(data, "ndim", None) == 2:
        return "array", _numpy(data)  # type: ignore[arg-type]
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return "columns", _records(data)
    raise RegistryError(
        f"cannot read model input from {type(data).__module__}.{type(data).__qualname__}: "
        "expected a pandas or polars DataFrame, a pyarrow Table, a 2-D numpy array or a "
        "non-empty list of dicts",
        input_type=type(data).__qualname__,
    )


def _pandas(frame: pd.DataFrame) -> list[_Column]:
    import pandas as pd
    from pandas.api import types as ptypes

    nulls = frame.isna().sum().tolist()
    columns = []
    for (name, dtype), missing in zip(frame.dtypes.items(), nulls, strict=True):
        if isinstance(dtype, pd.CategoricalDtype):
            kind = "category"
        elif ptypes.is_bool_dtype(dtype):
            kind = "boolean"
        elif ptypes.is_integer_dtype(dtype):
            kind = "integer"
        elif ptypes.is_float_dtype(dtype):
            kind = "float"
        elif ptypes.is_datetime64_any_dtype(dtype):
            kind = "datetime"
        elif isinstance(dtype, pd.StringDtype):
            kind = "string"
        elif dtype.kind == "O":
            kind = _values_type(frame[name].dropna())
        else:
            kind = "other"
        columns.append(_Column(str(name), kind, str(dtype), int(missing)))
    return columns


def _polars(frame: pl.DataFrame) -> list[_Column]:
    import polars as pl

    floats = [n for n, d in frame.schema.items() if d.is_float()]
    nans = frame.select(pl.col(floats).is_nan().sum()).row(0, named=True) if floats else {}
    nulls = frame.null_count().row(0, named=True)
    return [
        _Column(
            name,
            _POLARS_TYPES.get(type(dtype).__name__, "other"),
            str(dtype),
            int(nulls[name]) + int(nans.get(name) or 0),
        )
        for name, dtype in frame.schema.items()
    ]


def _arrow(table: pa.Table) -> list[_Column]:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for field, chunks in zip(table.schema, table.columns, strict=True):
        t = field.type
        missing = chunks.null_count
        if pa.types.is_integer(t):
            kind = "integer"
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            kind = "float"
            if pa.types.is_floating(t):
                missing += pc.sum(pc.is_nan(chunks)).as_py() or 0
        elif pa.types.is_boolean(t):
            kind = "boolean"
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            kind = "string"
        elif pa.types.is_dictionary(t):
            kind = "category"
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            kind = "datetime"
        else:
            kind = "other"
        columns.append(_Column(field.name, kind, str(t), int(missing)))
    return columns


def _numpy(array: np.ndarray[Any, Any]) -> list[_Column]:
    import numpy as np

    dtype = array.dtype
    if dtype.kind == "f":
        nulls = np.isnan(array).sum(axis=0).tolist()
    elif dtype.kind == "M":
        nulls = np.isnat(array).sum(axis=0).tolist()
    elif dtype.kind == "O":
        nulls = [sum(_is_missing(v) for v in column) for column in array.T]
    else:
        nulls = [0] * array.shape[1]
    if dtype.kind == "O":
        kind = _values_type(v for v in array.ravel() if not _is_missing(v))
    else:
        kind = _NUMPY_KINDS.get(dtype.kind, "other")
    return [_Column(str(i), kind, str(dtype), int(n)) for i, n in enumerate(nulls)]


def _records(rows: list[Mapping[Any, Any]]) -> list[_Column]:
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = []
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if not _is_missing(v)]
        kind = _values_type(present)
        dtype = _PYTHON_DTYPES.get(kind, "object")
        columns.append(_Column(str(name), kind, dtype, len(values) - len(present)))
    return columns


def _values_type(values: Iterable[object]) -> str:
    """The type of Python values (as found in object columns and dicts); mixed is ``other``."""
    kinds = {_value_type(v) for v in values}
    if kinds == {"integer", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else "other"


def _value_type(value: object) -> str:
    # bool before int: True is an Integral too; numpy's bool_ is neither bool nor Integral
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "boolean"
    if isinstance(value, Integral):
        return "integer"
    if isinstance(value, Real):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.date):
        return "datetime"  # datetime.datetime is a date too
    return "other"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
