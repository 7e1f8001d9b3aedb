"""What a profile is: per-column statistics of a table as frozen plain data, and their JSON form.

A ``Profile`` is stored in the metadata of every table artifact, so its dict form is kept
small: 20 histogram bins and 20 top categories per column, the histogram as its range and
counts (the edges follow from them), and no field that another field implies. Computing a
profile lives in ``_profile_stats.py``, comparing two in ``_profile_diff.py``; this module
imports no table library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from conveyor.core._errors import ConveyorError
from conveyor.data._schema_dtypes import family

if TYPE_CHECKING:
    from conveyor.data._profile_diff import ProfileDiff

FORMAT_VERSION: Final = 1

# (name, fraction) of every quantile a profile records, in order.
QUANTILES: Final[tuple[tuple[str, float], ...]] = (
    ("p01", 0.01),
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
)

Kind = Literal["numeric", "categorical", "temporal", "other"]
Scalar = int | float | str  # a min or max: a number, or an ISO 8601 date, time or datetime


@dataclass(frozen=True, slots=True)
class Quantiles:
    """Quantiles of the non-null values, linearly interpolated (as ``numpy.quantile``)."""

    p01: float
    p05: float
    p25: float
    p50: float
    p75: float
    p95: float
    p99: float

    def to_dict(self) -> dict[str, object]:
        return {name: _encode_float(getattr(self, name)) for name, _ in QUANTILES}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Quantiles:
        return cls(*(_decode_float(data[name]) for name, _ in QUANTILES))


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of the non-null values in equal-width bins from ``lo`` to ``hi``.

    Bin ``i`` holds the values in ``[edges[i], edges[i + 1])``, the last bin ``hi`` too (as
    ``numpy.histogram``). ``lo`` and ``hi`` are the column's smallest and largest finite values
    (widened by 0.5 each way when they are equal); infinite values are counted in the first or
    last bin, so the counts always add up to the non-null count.
    """

    lo: float
    hi: float
    counts: tuple[int, ...]

    @property
    def edges(self) -> tuple[float, ...]:
        """The ``len(counts) + 1`` bin edges, computed as ``numpy.linspace(lo, hi, bins + 1)``."""
        return bin_edges(self.lo, self.hi, len(self.counts))

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class Distribution:
    """A column's whole distribution, kept in a reference profile for drift measurement.

    Numbers: ``points`` are the column's quantiles at 0, 1/K, …, 1 (K = 1000, fewer for
    fewer values; linearly interpolated) and ``at_or_below[i]`` the exact count of values at
    or below ``points[i]``: the empirical CDF at a thousand places, which is what KS, PSI and
    Jensen–Shannon need of the reference. Categories (strings, booleans): ``counts`` of every
    value, most frequent first (at most 10,000; the rest is ``other``). Nulls are left out of
    both.
    """

    points: tuple[float, ...] = ()
    at_or_below: tuple[int, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()
    other: int = 0

    @property
    def total(self) -> int:
        """The non-null values described."""
        if self.at_or_below:
            return self.at_or_below[-1]
        return sum(c for _, c in self.counts) + self.other

    def to_dict(self) -> dict[str, object]:
        if self.points:
            return {
                "points": [_encode_float(p) for p in self.points],
                "at_or_below": list(self.at_or_below),
            }
        return {"counts": [[v, c] for v, c in self.counts], "other": self.other}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Distribution:
        return cls(
            points=tuple(_decode_float(p) for p in data.get("points", ())),
            at_or_below=tuple(int(c) for c in data.get("at_or_below", ())),
            counts=tuple((str(v), int(c)) for v, c in data.get("counts", ())),
            other=int(data.get("other", 0)),
        )


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """Statistics of one column. Which fields are set depends on the ``kind`` of its dtype.

    Attributes:
        name: The column's name.
        dtype: Its dtype in conveyor's vocabulary: ``int64``, ``float64``, ``string``,
            ``bool``, ``categorical``, ``date``, ``datetime`` (``datetime[<zone>]`` with a
            time zone), ``decimal``, ``list``, … or ``other``.
        count: Rows, nulls included.
        nulls: Null values; a float NaN counts as null.
        min: Smallest non-null value (numeric and temporal columns; dates, times and datetimes
            as ISO 8601 text).
        max: Largest non-null value, like ``min``.
        mean: Mean of the non-null values (numeric columns).
        std: Sample standard deviation (``ddof=1``) of the non-null values (numeric columns).
        quantiles: p01 … p99 of the non-null values (numeric columns).
        histogram: Equal-width histogram of the non-null values (numeric columns).
        distinct: Distinct non-null values (strings, categoricals, booleans).
        top: The most frequent values with their counts, most frequent first, ties in value
            order; booleans as ``"true"`` / ``"false"``, values longer than 100 characters cut
            to 99 and ``…``.
        other: Non-null values that are not among ``top``: 0 when ``top`` lists every value.
        distribution: The whole distribution (``Distribution``), in profiles computed with
            ``distributions=True``: the reference a model version keeps for drift.
    """

    name: str
    dtype: str
    count: int
    nulls: int
    min: Scalar | None = None
    max: Scalar | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: Quantiles | None = None
    histogram: Histogram | None = None
    distinct: int | None = None
    top: tuple[tuple[str, int], ...] = ()
    other: int | None = None
    distribution: Distribution | None = None

    @property
    def null_fraction(self) -> float:
        """Nulls over rows; 0.0 for an empty table."""
        return self.nulls / self.count if self.count else 0.0

    @property
    def kind(self) -> Kind:
        return kind_of_dtype(self.dtype)

    @property
    def non_null(self) -> int:
        return self.count - self.nulls


@dataclass(frozen=True, slots=True)
class Profile:
    """Statistics of a table: its row count and a ``ColumnProfile`` per column, in order.

    Create one with ``profile(data)``; ``to_dict()`` / ``Profile.from_dict()`` give and read
    its compact JSON form, ``diff(other)`` what changed between two.

    ``exact`` is False for a profile merged from the profiles of a dataset's parts
    (``merge_profiles``, the output of ``cv.map``): its quantiles, histograms and top values
    are then estimates, within the bounds ``merge_profiles`` states.
    """

    rows: int
    columns: Mapping[str, ColumnProfile]
    exact: bool = True

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[name]

    def diff(self, other: Profile) -> ProfileDiff:
        """What changed from this profile (the reference) to ``other``: see ``profile_diff``."""
        # Imported here: the diff module builds on this one.
        from conveyor.data._profile_diff import profile_diff

        return profile_diff(self, other)

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-able data: ``{"version", "rows", "columns": {name: {...}}}``.

        Per column only the fields that are set appear; infinite and NaN floats are written as
        the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so the result is strict JSON. A merged
        profile has ``"exact": false``.
        """
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "rows": self.rows,
            "columns": {name: _column_to_dict(column) for name, column in self.columns.items()},
        }
        if not self.exact:
            data["exact"] = False
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """The profile ``to_dict`` gave (also after a JSON round trip).

        Raises:
            ConveyorError: ``data`` is not a profile, or one of a newer format.
        """
        try:
            version = data["version"]
            if version > FORMAT_VERSION:
                raise ConveyorError(
                    f"profile format {version} is newer than this version of conveyor reads "
                    f"({FORMAT_VERSION})",
                    version=version,
                )
            rows = int(data["rows"])
            columns = {
                str(name): _column_from_dict(str(name), rows, column)
                for name, column in data["columns"].items()
            }
            exact = bool(data.get("exact", True))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConveyorError(f"not a profile: {exc!r}", error=repr(exc)) from exc
        return cls(rows=rows, columns=columns, exact=exact)


def kind_of_dtype(dtype: str) -> Kind:
    """Which statistics a column of ``dtype`` gets."""
    if dtype == "time":
        return "temporal"
    fam = family(dtype)
    if fam == "numeric":
        return "numeric"
    if fam in {"bool", "string"}:
        return "categorical"
    if fam in {"date", "datetime"}:
        return "temporal"
    return "other"


def bin_edges(lo: float, hi: float, bins: int) -> tuple[float, ...]:
    """``bins + 1`` equal-width edges from ``lo`` to ``hi``, the same floats as
    ``numpy.linspace(lo, hi, bins + 1)``."""
    step = (hi - lo) / bins
    return (*(lo + i * step for i in range(bins)), hi)


# -- the dict form -------------------------------------------------------------------------


def _column_to_dict(column: ColumnProfile) -> dict[str, object]:
    out: dict[str, object] = {"dtype": column.dtype, "nulls": column.nulls}
    for name in ("min", "max", "mean", "std"):
        value = getattr(column, name)
        if value is not None:
            out[name] = _encode_float(value) if isinstance(value, float) else value
    if column.quantiles is not None:
        out["quantiles"] = column.quantiles.to_dict()
    if column.histogram is not None:
        hist = column.histogram
        out["histogram"] = {
            "range": [_encode_float(hist.lo), _encode_float(hist.hi)],
            "counts": list(hist.counts),
        }
    if column.distinct is not None:
        out["distinct"] = column.distinct
        out["top"] = [[value, count] for value, count in column.top]
        out["other"] = column.other
    if column.distribution is not None:
        out["distribution"] = column.distribution.to_dict()
    return out


def _column_from_dict(name: str, rows: int, data: Mapping[str, Any]) -> ColumnProfile:
    hist = data.get("histogram")
    quantiles = data.get("quantiles")
    mean, std = data.get("mean"), data.get("std")
    return ColumnProfile(
        name=name,
        dtype=str(data["dtype"]),
        count=rows,
        nulls=int(data["nulls"]),
        min=_decode_scalar(data.get("min")),
        max=_decode_scalar(data.get("max")),
        mean=None if mean is None else _decode_float(mean),
        std=None if std is None else _decode_float(std),
        quantiles=None if quantiles is None else Quantiles.from_dict(quantiles),
        histogram=None
        if hist is None
        else Histogram(
            lo=_decode_float(hist["range"][0]),
            hi=_decode_float(hist["range"][1]),
            counts=tuple(int(c) for c in hist["counts"]),
        ),
        distinct=None if data.get("distinct") is None else int(data["distinct"]),
        top=tuple((str(value), int(count)) for value, count in data.get("top", ())),
        other=None if data.get("other") is None else int(data["other"]),
        distribution=None
        if data.get("distribution") is None
        else Distribution.from_dict(data["distribution"]),
    )


_NON_FINITE: Final = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _encode_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _decode_float(value: object) -> float:
    if isinstance(value, str):
        return _NON_FINITE[value]
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _decode_scalar(value: object) -> Scalar | None:
    # A min or max is a number, ISO text, or a non-finite float written as text.
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if value is None or isinstance(value, int | float | str):
        return value
    raise TypeError(f"expected a number or text, got {value!r}")
