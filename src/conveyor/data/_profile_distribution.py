"""The whole distribution of a column (``Distribution``), for the reference of drift checks.

Numbers are sorted once; the quantiles at a thousand evenly spaced probabilities and the exact
count of values at or below each are read from the sorted copy. Categories keep the count of
every value. Only computed when asked (``profile(..., distributions=True)``): a table
artifact's profile stays small, a model version's reference profile carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from conveyor.data._profile import Distribution

if TYPE_CHECKING:
    import numpy.typing as npt
    import polars as pl

POINTS: Final = 1000  # intervals of the numeric CDF: quantiles at 0, 1/1000, …, 1
MAX_CATEGORIES: Final = 10_000


def numeric_distribution(values: npt.NDArray[Any]) -> Distribution | None:
    """The distribution of ``values`` (no nulls or NaN); None when none is finite."""
    import numpy as np

    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if not finite.size:
        return None
    ordered = np.sort(finite.astype(np.float64, copy=False))
    intervals = min(POINTS, max(ordered.size - 1, 1))
    points = np.quantile(ordered, np.linspace(0.0, 1.0, intervals + 1))
    at_or_below = np.searchsorted(ordered, points, side="right")
    return Distribution(
        points=tuple(float(p) for p in points),
        at_or_below=tuple(int(c) for c in at_or_below),
    )


def categorical_distribution(counts: pl.DataFrame) -> Distribution:
    """The distribution from value counts (value, ``count``; a null row is dropped), values as
    text (booleans ``"true"``/``"false"``), most frequent first and then by value."""
    import polars as pl

    value = counts.columns[0]
    counts = (
        counts.filter(pl.col(value).is_not_null())
        .with_columns(pl.col(value).cast(pl.String))
        .sort(["count", value], descending=[True, False])
    )
    kept = counts.head(MAX_CATEGORIES)
    pairs = tuple(
        (str(v), int(c))
        for v, c in zip(kept.get_column(value), kept.get_column("count"), strict=True)
    )
    other = int(counts.get_column("count").sum()) - sum(c for _, c in pairs)
    return Distribution(counts=pairs, other=other)
