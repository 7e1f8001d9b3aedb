"""``drift(reference, current)``: how far a window of production data has moved from the data
a model was trained on, feature by feature.

The reference is a profile with whole distributions (what ``cv.models.register(...,
reference=...)`` stores with a version), a model reference such as ``"churn@production"``
(its version's profile), or a table, profiled here. The current window is any table or
``cv.Dataset``. Every statistic is computed for every shared feature; ``method`` and
``threshold`` only decide which features are flagged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from conveyor.core import Settings
from conveyor.core._errors import ConveyorError
from conveyor.data import Distribution, Profile
from conveyor.monitoring._drift_stats import (
    Statistics,
    categorical_statistics,
    numeric_statistics,
)

if TYPE_CHECKING:
    import polars as pl

Method = Literal["psi", "js", "p_value"]
DEFAULT_THRESHOLDS: Final[Mapping[str, float]] = {"psi": 0.1, "js": 0.1, "p_value": 0.05}
_VALUES_PER_THREAD: Final = 2_000_000  # below this, threads cost more than they save


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """The drift of one feature.

    Attributes:
        name: The column.
        kind: ``"numeric"`` or ``"categorical"``.
        test: ``"ks"`` (two-sample Kolmogorov–Smirnov) or ``"chi2"`` (chi-square test of
            homogeneity).
        statistic: The test's statistic (KS: the largest gap between the two CDFs).
        p_value: The test's p-value: small when the two samples are unlikely to share a
            distribution. With large windows even a negligible shift gives a tiny p-value.
        psi: Population stability index (numbers: ten bins at the reference's deciles).
        js: Jensen–Shannon distance (base 2: 0 same, 1 disjoint), over the same bins.
        drifted: Whether ``method`` flags it at ``threshold``.
        reference_count: Non-null values in the reference.
        current_count: Non-null values in the window.
        current_nulls: Null values in the window.
    """

    name: str
    kind: str
    test: str
    statistic: float
    p_value: float
    psi: float
    js: float
    drifted: bool
    reference_count: int
    current_count: int
    current_nulls: int

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "psi": self.psi,
            "js": self.js,
            "drifted": self.drifted,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "current_nulls": self.current_nulls,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Per-feature drift of a window against a reference, and the share of drifted features.

    Attributes:
        features: ``FeatureDrift`` per feature measured, in the reference's column order.
        method: What flags a feature: ``"psi"`` (PSI >= threshold), ``"js"`` (Jensen–Shannon
            distance >= threshold) or ``"p_value"`` (the test's p-value < threshold).
        threshold: The threshold ``method`` used.
        reference_rows: Rows of the reference.
        current_rows: Rows of the window.
        skipped: Features not measured, with why (missing from the window, no values, or of
            another kind than in the reference).
    """

    features: Mapping[str, FeatureDrift]
    method: str
    threshold: float
    reference_rows: int
    current_rows: int
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        """The drifted features, in column order."""
        return [name for name, feature in self.features.items() if feature.drifted]

    @property
    def share_drifted(self) -> float:
        """Drifted features over measured ones (0.0 when none was measured)."""
        return len(self.drifted) / len(self.features) if self.features else 0.0

    def __getitem__(self, name: str) -> FeatureDrift:
        return self.features[name]

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "threshold": self.threshold,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "share_drifted": self.share_drifted,
            "drifted": self.drifted,
            "features": {name: f.to_dict() for name, f in self.features.items()},
            "skipped": dict(self.skipped),
        }


