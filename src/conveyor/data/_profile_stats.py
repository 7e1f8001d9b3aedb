"""``profile(data)``: the statistics of a table, computed in as few passes as possible.

One polars ``select`` gives every null count, min, max, mean and std and the value counts of
every string, categorical and boolean column. Then each numeric column's values go to numpy
once, for its exact quantiles and histogram (``_profile_numeric.py``); the columns are spread
over threads, as numpy releases the GIL. Nothing here is stored or printed; the records are
defined in ``_profile.py``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from conveyor.core._errors import ConveyorError
from conveyor.data._profile import (
    ColumnProfile,
    Histogram,
    Kind,
    Profile,
    Quantiles,
    Scalar,
    kind_of_dtype,
)
from conveyor.data._profile_numeric import numeric_stats
from conveyor.data._schema_dtypes import dtype_name
from conveyor.data._tables import to_polars

if TYPE_CHECKING:
    import polars as pl

BINS: Final = 20
TOP: Final = 20
MAX_VALUE_CHARS: Final = 100
_MAX_THREADS: Final = 4
# Below this many values, handing columns to threads costs more than it saves: every
# hand-off waits for the GIL, up to its 5 ms switch interval.
_VALUES_PER_THREAD: Final = 4_000_000
# numpy dtypes the numeric pass reads as they are; any other numeric dtype is cast to float64.
_NUMPY_NATIVE: Final = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
    | {"float32", "float64"}
)


def profile(data: object, *, bins: int = BINS, top: int = TOP) -> Profile:
    """Per-column statistics of ``data``: nulls, ranges, moments, quantiles, histograms and the
    most frequent values.

    Args:
        data: A pandas or polars DataFrame, a polars LazyFrame (collected), a pyarrow Table or
            a ``Dataset`` (read whole).
        bins: Bins of each numeric column's histogram.
        top: How many of the most frequent values of each string, categorical and boolean
            column are kept.

    Returns:
        The profile; see ``ColumnProfile`` for what each kind of column gets.

    Raises:
        ConveyorError: ``data`` is not a table, or ``bins`` < 1 or ``top`` < 0.
    """
    if bins < 1:
        raise ConveyorError(f"bins must be >= 1, got {bins}", bins=bins)
    if top < 0:
        raise ConveyorError(f"top must be >= 0, got {top}", top=top)
    frame = to_polars(data)
    names = frame.columns
    dtypes = [dtype_name(dtype) or "other" for dtype in frame.dtypes]
    kinds = [kind_of_dtype(dtype) for dtype in dtypes]
    frame = _prepared(frame, dtypes, kinds)
    scalars, counts = _first_pass(frame, kinds)
    numeric = [
        i
        for i, kind in enumerate(kinds)
        if kind == "numeric" and scalars[f"{i}:nulls"] < frame.height
    ]
    numbers = _numeric_pass(frame, numeric, scalars, bins)
    columns: dict[str, ColumnProfile] = {}
    for i, (name, dtype, kind) in enumerate(zip(names, dtypes, kinds, strict=True)):
        nulls = int(scalars[f"{i}:nulls"])
        fields: dict[str, Any] = {}
        if kind in {"numeric", "temporal"}:
            fields["min"] = _scalar(scalars[f"{i}:min"])
            fields["max"] = _scalar(scalars[f"{i}:max"])
        if kind == "numeric":
            fields["mean"] = _float(scalars[f"{i}:mean"])
            fields["std"] = _float(scalars[f"{i}:std"])
            if i in numbers:
                fields["quantiles"], fields["histogram"] = numbers[i]
        if kind == "categorical":
            fields.update(_top_values(counts[i], frame.height - nulls, top))
        columns[name] = ColumnProfile(
            name=name, dtype=dtype, count=frame.height, nulls=nulls, **fields
        )
    return Profile(rows=frame.height, columns=columns)


def _prepared(frame: pl.DataFrame, dtypes: list[str], kinds: list[Kind]) -> pl.DataFrame:
    """NaN made null (a NaN is a missing value here, as in pandas), other numbers that numpy
    cannot take as they are (decimal, 128-bit integers) as float64."""
    import polars as pl

    exprs = []
    for name, dtype, kind in zip(frame.columns, dtypes, kinds, strict=True):
        if kind != "numeric":
            continue
        if dtype in {"float32", "float64"}:
            exprs.append(pl.col(name).fill_nan(None))
        elif dtype not in _NUMPY_NATIVE:
            exprs.append(pl.col(name).cast(pl.Float64))
    return frame.with_columns(exprs) if exprs else frame


def _first_pass(
    frame: pl.DataFrame, kinds: list[Kind]
) -> tuple[dict[str, Any], dict[int, pl.DataFrame]]:
    """One ``select`` for all columns: the scalar statistics by ``"<index>:<stat>"``, and the
    value counts (value, count; the null row included) of each categorical column by index."""
    import polars as pl

    scalar_exprs: list[pl.Expr] = []
    count_exprs: list[pl.Expr] = []
    for i, (name, kind) in enumerate(zip(frame.columns, kinds, strict=True)):
        col = pl.col(name)
        scalar_exprs.append(col.null_count().alias(f"{i}:nulls"))
        if kind in {"numeric", "temporal"}:
            scalar_exprs += [col.min().alias(f"{i}:min"), col.max().alias(f"{i}:max")]
        if kind == "numeric":
            scalar_exprs += [col.mean().alias(f"{i}:mean"), col.std().alias(f"{i}:std")]
        if kind == "categorical":
            count_exprs.append(col.value_counts(name="count").implode().alias(f"{i}:counts"))
    if not scalar_exprs:
        return {}, {}
    result = frame.select(scalar_exprs + count_exprs)
    # Only the scalars go through Python objects; value counts stay polars frames.
    scalar_names = result.columns[: len(scalar_exprs)]
    scalars = dict(zip(scalar_names, result.select(scalar_names).row(0), strict=True))
    counts = {
        int(column.partition(":")[0]): result.get_column(column)[0].struct.unnest()
        for column in result.columns[len(scalar_exprs) :]
    }
    return scalars, counts


def _top_values(counts: pl.DataFrame, non_null: int, top: int) -> dict[str, Any]:
    import polars as pl

    value = counts.columns[0]
    counts = counts.filter(pl.col(value).is_not_null()).with_columns(pl.col(value).cast(pl.String))
    distinct = counts.height
    if distinct > top:
        # Sorting every distinct value (a million ids) costs seconds: keep those counted more
        # often than the top-th, then the first of the values tied with it.
        threshold = counts.get_column("count").top_k(max(top, 1)).min()
        above = counts.filter(pl.col("count") > threshold)
        tied = counts.filter(pl.col("count") == threshold)
        counts = pl.concat([above, tied.bottom_k(top - above.height, by=value)])
    head = counts.sort(["count", value], descending=[True, False]).head(top)
    pairs = tuple(
        (_short(str(v)), int(c))
        for v, c in zip(head.get_column(value), head.get_column("count"), strict=True)
    )
    return {
        "distinct": distinct,
        "top": pairs,
        "other": non_null - sum(c for _, c in pairs),
    }


def _short(value: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return value
    return value[: MAX_VALUE_CHARS - 1] + "…"


def _numeric_pass(
    frame: pl.DataFrame, columns: list[int], scalars: dict[str, Any], bins: int
) -> dict[int, tuple[Quantiles, Histogram | None]]:
    def one(i: int) -> tuple[int, tuple[Quantiles, Histogram | None]]:
        series = frame.to_series(i)
        values = series.drop_nulls() if scalars[f"{i}:nulls"] else series
        low, high = scalars[f"{i}:min"], scalars[f"{i}:max"]
        return i, numeric_stats(values.to_numpy(), low, high, bins)

    values = frame.height * len(columns)
    threads = min(_MAX_THREADS, os.cpu_count() or 1, len(columns), values // _VALUES_PER_THREAD)
    if threads <= 1:
        return dict(map(one, columns))
    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(one, columns))


def _scalar(value: object) -> Scalar | None:
    """A min or max as JSON-able data: numbers as they are, temporal values as ISO text."""
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return value
    isoformat = getattr(value, "isoformat", None)  # date, time, datetime
    return str(isoformat() if isoformat is not None else value)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
