"""The drift statistics of one feature, from counts: nothing here reads a table.

Numbers: the current window is sorted and searched for the reference's quantile points,
which gives the current empirical CDF at those points. KS is the largest CDF gap there (the
reference keeps a thousand points, so the gap between them is at most 0.001), with the
asymptotic (Kolmogorov) two-sample p-value; PSI and Jensen–Shannon use ten bins cut at the
reference's deciles. Categories: chi-square test of
homogeneity on the two count vectors, PSI and Jensen–Shannon over the categories. A share
clipped at 1e-6 keeps PSI finite where one side has no values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from conveyor.data import Distribution

if TYPE_CHECKING:
    import numpy.typing as npt

EPSILON: Final = 1e-6
DECILES: Final = 10


@dataclass(frozen=True, slots=True)
class Statistics:
    test: str  # "ks" or "chi2"
    statistic: float
    p_value: float
    psi: float
    js: float


def numeric_statistics(reference: Distribution, values: npt.NDArray[Any]) -> Statistics:
    """``values``: the current window's finite, non-null values (at least one)."""
    import numpy as np
    from scipy.special import kolmogorov

    points = np.asarray(reference.points, dtype=np.float64)
    ref_cum = np.asarray(reference.at_or_below, dtype=np.float64)
    n_ref = ref_cum[-1]
    # Sorting the window (a vectorised sort: ~13 ms for a million values) and searching it
    # for the points is five times faster than searching the points for every value.
    cur_cum = np.searchsorted(np.sort(values), points, side="right")
    n_cur = float(values.size)
    gap = float(np.max(np.abs(ref_cum / n_ref - cur_cum / n_cur)))
    # The limiting (Kolmogorov) distribution: scipy's finite-n one takes up to a second for
    # some gaps at a million values and differs from it by O(1/sqrt(n)).
    effective = n_ref * n_cur / (n_ref + n_cur)
    p_value = float(kolmogorov(gap * math.sqrt(effective)))
    # deciles of the reference: every POINTS/10-th point, as numpy.quantile gives them
    step = (points.size - 1) / DECILES
    cuts = sorted({round(step * i) for i in range(1, DECILES)})
    # equal deciles (a column of many equal values) make one edge, as numpy.unique does
    _, first = np.unique(points[cuts], return_index=True)
    chosen = np.asarray(cuts, dtype=np.int64)[first]
    ref_bins = np.diff(np.concatenate(([0.0], ref_cum[chosen], [n_ref]))) / n_ref
    cur_bins = np.diff(np.concatenate(([0.0], cur_cum[chosen], [n_cur]))) / n_cur
    return Statistics("ks", gap, _clamp(p_value), _psi(ref_bins, cur_bins), _js(ref_bins, cur_bins))


def categorical_statistics(reference: Distribution, current: dict[str, int]) -> Statistics:
    """``current``: count per value of the window's non-null values (at least one)."""
    import numpy as np
    from scipy.stats import chi2_contingency

    ref_counts = dict(reference.counts)
    values = list(ref_counts) + [v for v in current if v not in ref_counts]
    ref = np.asarray([ref_counts.get(v, 0) for v in values], dtype=np.float64)
    cur = np.asarray([current.get(v, 0) for v in values], dtype=np.float64)
    if reference.other:  # values past the reference's 10,000 kept ones: one bucket
        ref = np.append(ref, reference.other)
        cur = np.append(cur, 0.0)
    table = np.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = chi2_contingency(table)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    ref_share, cur_share = ref / ref.sum(), cur / cur.sum()
    return Statistics(
        "chi2", statistic, _clamp(p_value), _psi(ref_share, cur_share), _js(ref_share, cur_share)
    )


def _psi(reference: npt.NDArray[Any], current: npt.NDArray[Any]) -> float:
    import numpy as np

    r = np.clip(reference, EPSILON, None)
    c = np.clip(current, EPSILON, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _js(reference: npt.NDArray[Any], current: npt.NDArray[Any]) -> float:
    """Jensen–Shannon distance in base 2: 0 for equal shares, 1 for disjoint ones."""
    import numpy as np

    mid = (reference + current) / 2

    def kl(p: npt.NDArray[Any]) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / mid[mask])))

    divergence = max((kl(reference) + kl(current)) / 2, 0.0)
    return math.sqrt(divergence)


def _clamp(p: float) -> float:
    return min(max(p, 0.0), 1.0) if math.isfinite(p) else 1.0
