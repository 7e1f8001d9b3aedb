"""``cv.monitoring.drift``: each statistic against scipy and a plain numpy computation on the
full data, flags and thresholds, references from profiles, tables and model versions, and the
errors for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import conveyor as cv
from conveyor.data import Profile
from conveyor.errors import ConveyorError
from conveyor.monitoring import drift
from conveyor.testing import settings_for

RNG = np.random.default_rng(7)
N = 20_000


def table(shift: float = 0.0, scale: float = 1.0, weights: tuple[float, ...] = (0.5, 0.3, 0.2)):
    rng = np.random.default_rng(int(shift * 1000 + scale * 100) + len(weights))
    return pl.DataFrame(
        {
            "x": rng.normal(shift, scale, N).round(3),
            "n": rng.integers(0, 50, N),
            "c": rng.choice(["a", "b", "c"], N, p=list(weights)),
        }
    )


def reference_of(frame: pl.DataFrame) -> Profile:
    # through JSON, as a model version's stored profile is read back
    stored = json.dumps(cv.profile(frame, distributions=True).to_dict())
    return Profile.from_dict(json.loads(stored))


def decile_bins(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ten reference-decile bins of the shared harness' numpy reference."""
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, 11)[1:-1]))
    ref, cur = np.sort(ref), np.sort(cur)
    pr = np.diff(np.searchsorted(ref, edges, side="right"), prepend=0, append=len(ref)) / len(ref)
    pk = np.diff(np.searchsorted(cur, edges, side="right"), prepend=0, append=len(cur)) / len(cur)
    return pr, pk


def psi(pr: np.ndarray, pk: np.ndarray) -> float:
    pr, pk = np.clip(pr, 1e-6, None), np.clip(pk, 1e-6, None)
    return float(np.sum((pk - pr) * np.log(pk / pr)))


def test_numeric_statistics_agree_with_scipy_and_numpy_on_the_full_data() -> None:
    ref, cur = table(), table(shift=0.05, scale=1.1)
    report = drift(reference_of(ref), cur)
    x = report["x"]
    r, k = ref["x"].to_numpy(), cur["x"].to_numpy()
    exact = stats.ks_2samp(r, k, method="asymp")
    # The reference keeps its CDF at 1001 points: the largest gap is read there, never above
    # the exact one and within one point's step of it.
    assert x.test == "ks"
    assert exact.statistic - 0.002 <= x.statistic <= exact.statistic + 1e-12
    assert x.p_value == pytest.approx(exact.pvalue, rel=0.5, abs=1e-6)
    pr, pk = decile_bins(r, k)
    assert x.psi == pytest.approx(psi(pr, pk), rel=1e-9, abs=1e-12)
    assert x.js == pytest.approx(float(jensenshannon(pr, pk, base=2)), rel=1e-9, abs=1e-12)
    assert (x.reference_count, x.current_count, x.current_nulls) == (N, N, 0)


def test_categorical_statistics_agree_with_scipy() -> None:
    ref, cur = table(), table(weights=(0.4, 0.3, 0.3))
    c = drift(reference_of(ref), cur)["c"]
    counts = [[ref["c"].to_list().count(v), cur["c"].to_list().count(v)] for v in ("a", "b", "c")]
    table_ = np.asarray(counts, dtype=float).T
    expected = stats.chi2_contingency(table_)
    assert c.test == "chi2"
    assert c.statistic == pytest.approx(expected.statistic)
    assert c.p_value == pytest.approx(expected.pvalue)
    pr, pk = table_[0] / table_[0].sum(), table_[1] / table_[1].sum()
    assert c.psi == pytest.approx(psi(pr, pk))
    assert c.js == pytest.approx(float(jensenshannon(pr, pk, base=2)))


def test_the_same_data_does_not_drift_and_a_shift_does() -> None:
    ref = table()
    same = drift(reference_of(ref), ref)
    assert same.drifted == []
    assert same.share_drifted == 0.0
    for feature in same.features.values():
        assert feature.psi == pytest.approx(0.0, abs=1e-9)
        assert feature.statistic == pytest.approx(0.0, abs=1e-9)
        assert feature.p_value == pytest.approx(1.0)
    moved = drift(reference_of(ref), table(shift=1.0, weights=(0.1, 0.2, 0.7)))
    assert moved.drifted == ["x", "c"]
    assert moved.share_drifted == pytest.approx(2 / 3)


