"""The exact quantiles and the histogram of a numeric column, in one numpy pass or two.

Sorting a million values to read seven quantiles costs far more than counting them. So the
values are counted instead: integers with a small range per value (``bincount``), anything
else per fine equal-width bin, ``floor((v - lo) * scale)``. That bin never decreases as ``v``
grows, so the k-th smallest value lies in the fine bin where the cumulative count passes k,
and only the values in the few fine bins that hold a wanted rank, or straddle a histogram
edge, are sorted. The results equal ``numpy.quantile`` and ``numpy.histogram``. Only numpy
work belongs here; the polars side of profiling is in ``_profile_stats.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from conveyor.data._profile import QUANTILES, Histogram, Quantiles, bin_edges

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_FINE_BINS: Final = 4096  # about this many fine bins per column, whatever the histogram's bins
_INT_SPAN: Final = 1 << 16  # integers spanning at most this many values are counted per value
_FEW: Final = 4096  # up to this many values, sorting them all is cheaper than any counting
SMALL: Final = _FEW  # columns this short may be profiled together (``small_block_stats``)


class NumericStats(NamedTuple):
    """Everything a numeric column's profile holds but its null count."""

    min: Any  # the dtype's own scalar: an int stays an int
    max: Any
    mean: float
    std: float | None
    quantiles: Quantiles
    histogram: Histogram


def numeric_stats(
    values: npt.NDArray[Any], lo: float, hi: float, bins: int
) -> tuple[Quantiles, Histogram | None]:
    """Exact quantiles and the ``bins``-bin histogram of ``values`` (no nulls or NaN, at least
    one value), whose smallest and largest are ``lo`` and ``hi``. The histogram spans the
    finite values; None if there are none."""
    import numpy as np

    if values.size <= _FEW:
        return _sorted(values, lo, hi, bins)
    if values.dtype.kind in "iu":
        if int(hi) - int(lo) < _INT_SPAN:
            return _small_integers(values, int(lo), int(hi), bins)
        return _binned(values, float(lo), float(hi), bins)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        finite = values[np.isfinite(values)]
        if not finite.size:  # only infinities: no range to cut into bins
            return _interpolated(np.sort(values)[_ranks(values.size)], values.size), None
        lo, hi = float(finite.min()), float(finite.max())
    return _binned(values, lo, hi, bins)


