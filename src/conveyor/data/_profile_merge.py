"""``merge_profiles``: the profile of a dataset from the profiles of its parts, without reading
a row again.

``cv.map`` stores every part with its profile; the dataset the parts make is profiled by
merging them (``conveyor data show`` / ``diff`` of a map's output). Counts, nulls, ranges,
means and standard deviations combine exactly (the means and deviations up to float
rounding, as Chan's parallel formulas do). Quantiles and histograms cannot: each part only
recorded its range, seven quantiles and a histogram. Each part's distribution is taken as
piecewise linear between those recorded points, the parts' counts are added up, and the
quantiles and histogram are read off the sum. Where a part's values lie between two of its
recorded points is unknown, so a merged quantile's rank can be off by at most the share of
that part's values between them (within a histogram bin, or between two neighbouring
quantiles), and only for the parts whose values straddle it: in practice a small fraction of
a percent of the rows. Top values add up exactly when every part listed all of its values
(``other == 0``); otherwise their counts are lower bounds, as is ``distinct``. Such a
profile says ``exact=False``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from conveyor.data._profile import QUANTILES, ColumnProfile, Histogram, Profile, Quantiles
from conveyor.data._profile import bin_edges as _bin_edges

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BINS = 20
TOP = 20


def merge_profiles(
    profiles: Sequence[Profile], *, bins: int = BINS, top: int = TOP
) -> Profile | None:
    """The profile of the rows of all ``profiles`` together, in order; None when the parts do
    not have the same columns with the same dtypes, or a numeric part holds an infinity
    (then only reading the rows gives the profile)."""
    if not profiles:
        return None
    if len(profiles) == 1:
        return profiles[0]
    first = profiles[0]
    layout = [(name, column.dtype) for name, column in first.columns.items()]
    for other in profiles[1:]:
        if [(name, column.dtype) for name, column in other.columns.items()] != layout:
            return None
    columns: dict[str, ColumnProfile] = {}
    exact = True
    for name, dtype in layout:
        parts = [p.columns[name] for p in profiles]
        merged = _merge_column(name, dtype, parts, bins, top)
        if merged is None:
            return None
        columns[name], column_exact = merged
        exact = exact and column_exact
    return Profile(rows=sum(p.rows for p in profiles), columns=columns, exact=exact)


def _merge_column(
    name: str, dtype: str, parts: list[ColumnProfile], bins: int, top: int
) -> tuple[ColumnProfile, bool] | None:
    count = sum(p.count for p in parts)
    nulls = sum(p.nulls for p in parts)
    kind = parts[0].kind
    fields: dict[str, Any] = {}
    exact = True
    if kind == "temporal":
        fields["min"] = _extreme(min, [p.min for p in parts], _iso_key)
        fields["max"] = _extreme(max, [p.max for p in parts], _iso_key)
    elif kind == "numeric":
        present = [p for p in parts if p.non_null]
        if any(not _finite(p.min) or not _finite(p.max) for p in present):
            return None
        fields["min"] = _extreme(min, [p.min for p in present], float)
        fields["max"] = _extreme(max, [p.max for p in present], float)
        fields["mean"], fields["std"] = _moments(present)
        if present:
            quantiles, histogram = _distribution(present, bins)
            fields["quantiles"], fields["histogram"] = quantiles, histogram
            exact = len(present) == 1
            if exact:
                fields["quantiles"], fields["histogram"] = (
                    present[0].quantiles,
                    present[0].histogram,
                )
    elif kind == "categorical":
        fields, exact = _top_values(parts, count - nulls, top)
    column = ColumnProfile(name=name, dtype=dtype, count=count, nulls=nulls, **fields)
    return column, exact


def _finite(value: object) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _extreme(pick: Callable[..., Any], values: list[Any], key: Callable[[Any], Any]) -> Any:
    known = [v for v in values if v is not None]
    return pick(known, key=key) if known else None


def _iso_key(value: str) -> Any:
    """Temporal values are ISO text; compared as what they stand for (offsets differ)."""
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return dt.time.fromisoformat(value)


def _moments(parts: list[ColumnProfile]) -> tuple[float | None, float | None]:
    """The mean and sample standard deviation of the parts' values (Chan et al.)."""
    total = sum(p.non_null for p in parts)
    if not total:
        return None, None
    mean = sum(p.non_null * (p.mean or 0.0) for p in parts) / total
    if total < 2:
        return mean, None
    m2 = sum(
        (p.non_null - 1) * (p.std or 0.0) ** 2 + p.non_null * ((p.mean or 0.0) - mean) ** 2
        for p in parts
    )
    return mean, math.sqrt(m2 / (total - 1))


def _knots(part: ColumnProfile) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points (value, how many of the part's values are at most that value) its profile
    records exactly or nearly: the range, the quantiles and the histogram's inner edges."""
    import numpy as np

    n = part.non_null
    low, high = float(part.min), float(part.max)  # type: ignore[arg-type]
    xs: list[float] = [low, high]
    ranks: list[float] = [1.0, float(n)]
    if part.quantiles is not None:
        for label, q in QUANTILES:
            xs.append(getattr(part.quantiles, label))
            ranks.append(q * (n - 1) + 1)
    if part.histogram is not None:
        hist = part.histogram
        below = 0
        for edge, inside in zip(hist.edges[1:-1], hist.counts[:-1], strict=True):
            below += inside
            if low < edge < high:
                xs.append(edge)
                ranks.append(min(max(below + 0.5, 1.0), float(n)))
    x = np.array(xs)
    order = np.lexsort((np.array(ranks), x))
    return x[order], np.maximum.accumulate(np.array(ranks)[order])


def _distribution(parts: list[ColumnProfile], bins: int) -> tuple[Quantiles, Histogram]:
    import numpy as np

    knots = [_knots(p) for p in parts]
    points = np.unique(np.concatenate([x for x, _ in knots]))
    # How many values are at most each point, summed over the parts: 0 below a part's
    # minimum, linear between its recorded points.
    at_most = np.zeros(points.size)
    for x, counts in knots:
        at_most += np.interp(points, x, counts, left=0.0, right=counts[-1])
    total = sum(p.non_null for p in parts)
    wanted = np.array([q * (total - 1) + 1 for _, q in QUANTILES])
    values = np.interp(wanted, at_most, points)
    quantiles = Quantiles(*(float(v) for v in values))
    low, high = float(points[0]), float(points[-1])
    if low == high:
        low, high = low - 0.5, high + 0.5  # as numpy.histogram does
    inner = np.array(_bin_edges(low, high, bins)[1:-1])
    below = np.interp(inner, points, at_most, left=0.0, right=float(total))
    cumulative = np.clip(np.round(np.maximum.accumulate(below)), 0, total).astype(np.int64)
    counts = np.diff(np.concatenate([[0], cumulative, [total]]))
    return quantiles, Histogram(low, high, tuple(int(c) for c in counts))


def _top_values(parts: list[ColumnProfile], non_null: int, top: int) -> tuple[dict[str, Any], bool]:
    counted: dict[str, int] = {}
    for part in parts:
        for value, n in part.top:
            counted[value] = counted.get(value, 0) + n
    complete = all(p.other == 0 for p in parts)
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:top]
    distinct = len(counted) if complete else max([len(counted), *(p.distinct or 0 for p in parts)])
    fields = {
        "distinct": distinct,
        "top": tuple(ranked),
        "other": non_null - sum(n for _, n in ranked),
    }
    return fields, complete
