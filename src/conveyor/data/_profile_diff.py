"""``profile_diff(a, b)``: what changed between two profiles, as plain data.

Only the two profiles are compared, never the tables, so a diff is cheap and works on the
profiles stored with artifacts long ago. The distribution shift of a column is a population
stability index (PSI) over the reference's histogram bins (the other side re-binned from its
own histogram, values taken as spread evenly within each bin) or over the top categories of
both, so it is an estimate. Pure Python: no table library is imported.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from conveyor.data._profile import ColumnProfile, Histogram, Profile, Scalar

PSI_THRESHOLD: Final = 0.2  # a common rule of thumb: below 0.1 stable, above 0.2 shifted
_EPSILON: Final = 1e-4  # the share an empty bin counts as, so the PSI stays finite


@dataclass(frozen=True, slots=True)
class Change:
    """A value in the reference profile (``before``) and in the other one (``after``)."""

    before: Scalar | None
    after: Scalar | None

    @property
    def absolute(self) -> float | None:
        """``after - before`` for two numbers, else None."""
        if _is_number(self.before) and _is_number(self.after):
            return float(self.after) - float(self.before)
        return None

    @property
    def relative(self) -> float | None:
        """``(after - before) / |before|`` for two numbers with ``before`` not 0, else None."""
        absolute = self.absolute
        if absolute is None or not _is_number(self.before) or self.before == 0:
            return None
        return absolute / abs(float(self.before))

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_dict(self) -> dict[str, object]:
        return {
            "before": _json_value(self.before),
            "after": _json_value(self.after),
            "absolute": _json_value(self.absolute),
            "relative": _json_value(self.relative),
        }


@dataclass(frozen=True, slots=True)
class ColumnDiff:
    """How a column present in both profiles changed.

    Attributes:
        name: The column.
        dtype: Dtype names before and after.
        null_fraction: Share of nulls before and after.
        mean: Mean before and after, when the column is numeric on both sides.
        std: Standard deviation, likewise.
        min: Smallest value, when the column is numeric or temporal on both sides (dates and
            datetimes as ISO text: ``absolute`` and ``relative`` are then None).
        max: Largest value, likewise.
        new_categories: Values among the other profile's top values that the reference does
            not have. Reported only when the reference lists all its values (at most 20), as
            only then is a missing value known to be absent.
        missing_categories: Values of the reference that the other profile does not have, when
            the other profile lists all its values.
        psi: Population stability index of the distribution: over the reference's histogram
            bins for numbers, the top values of both plus "the rest" for categories; None
            when the column is neither on both sides or a side has no non-null value.
    """

    name: str
    dtype: Change
    null_fraction: Change
    mean: Change | None = None
    std: Change | None = None
    min: Change | None = None
    max: Change | None = None
    new_categories: tuple[str, ...] = ()
    missing_categories: tuple[str, ...] = ()
    psi: float | None = None

    @property
    def dtype_changed(self) -> bool:
        return self.dtype.changed

    def to_dict(self) -> dict[str, object]:
        def change(value: Change | None) -> dict[str, object] | None:
            return None if value is None else value.to_dict()

        return {
            "dtype": {"before": self.dtype.before, "after": self.dtype.after},
            "null_fraction": self.null_fraction.to_dict(),
            "mean": change(self.mean),
            "std": change(self.std),
            "min": change(self.min),
            "max": change(self.max),
            "new_categories": list(self.new_categories),
            "missing_categories": list(self.missing_categories),
            "psi": _json_value(self.psi),
        }


@dataclass(frozen=True, slots=True)
class ProfileDiff:
    """What changed from a reference profile to another.

    Attributes:
        rows: Row counts before and after.
        added: Columns only in the other profile, in its order.
        removed: Columns only in the reference, in its order.
        columns: A ``ColumnDiff`` for each column in both, in the reference's order.
    """

    rows: Change
    added: tuple[str, ...]
    removed: tuple[str, ...]
    columns: Mapping[str, ColumnDiff]

    @property
    def dtype_changes(self) -> tuple[str, ...]:
        """Columns in both profiles whose dtype changed."""
        return tuple(name for name, column in self.columns.items() if column.dtype_changed)

    def drifted(self, threshold: float = PSI_THRESHOLD) -> tuple[str, ...]:
        """Columns whose distribution shifted: PSI at or above ``threshold``."""
        return tuple(
            name
            for name, column in self.columns.items()
            if column.psi is not None and column.psi >= threshold
        )

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON-able data (non-finite floats as ``"inf"``, ``"-inf"``, ``"nan"``)."""
        return {
            "rows": self.rows.to_dict(),
            "added": list(self.added),
            "removed": list(self.removed),
            "dtype_changes": list(self.dtype_changes),
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }


