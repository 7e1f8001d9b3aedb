"""``Schema.infer``: a schema read from data, in two polars queries.

The first query gathers, for every column at once, its null and NaN counts, its smallest and
largest value (numbers, dates, datetimes) and its distinct count (integers, strings,
categories). The second lists the distinct values of the string columns few enough to become
``allowed``. The rules themselves are documented on ``Schema.infer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.data._schema import Column, Schema
from conveyor.data._schema_dtypes import FLOATS, INTEGERS, dtype_name, family

if TYPE_CHECKING:
    import polars as pl


def infer(data: object, *, name: str | None, max_categories: int, category_ratio: float) -> Schema:
    import polars as pl

    from conveyor.data._schema_validate import as_polars

    frame = as_polars(data)
    names = {column: dtype_name(dtype) for column, dtype in frame.schema.items()}
    stats = _stats(frame, names)
    listed = [
        column
        for column, dtype in names.items()
        if family(dtype) == "string"
        and 0 < (distinct := _distinct(stats, column)) <= max_categories
        and distinct <= category_ratio * _present(stats, column, frame.height)
    ]
    categories: dict[str, list[Any]] = {}
    if listed:
        row = frame.select(
            [pl.col(c).cast(pl.String).drop_nulls().unique().sort().implode() for c in listed]
        ).row(0)
        categories = dict(zip(listed, row, strict=True))
    columns = {}
    for column, dtype in names.items():
        kind = family(dtype)
        present = _present(stats, column, frame.height)
        fields: dict[str, Any] = {"dtype": dtype, "nullable": present < frame.height}
        if kind in {"numeric", "date", "datetime"} and dtype != "decimal":
            fields["min"] = stats[f"{column}:min"]
            fields["max"] = stats[f"{column}:max"]
        if column in categories:
            fields["allowed"] = tuple(categories[column])
        elif (dtype in INTEGERS or dtype == "string") and present >= 2:
            fields["unique"] = _distinct(stats, column) == present
        columns[column] = Column(**fields)
    return Schema(columns=columns, name=name)


def _stats(frame: pl.DataFrame, names: dict[str, str | None]) -> dict[str, Any]:
    import polars as pl

    exprs = []
    for column, dtype in names.items():
        col = pl.col(column)
        exprs.append(col.null_count().alias(f"{column}:nulls"))
        if dtype in FLOATS:
            exprs.append(col.is_nan().sum().alias(f"{column}:nans"))
            col = col.fill_nan(None)  # NaN is a null here; min and max skip it
        if family(dtype) in {"numeric", "date", "datetime"} and dtype != "decimal":
            exprs.append(col.min().alias(f"{column}:min"))
            exprs.append(col.max().alias(f"{column}:max"))
        if dtype in INTEGERS or family(dtype) == "string":
            exprs.append(col.drop_nulls().n_unique().alias(f"{column}:distinct"))
    if not exprs:
        return {}
    return frame.select(exprs).row(0, named=True)


def _present(stats: dict[str, Any], column: str, rows: int) -> int:
    """Rows holding a value: neither null nor NaN."""
    return rows - int(stats[f"{column}:nulls"]) - int(stats.get(f"{column}:nans") or 0)


def _distinct(stats: dict[str, Any], column: str) -> int:
    return int(stats.get(f"{column}:distinct") or 0)