def test_the_method_and_threshold_decide_the_flags() -> None:
    reference, current = reference_of(table()), table(shift=0.05)
    by_psi = drift(reference, current)  # a small shift: PSI far below 0.1
    assert (by_psi.method, by_psi.threshold, by_psi.drifted) == ("psi", 0.1, [])
    by_test = drift(reference, current, method="p_value")  # 20,000 rows: the test sees it
    assert by_test.threshold == 0.05
    assert "x" in by_test.drifted
    assert drift(reference, current, method="psi", threshold=1e-4).drifted[0] == "x"
    assert drift(reference, current, method="js", threshold=0.9).drifted == []


def test_nulls_are_left_out_and_counted() -> None:
    ref = table()
    cur = table().with_columns(
        pl.when(pl.int_range(N) % 10 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    x = drift(reference_of(ref), cur)["x"]
    assert (x.current_count, x.current_nulls) == (N - N // 10, N // 10)
    assert not x.drifted


def test_every_table_kind_and_a_dataset_can_be_the_window(tmp_path: Path) -> None:
    ref = table()
    reference = reference_of(ref)
    path = tmp_path / "window.parquet"
    ref.write_parquet(path)
    for current in (ref, ref.to_pandas(), ref.to_arrow(), cv.read_parquet(str(path))):
        assert drift(reference, current).drifted == []


def test_a_table_can_be_the_reference() -> None:
    ref = table()
    assert drift(ref.to_pandas(), table(shift=1.0)).drifted == ["x"]


def test_columns_limit_the_features_and_gaps_are_reported() -> None:
    reference = reference_of(table())
    only = drift(reference, table(shift=1.0), columns=["c"])
    assert list(only.features) == ["c"]
    window = table().drop("n").with_columns(pl.col("x").cast(pl.String))
    report = drift(reference, window)
    assert list(report.features) == ["c"]
    assert report.skipped == {
        "x": "numeric in the reference, String in the current data",
        "n": "missing from the current data",
    }
    assert report.to_dict()["skipped"] == report.skipped


def test_bad_input_gets_a_clear_error() -> None:
    reference = reference_of(table())
    with pytest.raises(ConveyorError, match="unknown drift method 'ks'"):
        drift(reference, table(), method="ks")  # type: ignore[arg-type]
    with pytest.raises(ConveyorError, match="no column 'nope'"):
        drift(reference, table(), columns=["nope"])
    with pytest.raises(ConveyorError, match="distributions=True"):
        drift(cv.profile(table()), table())
    with pytest.raises(ConveyorError):
        drift(reference, {"not": "a table"})


def test_the_report_is_json() -> None:
    report = drift(reference_of(table()), table(shift=1.0))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["drifted"] == ["x"]
    assert set(data["features"]["x"]) >= {"psi", "js", "p_value", "statistic", "drifted"}
    assert not math.isnan(data["features"]["c"]["js"])


def test_a_model_version_is_its_own_reference(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    settings = settings_for(tmp_path / "home")
    frame = pd.DataFrame({"a": RNG.normal(size=500), "b": RNG.normal(size=500)})
    model = LinearRegression().fit(frame, frame["a"] + frame["b"])
    cv.models.register("lin", model, reference=frame, settings=settings)
    cv.models.register("bare", model, settings=settings)
    shifted = frame.assign(a=frame["a"] + 2)
    assert drift("lin@latest", shifted, settings=settings).drifted == ["a"]
    with pytest.raises(ConveyorError, match="without reference data"):
        drift("bare@1", shifted, settings=settings)


def test_profiles_keep_distributions_only_when_asked() -> None:
    frame = table()
    assert all(c.distribution is None for c in cv.profile(frame).columns.values())
    kept = cv.profile(frame, distributions=True)
    x = kept["x"].distribution
    assert x is not None
    assert len(x.points) == 1001
    assert x.at_or_below[-1] == N
    assert list(x.at_or_below) == sorted(x.at_or_below)
    c = kept["c"].distribution
    assert c is not None
    assert sum(count for _, count in c.counts) == N
    assert Profile.from_dict(json.loads(json.dumps(kept.to_dict()))) == kept