def drift(
    reference: object,
    current: object,
    *,
    method: Method = "psi",
    threshold: float | None = None,
    columns: Iterable[str] | None = None,
    settings: Settings | None = None,
) -> DriftReport:
    """Measure the drift of ``current`` from ``reference``, feature by feature.

    Args:
        reference: A ``Profile`` computed with ``distributions=True``, a model reference
            (``"churn@production"``, ``"churn@3"``: the profile stored with that version), or
            a table or ``cv.Dataset`` (profiled now).
        current: The window: a pandas or polars DataFrame, a pyarrow Table or a
            ``cv.Dataset``.
        method: What flags a feature: ``"psi"`` (default), ``"js"`` or ``"p_value"``.
        threshold: Its threshold; default 0.1 for PSI and Jensen–Shannon, 0.05 for p-values.
        columns: Only these features (default: every numeric and categorical column of the
            reference).
        settings: Where the registry is, for a model reference (default: the environment).

    Raises:
        ConveyorError: an unknown method; a reference without distributions; a named column
            the reference does not have; ``current`` is not a table.
    """
    if method not in DEFAULT_THRESHOLDS:
        raise ConveyorError(
            f"unknown drift method {method!r}; choose one of: {', '.join(DEFAULT_THRESHOLDS)}",
            method=method,
        )
    limit = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    profile = reference_profile(reference, settings=settings)
    wanted = _features(profile, columns)
    frame = _as_frame(current)
    skipped: dict[str, str] = {}
    jobs: list[tuple[str, Distribution]] = []
    for name in wanted:
        distribution = profile.columns[name].distribution
        if distribution is None or not distribution.total:
            skipped[name] = "the reference has no values"
        elif name not in frame.columns:
            skipped[name] = "missing from the current data"
        else:
            jobs.append((name, distribution))

    def one(job: tuple[str, Distribution]) -> tuple[str, FeatureDrift | str]:
        name, distribution = job
        return name, _feature(name, distribution, frame.get_column(name), method, limit)

    values = frame.height * len(jobs)
    threads = min(os.cpu_count() or 1, len(jobs), max(values // _VALUES_PER_THREAD, 1))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            measured = dict(pool.map(one, jobs))
    else:
        measured = dict(map(one, jobs))
    features: dict[str, FeatureDrift] = {}
    for name, _ in jobs:
        result = measured[name]
        if isinstance(result, str):
            skipped[name] = result
        else:
            features[name] = result
    return DriftReport(
        features=features,
        method=method,
        threshold=limit,
        reference_rows=profile.rows,
        current_rows=frame.height,
        skipped=skipped,
    )


def reference_profile(reference: object, *, settings: Settings | None = None) -> Profile:
    """The profile drift is measured against (see ``drift``'s ``reference``)."""
    if isinstance(reference, Profile):
        profile = reference
    elif isinstance(reference, str):
        from conveyor.registry import get

        version = get(reference, settings=settings)
        found = version.profile(settings=settings)
        if found is None:
            raise ConveyorError(
                f"{version.name}@{version.version} was registered without reference data: "
                "register it with reference=<training data> to measure drift against it",
                model=version.name,
                version=version.version,
            )
        profile = found
    else:
        from conveyor.data import profile as compute

        profile = compute(reference, distributions=True)
    if not any(c.distribution is not None for c in profile.columns.values()):
        raise ConveyorError(
            "the reference profile keeps no distributions: compute it with "
            "cv.profile(data, distributions=True), or register the model with reference=",
        )
    return profile


def _features(profile: Profile, columns: Iterable[str] | None) -> list[str]:
    measurable = [
        name
        for name, column in profile.columns.items()
        if column.kind in {"numeric", "categorical"}
    ]
    if columns is None:
        return measurable
    chosen = list(columns)
    unknown = [name for name in chosen if name not in profile.columns]
    if unknown:
        raise ConveyorError(
            f"the reference has no column {', '.join(map(repr, unknown))}; it has: "
            f"{', '.join(profile.columns)}",
            columns=unknown,
        )
    return chosen


def _as_frame(current: object) -> pl.DataFrame:
    from conveyor.data._tables import to_polars

    return to_polars(current)


def _feature(
    name: str, reference: Distribution, series: pl.Series, method: str, limit: float
) -> FeatureDrift | str:
    import numpy as np
    import polars as pl

    numeric = bool(reference.points)
    nulls = series.null_count()
    if numeric:
        if not series.dtype.is_numeric():
            return f"numeric in the reference, {series.dtype} in the current data"
        values = series.drop_nulls().cast(pl.Float64).to_numpy()
        finite = np.isfinite(values)
        if not finite.all():
            nulls += int(np.count_nonzero(np.isnan(values)))
            values = values[finite]
        if not values.size:
            return "no values in the current data"
        stats: Statistics = numeric_statistics(reference, values)
    else:
        counts = series.drop_nulls().cast(pl.String).value_counts(name="count")
        if not counts.height:
            return "no values in the current data"
        current = dict(
            zip(counts.get_column(series.name), counts.get_column("count").to_list(), strict=True)
        )
        stats = categorical_statistics(reference, current)
    flagged = stats.p_value < limit if method == "p_value" else getattr(stats, method) >= limit
    return FeatureDrift(
        name=name,
        kind="numeric" if numeric else "categorical",
        test=stats.test,
        statistic=stats.statistic,
        p_value=stats.p_value,
        psi=stats.psi,
        js=stats.js,
        drifted=bool(flagged),
        reference_count=reference.total,
        current_count=int(series.len() - nulls),
        current_nulls=int(nulls),
    )