def numeric_moments(values: npt.NDArray[Any]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (ddof=1; None for a single value) of
    ``values`` (no nulls or NaN, at least one value), accumulated in float64. Infinities give
    NaN or infinity, as arithmetic does."""
    import numpy as np

    with np.errstate(invalid="ignore", over="ignore"):
        mean = float(values.mean(dtype=np.float64))
        if values.size < 2:
            return mean, None
        # Two passes over one scratch array, where numpy.std makes three and two arrays.
        deviations = np.subtract(values, mean, dtype=np.float64)
        np.square(deviations, out=deviations)
        return mean, math.sqrt(float(deviations.sum()) / (values.size - 1))


def _sorted(
    values: npt.NDArray[Any], lo: float, hi: float, bins: int
) -> tuple[Quantiles, Histogram | None]:
    """Read off the sorted values: the quantiles by rank, the histogram by where each edge
    falls among them (infinities in the end bins, as in ``_binned``)."""
    import numpy as np

    ordered = np.sort(values)
    quantiles = _interpolated(ordered[_ranks(ordered.size)], ordered.size)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        finite = ordered[np.isfinite(ordered)]
        if not finite.size:
            return quantiles, None
        lo, hi = float(finite[0]), float(finite[-1])
    return quantiles, _sorted_histogram(ordered, lo, hi, bins)


def _sorted_histogram(ordered: npt.NDArray[Any], lo: float, hi: float, bins: int) -> Histogram:
    import numpy as np

    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5  # as numpy.histogram does
    # Bin i holds edges[i] <= v < edges[i + 1], the last one hi as well: the values below
    # each inner edge, by position in the sorted values.
    below = np.searchsorted(ordered, np.array(bin_edges(lo, hi, bins)[1:-1]), side="left")
    counts = np.diff(np.concatenate([[0], below, [ordered.size]]))
    return Histogram(lo, hi, tuple(int(c) for c in counts))


def small_block_stats(block: npt.NDArray[Any], bins: int) -> list[NumericStats]:
    """The statistics of every row of ``block``: columns of one dtype stacked, each with at
    most ``SMALL`` values (at least one), none of them NaN or infinite.

    For a small table the cost is numpy's overhead per call, not the values: one call per
    statistic covers all the columns here. Each row reduces along contiguous memory, as a
    lone column does, so the results are the same floats ``numeric_moments`` and
    ``numeric_stats`` give.
    """
    import numpy as np

    n = block.shape[1]
    lows, highs = block.min(axis=1), block.max(axis=1)
    ordered = np.sort(block, axis=1)
    picked = ordered[:, _ranks(n)]
    with np.errstate(invalid="ignore", over="ignore"):
        means = block.mean(axis=1, dtype=np.float64)
        deviations = np.subtract(block, means[:, None], dtype=np.float64)
        np.square(deviations, out=deviations)
        squares = deviations.sum(axis=1)
    out = []
    for row in range(block.shape[0]):
        lo, hi = lows[row].item(), highs[row].item()
        std = math.sqrt(float(squares[row]) / (n - 1)) if n > 1 else None
        out.append(
            NumericStats(
                lo,
                hi,
                float(means[row]),
                std,
                _interpolated(picked[row], n),
                _sorted_histogram(ordered[row], float(lo), float(hi), bins),
            )
        )
    return out


def _small_integers(
    values: npt.NDArray[Any], lo: int, hi: int, bins: int
) -> tuple[Quantiles, Histogram]:
    """Counted per value: the k-th smallest is read off the cumulative counts, and each
    distinct value is put in its histogram bin by comparing it with the edges."""
    import numpy as np

    if values.dtype.kind == "u":  # unsigned: lo may not fit an intp, the offsets do
        offsets = (values - values.dtype.type(lo)).astype(np.intp)
    else:
        offsets = np.subtract(values, lo, dtype=np.intp)
    per_value = np.bincount(offsets, minlength=hi - lo + 1)
    cumulative = np.cumsum(per_value)
    found = np.searchsorted(cumulative, _ranks(values.size), side="right")
    quantiles = _interpolated([lo + int(offset) for offset in found], values.size)
    h_lo, h_hi = (lo - 0.5, hi + 0.5) if lo == hi else (float(lo), float(hi))
    edges = np.array(bin_edges(h_lo, h_hi, bins))
    points = np.arange(lo, hi + 1, dtype=np.float64)
    # Bin i holds edges[i] <= v < edges[i + 1]; the last one hi as well.
    bin_of = np.clip(np.searchsorted(edges, points, side="right") - 1, 0, bins - 1)
    counts = np.bincount(bin_of, weights=per_value, minlength=bins)
    return quantiles, Histogram(h_lo, h_hi, tuple(int(c) for c in counts))


def _binned(
    values: npt.NDArray[Any], lo: float, hi: float, bins: int
) -> tuple[Quantiles, Histogram]:
    """Counted per fine bin between ``lo`` and ``hi`` (the finite range); infinities fall in
    the end bins."""
    import numpy as np

    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5  # as numpy.histogram does
    per_bin = max(1, _FINE_BINS // bins)
    fine_bins = bins * per_bin
    scaled = np.subtract(values, lo, dtype=np.float64)
    scaled *= fine_bins / (hi - lo)
    np.clip(scaled, 0, fine_bins - 1, out=scaled)  # hi itself, and infinities, land in range
    fine_index = scaled.astype(np.intp)  # intp: what bincount and take work in, no copy
    fine = np.bincount(fine_index, minlength=fine_bins)
    cumulative = np.cumsum(fine)
    n = values.size

    ranks = _ranks(n)
    rank_bins = np.searchsorted(cumulative, ranks, side="right")
    edge_bins = np.arange(1, bins) * per_bin
    wanted = np.unique(np.concatenate([rank_bins, edge_bins - 1, edge_bins]))
    selected = np.zeros(fine_bins, dtype=bool)
    selected[wanted] = True
    # About 1 % of the values: gathering by position beats a boolean mask here.
    picked = np.sort(values.take(np.flatnonzero(selected.take(fine_index))))
    # Where each wanted fine bin starts in ``picked``, and where it starts overall.
    start_in_picked = np.zeros(fine_bins, dtype=np.int64)
    start_in_picked[wanted] = np.cumsum(fine[wanted]) - fine[wanted]
    start = cumulative - fine
    quantiles = _interpolated(picked[ranks - start[rank_bins] + start_in_picked[rank_bins]], n)

    counts = fine.reshape(bins, per_bin).sum(axis=1)
    # A value within float rounding of an edge may sit in the fine bin on the wrong side of
    # it: count the two fine bins around each edge exactly, by comparing with the edge.
    # ``picked`` is sorted and holds both, so where an edge falls in it, kept within the two,
    # says how many of them lie below the edge.
    below = np.arange(1, bins) * per_bin - 1
    first = start_in_picked[below]
    inner_edges = np.array(bin_edges(lo, hi, bins)[1:-1])
    end = first + fine[below] + fine[below + 1]
    at = np.clip(np.searchsorted(picked, inner_edges, side="left"), first, end)
    moved = at - first - fine[below]
    counts[:-1] += moved
    counts[1:] -= moved
    return quantiles, Histogram(lo, hi, tuple(int(c) for c in counts))


def _ranks(n: int) -> npt.NDArray[np.int64]:
    """The order statistics (0-based) the quantiles interpolate between: each quantile's
    floor rank, then each one's next rank."""
    import numpy as np

    positions = np.array([q for _, q in QUANTILES]) * (n - 1)
    low = np.floor(positions).astype(np.int64)
    return np.concatenate([low, np.minimum(low + 1, n - 1)])


def _interpolated(order_stats: Sequence[Any] | npt.NDArray[Any], n: int) -> Quantiles:
    """Linear interpolation between each quantile's two order statistics, with numpy's
    formula (from the nearer side), so the results equal ``numpy.quantile``'s."""
    half = len(QUANTILES)
    out = []
    for k, (_, q) in enumerate(QUANTILES):
        position = q * (n - 1)
        gamma = position - float(int(position))
        a, b = float(order_stats[k]), float(order_stats[half + k])
        if a == b:
            out.append(a)
        elif gamma >= 0.5:
            out.append(b - (b - a) * (1 - gamma))
        else:
            out.append(a + (b - a) * gamma)
    return Quantiles(*out)