def profile_diff(a: Profile, b: Profile) -> ProfileDiff:
    """What changed from profile ``a`` (the reference) to profile ``b``.

    Args:
        a: The reference, e.g. the profile of the training data.
        b: The profile compared with it, e.g. of newer data.

    Returns:
        Added and removed columns, the row counts, and for each column in both its dtype, null
        share, moments, range, new and missing categories and PSI (see ``ColumnDiff``).
    """
    return ProfileDiff(
        rows=Change(a.rows, b.rows),
        added=tuple(name for name in b.columns if name not in a.columns),
        removed=tuple(name for name in a.columns if name not in b.columns),
        columns={
            name: column_diff(column, b.columns[name])
            for name, column in a.columns.items()
            if name in b.columns
        },
    )


def column_diff(a: ColumnProfile, b: ColumnProfile) -> ColumnDiff:
    """What changed from column profile ``a`` (the reference) to ``b``."""
    fields: dict[str, Any] = {}
    if a.kind == b.kind and a.kind in {"numeric", "temporal"}:
        fields["min"] = Change(a.min, b.min)
        fields["max"] = Change(a.max, b.max)
    if a.kind == b.kind == "numeric":
        fields["mean"] = Change(a.mean, b.mean)
        fields["std"] = Change(a.std, b.std)
        if a.histogram is not None and b.histogram is not None:
            fields["psi"] = histogram_psi(a.histogram, b.histogram)
    if a.kind == b.kind == "categorical" and a.distinct is not None and b.distinct is not None:
        before, after = dict(a.top), dict(b.top)
        if a.other == 0:
            fields["new_categories"] = tuple(v for v in after if v not in before)
        if b.other == 0:
            fields["missing_categories"] = tuple(v for v in before if v not in after)
        if a.non_null and b.non_null:
            fields["psi"] = category_psi(a, b)
    return ColumnDiff(
        name=a.name,
        dtype=Change(a.dtype, b.dtype),
        null_fraction=Change(a.null_fraction, b.null_fraction),
        **fields,
    )


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two histograms over the same bins (counts or shares):
    ``sum((a - e) * ln(a / e))`` over the shares, an empty bin counting as 0.01 %."""
    total_e, total_a = sum(expected), sum(actual)
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        share_e = max(e / total_e, _EPSILON)
        share_a = max(a / total_a, _EPSILON)
        value += (share_a - share_e) * math.log(share_a / share_e)
    return value


def histogram_psi(reference: Histogram, other: Histogram) -> float:
    """PSI over ``reference``'s bins, ``other`` re-binned onto them (see ``rebinned``)."""
    return psi(reference.counts, rebinned(other, reference.edges))


def rebinned(hist: Histogram, edges: Sequence[float]) -> list[float]:
    """The counts of ``hist`` over the bins ``edges``, taking values as spread evenly within
    each of its own bins; what lies below or above ``edges`` goes to the first or last bin."""
    own = hist.edges
    cumulative = [0.0]
    for count in hist.counts:
        cumulative.append(cumulative[-1] + count)

    def below(x: float) -> float:  # how many values are below x
        if x <= own[0]:
            return 0.0
        if x >= own[-1]:
            return cumulative[-1]
        i = bisect.bisect_right(own, x) - 1
        width = own[i + 1] - own[i]
        return cumulative[i] + hist.counts[i] * ((x - own[i]) / width if width else 1.0)

    at_edges = [below(x) for x in edges]
    counts = [at_edges[i + 1] - at_edges[i] for i in range(len(edges) - 1)]
    counts[0] += at_edges[0]
    counts[-1] += cumulative[-1] - at_edges[-1]
    return counts


def category_psi(reference: ColumnProfile, other: ColumnProfile) -> float:
    """PSI over the values among either profile's top values, plus one bin for the rest.

    A value listed by one profile but not by the other, whose top values leave some out, is
    given there the average count of the values it leaves out.
    """
    values = list(dict.fromkeys([v for v, _ in reference.top] + [v for v, _ in other.top]))
    return psi(_category_counts(reference, values), _category_counts(other, values))


def _category_counts(column: ColumnProfile, values: Sequence[str]) -> list[float]:
    """The counts of ``values`` in ``column`` (known or estimated), then of all the rest."""
    listed = dict(column.top)
    rest = float(column.other or 0)
    unlisted = (column.distinct or 0) - len(listed)
    absent = sum(1 for v in values if v not in listed)
    # Estimates may not add up to more than the unlisted values hold.
    estimate = min(rest / unlisted, rest / absent) if unlisted > 0 and absent else 0.0
    counts = [float(listed[v]) if v in listed else estimate for v in values]
    counts.append(max(0.0, column.non_null - sum(counts)))
    return counts


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_value(value: Scalar | None) -> Scalar | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
