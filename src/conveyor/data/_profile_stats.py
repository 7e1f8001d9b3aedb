"""``profile(data)``: the statistics of a table, computed in as few passes as possible.

Each numeric column goes to numpy once, as it is (no copy unless it has nulls), for every
statistic it gets: range, moments, exact quantiles and histogram (``_profile_numeric.py``);
the columns are spread over threads, as numpy releases the GIL. One polars ``select`` gives
the null counts, ranges and value counts of the string, categorical, boolean and temporal
columns. Nothing here is stored or printed; the records are defined in ``_profile.py``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from conveyor.core._errors import ConveyorError
from conveyor.data._profile import (
    ColumnProfile,
    Kind,
    Profile,
    Scalar,
    kind_of_dtype,
)
from conveyor.data._profile_distribution import categorical_distribution, numeric_distribution
from conveyor.data._profile_numeric import (
    SMALL,
    numeric_moments,
    numeric_stats,
    small_block_stats,
)
from conveyor.data._schema_dtypes import dtype_name
from conveyor.data._tables import to_polars

if TYPE_CHECKING:
    import numpy.typing as npt
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


def profile(
    data: object, *, bins: int = BINS, top: int = TOP, distributions: bool = False
) -> Profile:
    """Per-column statistics of ``data``: nulls, ranges, moments, quantiles, histograms and the
    most frequent values.

    Args:
        data: A pandas or polars DataFrame, a polars LazyFrame (collected), a pyarrow Table or
            a ``Dataset`` (read whole).
        bins: Bins of each numeric column's histogram.
        top: How many of the most frequent values of each string, categorical and boolean
            column are kept.
        distributions: Also keep each numeric and categorical column's whole distribution
            (``ColumnProfile.distribution``): what drift is measured against. About 25 KB per
            column, so only reference profiles (a model version's) carry it.

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
    scalars, counts = _first_pass(frame, kinds)
    numeric = [i for i, kind in enumerate(kinds) if kind == "numeric"]
    numbers = _numeric_pass(frame, numeric, bins, distributions)
    columns: dict[str, ColumnProfile] = {}
    for i, (name, dtype, kind) in enumerate(zip(names, dtypes, kinds, strict=True)):
        fields: dict[str, Any] = {}
        if kind == "numeric":
            nulls, fields = numbers[i]
        elif kind in {"temporal", "categorical"}:
            nulls = int(scalars[f"{i}:nulls"])
        else:
            nulls = frame.to_series(i).null_count()
        if kind == "temporal":
            fields["min"] = _scalar(scalars[f"{i}:min"])
            fields["max"] = _scalar(scalars[f"{i}:max"])
        if kind == "categorical":
            fields.update(_top_values(counts[i], frame.height - nulls, top))
            if distributions:
                fields["distribution"] = categorical_distribution(counts[i])
        columns[name] = ColumnProfile(
            name=name, dtype=dtype, count=frame.height, nulls=nulls, **fields
        )
    return Profile(rows=frame.height, columns=columns)


def _first_pass(
    frame: pl.DataFrame, kinds: list[Kind]
) -> tuple[dict[str, Any], dict[int, pl.DataFrame]]:
    """One ``select`` for the temporal and categorical columns: their null counts and ranges
    by ``"<index>:<stat>"``, and the value counts (value, count; the null row included) of each
    categorical column by index."""
    import polars as pl

    scalar_exprs: list[pl.Expr] = []
    count_exprs: list[pl.Expr] = []
    for i, (name, kind) in enumerate(zip(frame.columns, kinds, strict=True)):
        if kind not in {"temporal", "categorical"}:
            continue
        col = pl.col(name)
        scalar_exprs.append(col.null_count().alias(f"{i}:nulls"))
        if kind == "temporal":
            scalar_exprs += [col.min().alias(f"{i}:min"), col.max().alias(f"{i}:max")]
        else:
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
    frame: pl.DataFrame, columns: list[int], bins: int, distributions: bool
) -> dict[int, tuple[int, dict[str, Any]]]:
    """Per numeric column by index: its null count (NaN included) and its statistics."""
    small = 0 < frame.height <= SMALL
    done = _small_columns(frame, columns, bins, distributions) if small else {}
    columns = [i for i in columns if i not in done]

    def one(i: int) -> tuple[int, tuple[int, dict[str, Any]]]:
        return i, _numeric_column(frame.to_series(i), bins, distributions)

    values = frame.height * len(columns)
    threads = min(_MAX_THREADS, os.cpu_count() or 1, len(columns), values // _VALUES_PER_THREAD)
    if threads <= 1:
        return done | dict(map(one, columns))
    with ThreadPoolExecutor(threads) as pool:
        return done | dict(pool.map(one, columns))


def _small_columns(
    frame: pl.DataFrame, columns: list[int], bins: int, distributions: bool
) -> dict[int, tuple[int, dict[str, Any]]]:
    """The columns of a short table that can be profiled together: those of the same numpy
    dtype with no null, NaN or infinity. A 1-row table of statistics with a hundred columns,
    say, costs a few numpy calls instead of a few per column."""
    import numpy as np

    by_dtype: dict[str, list[tuple[int, npt.NDArray[Any]]]] = {}
    for i in columns:
        series = frame.to_series(i)
        if series.null_count() or dtype_name(series.dtype) not in _NUMPY_NATIVE:
            continue
        values = series.to_numpy()
        by_dtype.setdefault(values.dtype.str, []).append((i, values))
    done: dict[int, tuple[int, dict[str, Any]]] = {}
    for same_dtype in by_dtype.values():
        block = np.stack([values for _, values in same_dtype])
        members = same_dtype
        if block.dtype.kind == "f":
            finite = np.isfinite(block).all(axis=1)
            members = [member for member, ok in zip(same_dtype, finite, strict=True) if ok]
            block = block[finite]
        if len(members) < 2:  # nothing to share: the general path
            continue
        for (i, values), stats in zip(members, small_block_stats(block, bins), strict=True):
            fields: dict[str, Any] = stats._asdict()
            if distributions:
                fields["distribution"] = numeric_distribution(values)
            done[i] = (0, fields)
    return done


def _numeric_column(
    series: pl.Series, bins: int, distributions: bool = False
) -> tuple[int, dict[str, Any]]:
    """The null count of a numeric column, NaN counted as null (a missing value here, as in
    pandas), and its range, mean, std, quantiles and histogram: all from one numpy array,
    which is the column's own buffer when it has no nulls."""
    import numpy as np
    import polars as pl

    if dtype_name(series.dtype) not in _NUMPY_NATIVE:  # decimal, 128-bit integers
        series = series.cast(pl.Float64)
    nulls = series.null_count()
    values = (series.drop_nulls() if nulls else series).to_numpy()
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        missing = int(np.count_nonzero(nan))
        if missing:
            values, nulls = values[~nan], nulls + missing
    if not values.size:
        return nulls, {"min": None, "max": None, "mean": None, "std": None}
    low, high = values.min().item(), values.max().item()
    mean, std = numeric_moments(values)
    quantiles, histogram = numeric_stats(values, low, high, bins)
    stats = {"min": low, "max": high, "mean": mean, "std": std}
    if distributions:
        stats["distribution"] = numeric_distribution(values)
    return nulls, {**stats, "quantiles": quantiles, "histogram": histogram}


def _scalar(value: object) -> Scalar | None:
    """A min or max as JSON-able data: numbers as they are, temporal values as ISO text."""
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return value
    isoformat = getattr(value, "isoformat", None)  # date, time, datetime
    return str(isoformat() if isoformat is not None else value)
