from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from conveyor.core._errors import ConveyorError
from conveyor.data import _profile_stats
from conveyor.data._profile import QUANTILES, ColumnProfile, Histogram, Profile
from conveyor.data._profile_diff import ProfileDiff, psi, rebinned
from conveyor.data._profile_numeric import small_block_stats
from conveyor.data._profile_stats import profile

FRACTIONS = [q for _, q in QUANTILES]


def quantiles_of(column: ColumnProfile) -> list[float]:
    assert column.quantiles is not None
    return [getattr(column.quantiles, name) for name, _ in QUANTILES]


def counts_of(column: ColumnProfile) -> list[int]:
    assert column.histogram is not None
    return list(column.histogram.counts)


def known_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.5, np.nan, 3.0, -2.0, 10.0, 3.0, np.nan, 7.25],
            "n": [5, 1, 4, 4, 2, 9, 0, 3],
            "s": ["b", "a", None, "b", "c", "a", "b", None],
            "flag": [True, False, True, True, None, False, True, True],
        }
    )


def as_json(value: object) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


# -- statistics ----------------------------------------------------------------------------


def test_numeric_statistics_equal_numpy_and_pandas() -> None:
    frame = known_frame()
    result = profile(frame)
    assert result.rows == 8
    assert list(result.columns) == ["x", "n", "s", "flag"]
    for name in ("x", "n"):
        column, values = result[name], frame[name].dropna().to_numpy()
        assert column.kind == "numeric"
        assert column.count == 8
        assert column.nulls == frame[name].isna().sum()
        assert column.min == values.min() and column.max == values.max()
        assert column.mean == pytest.approx(frame[name].mean())
        assert column.std == pytest.approx(frame[name].std())  # ddof=1, as pandas
        assert quantiles_of(column) == pytest.approx(np.quantile(values, FRACTIONS))
        counts, edges = np.histogram(values, bins=20)
        assert counts_of(column) == counts.tolist()
        assert column.histogram is not None
        assert column.histogram.edges == pytest.approx(edges.tolist())
        assert column.histogram.total == len(values)
    assert result["x"].dtype == "float64" and result["x"].null_fraction == 0.25
    assert result["n"].dtype == "int64" and isinstance(result["n"].min, int)


@pytest.mark.parametrize("n", [50_000, 3_000], ids=["counted", "sorted"])
def test_quantiles_and_histogram_are_exact_with_ties_on_the_edges(n: int) -> None:
    rng = np.random.default_rng(7)
    values = {
        "normal": np.round(rng.normal(3.0, 2.0, n), 2),  # many values on bin edges
        "skewed": np.round(rng.lognormal(0.0, 1.5, n), 3),
        "ints": rng.integers(-40, 40, n),
        "float32": rng.normal(0, 1, n).astype(np.float32),
        "binary": rng.integers(0, 2, n),
        "wide_ints": rng.integers(-(10**12), 10**12, n),
        "uint8": rng.integers(0, 256, n).astype(np.uint8),
        "int8": rng.integers(-128, 128, n).astype(np.int8),
        "uint64_high": rng.integers(0, 1_000, n).astype(np.uint64) + np.uint64(2**63),
        "few_floats": rng.choice([0.0, 0.5, 1.0], n),
    }
    result = profile(pl.DataFrame(values))
    for name, array in values.items():
        column = result[name]
        assert quantiles_of(column) == list(np.quantile(array, FRACTIONS)), name
        if name == "uint64_high":  # numpy cannot cut 1000 values near 2**63 in float64
            assert sum(counts_of(column)) == len(array)
        else:
            assert counts_of(column) == np.histogram(array, bins=20)[0].tolist(), name


@pytest.mark.parametrize("n", [1, 2, 7, 300, 4096])
def test_a_short_tables_columns_profiled_together_equal_each_profiled_alone(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(n)
    values = {
        "normal": rng.normal(3.0, 2.0, n),
        "ties": np.round(rng.normal(0.0, 1.0, n), 1),
        "constant": np.full(n, 4.0),
        "float32": rng.normal(0, 1, n).astype(np.float32),
        "more_float32": rng.normal(5, 9, n).astype(np.float32),
        "ints": rng.integers(-40, 40, n),
        "wide_ints": rng.integers(-(10**12), 10**12, n),
        "uint64_high": rng.integers(0, 1_000, n).astype(np.uint64) + np.uint64(2**63),
        "more_uint64": rng.integers(0, 10, n).astype(np.uint64),
        "with_nan": np.where(np.arange(n) == 0, np.nan, rng.normal(0, 1, n)),
        "with_inf": np.where(np.arange(n) == 0, np.inf, rng.normal(0, 1, n)),
    }
    frame = pl.DataFrame(values).with_columns(
        with_null=pl.Series(rng.normal(0, 1, n)).scatter(0, None)
    )
    blocks: list[int] = []

    def spy(block: Any, bins: int) -> Any:
        blocks.append(block.shape[0])
        return small_block_stats(block, bins)

    monkeypatch.setattr(_profile_stats, "small_block_stats", spy)
    together = profile(frame)
    # float64 (normal, ties, constant), float32 (2), int64 (2), uint64 (2); the NaN, the
    # infinity and the null go the general way
    assert sorted(blocks) == [2, 2, 2, 3]
    blocks.clear()
    for name in frame.columns:
        alone = profile(frame.select(name))
        # the dict form: a NaN standard deviation (from an infinity) equals itself there
        assert together.to_dict()["columns"][name] == alone.to_dict()["columns"][name], name
        assert type(together[name].min) is type(alone[name].min), name
    assert not blocks  # a lone column is profiled alone


def test_nan_counts_as_null_and_infinities_stay_in_the_end_bins() -> None:
    frame = pl.DataFrame({"x": [1.0, float("nan"), None, 2.0, float("inf"), -float("inf"), 3.0]})
    column = profile(frame)["x"]
    assert column.nulls == 2
    assert column.min == -math.inf and column.max == math.inf
    assert column.histogram is not None
    assert (column.histogram.lo, column.histogram.hi) == (1.0, 3.0)  # the finite range
    assert column.histogram.total == 5
    assert column.histogram.counts[0] == 2 and column.histogram.counts[-1] == 2


def test_a_constant_column_is_binned_as_numpy_does() -> None:
    column = profile(pl.DataFrame({"c": [4.0] * 5}))["c"]
    assert column.histogram is not None
    counts, edges = np.histogram(np.full(5, 4.0), bins=20)
    assert list(column.histogram.counts) == counts.tolist()
    assert column.histogram.edges == pytest.approx(edges.tolist())
    assert quantiles_of(column) == [4.0] * 7 and column.std == 0.0


def test_categories_are_counted_most_frequent_first_ties_by_value() -> None:
    result = profile(known_frame())
    column = result["s"]
    assert column.kind == "categorical" and column.dtype == "string"
    assert column.nulls == 2 and column.distinct == 3
    assert column.top == (("b", 3), ("a", 2), ("c", 1))
    assert column.other == 0
    assert column.min is None and column.histogram is None
    flag = result["flag"]
    assert flag.dtype == "bool"
    assert flag.top == (("true", 5), ("false", 2)) and flag.nulls == 1


def test_top_keeps_the_most_frequent_and_counts_the_rest_as_other() -> None:
    values = [f"v{i:02d}" for i in range(30) for _ in range(30 - i)]  # v00 x30, v01 x29, …
    column = profile(pl.DataFrame({"s": values}), top=5)["s"]
    assert column.top == tuple((f"v{i:02d}", 30 - i) for i in range(5))
    assert column.distinct == 30
    assert column.other == len(values) - sum(count for _, count in column.top)


def test_ties_at_the_cut_are_broken_by_value() -> None:
    column = profile(pl.DataFrame({"s": ["d", "c", "e", "b", "e", "a", "f", "f"]}), top=3)["s"]
    assert column.top == (("e", 2), ("f", 2), ("a", 1))
    assert column.distinct == 6 and column.other == 3
    nothing = profile(pl.DataFrame({"s": ["a", "b"]}), top=0)["s"]
    assert nothing.top == () and nothing.other == 2 and nothing.distinct == 2


def test_pandas_categoricals_and_long_values() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["x", "y", "x"]), "long": ["z" * 500] * 3})
    result = profile(frame)
    assert result["c"].dtype == "categorical"
    assert result["c"].top == (("x", 2), ("y", 1))
    value, count = result["long"].top[0]
    assert count == 3 and len(value) == 100 and value.endswith("…")


def test_dates_and_datetimes_get_their_range_as_iso_text() -> None:
    frame = pl.DataFrame(
        {
            "day": [dt.date(2024, 3, 1), None, dt.date(2023, 12, 31)],
            "at": [dt.datetime(2024, 1, 1, 8, 30), dt.datetime(2024, 1, 2), None],
        }
    )
    result = profile(frame)
    assert result["day"].kind == "temporal" and result["day"].dtype == "date"
    assert (result["day"].min, result["day"].max) == ("2023-12-31", "2024-03-01")
    assert (result["at"].min, result["at"].max) == ("2024-01-01T08:30:00", "2024-01-02T00:00:00")
    assert result["at"].dtype == "datetime" and result["at"].nulls == 1


def test_empty_tables_and_all_null_columns() -> None:
    empty = profile(
        pl.DataFrame({"x": pl.Series([], dtype=pl.Float64), "s": pl.Series([], dtype=pl.String)})
    )
    assert empty.rows == 0
    assert empty["x"].null_fraction == 0.0 and empty["x"].quantiles is None
    assert empty["s"].distinct == 0 and empty["s"].top == ()
    nulls = profile(pl.DataFrame({"x": pl.Series([None, None], dtype=pl.Float64)}))["x"]
    assert nulls.nulls == 2 and nulls.null_fraction == 1.0
    assert nulls.mean is None and nulls.histogram is None and nulls.quantiles is None
    assert profile(pl.DataFrame()).columns == {}


def test_every_kind_of_table_gives_the_same_profile() -> None:
    frame = known_frame()
    expected = profile(frame)
    polars_frame = pl.from_pandas(frame)
    assert profile(polars_frame) == expected
    assert profile(polars_frame.lazy()) == expected
    assert profile(pa.Table.from_pandas(frame)) == expected


def test_a_dataset_is_profiled_whole() -> None:
    from conveyor.data._dataset import Dataset

    frame = pl.from_pandas(known_frame())
    assert profile(Dataset.from_table(frame, partitions=3)) == profile(frame)


def test_bad_arguments_are_conveyor_errors() -> None:
    with pytest.raises(ConveyorError, match="expected a table"):
        profile([1, 2, 3])
    with pytest.raises(ConveyorError, match="bins"):
        profile(known_frame(), bins=0)


# -- the dict form -------------------------------------------------------------------------


def test_the_dict_form_is_strict_json_and_reads_back_equal() -> None:
    frame = pl.from_pandas(known_frame()).with_columns(
        inf=pl.Series([float("inf"), 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
        day=pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 1, 8), eager=True),
    )
    original = profile(frame)
    data = as_json(original.to_dict())
    assert isinstance(data, dict)
    assert data["version"] == 1 and data["rows"] == 8
    assert data["columns"]["inf"]["max"] == "inf"
    assert data["columns"]["inf"]["std"] == "nan"
    assert "mean" not in data["columns"]["s"]  # only the fields a column has
    assert as_json(Profile.from_dict(data).to_dict()) == data  # NaN != NaN, so via the dicts
    finite = profile(frame.drop("inf"))
    assert Profile.from_dict(as_json(finite.to_dict())) == finite


def test_the_stored_profile_stays_small() -> None:
    rng = np.random.default_rng(0)
    columns = {f"num_{i}": rng.normal(size=10_000) for i in range(20)}
    columns |= {f"cat_{i}": rng.choice([f"value_{k}" for k in range(50)], 10_000) for i in range(5)}
    size = len(json.dumps(profile(pl.DataFrame(columns)).to_dict()))
    assert size < 25 * 1_000  # about 1 kB per column


def test_from_dict_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ConveyorError, match="not a profile"):
        Profile.from_dict({"rows": 3})
    with pytest.raises(ConveyorError, match="newer"):
        Profile.from_dict({"version": 99, "rows": 0, "columns": {}})


# -- diff ----------------------------------------------------------------------------------


def diff_of(before: dict[str, object], after: dict[str, object]) -> ProfileDiff:
    return profile(pl.DataFrame(before)).diff(profile(pl.DataFrame(after)))


def test_identical_data_shows_no_change() -> None:
    rng = np.random.default_rng(1)
    data = {"x": rng.normal(size=5_000), "c": rng.choice(["a", "b", "c"], 5_000)}
    diff = diff_of(data, data)
    assert diff.added == () and diff.removed == () and diff.dtype_changes == ()
    assert diff.drifted() == ()
    for column in diff.columns.values():
        assert column.psi == pytest.approx(0.0, abs=1e-9)
        assert column.new_categories == () and column.missing_categories == ()


def test_a_mean_shift_is_measured_and_flagged() -> None:
    rng = np.random.default_rng(2)
    before = {"x": rng.normal(0.0, 1.0, 20_000), "same": rng.normal(0.0, 1.0, 20_000)}
    after = {"x": rng.normal(1.0, 1.0, 20_000), "same": rng.normal(0.0, 1.0, 20_000)}
    diff = diff_of(before, after)
    x = diff.columns["x"]
    assert x.mean is not None and x.mean.absolute == pytest.approx(1.0, abs=0.05)
    assert x.std is not None and x.std.relative == pytest.approx(0.0, abs=0.05)
    assert x.psi is not None and x.psi > 0.5
    same = diff.columns["same"].psi
    assert same is not None and same < 0.01
    assert diff.drifted() == ("x",)


def test_new_and_missing_categories() -> None:
    diff = diff_of({"c": ["a", "b", "b", "c"]}, {"c": ["a", "b", "b", "d", "d"]})
    column = diff.columns["c"]
    assert column.new_categories == ("d",)
    assert column.missing_categories == ("c",)
    assert column.psi is not None and column.psi > 1.0
    assert diff.rows.before == 4 and diff.rows.after == 5 and diff.rows.absolute == 1


def test_mass_moving_to_a_rare_value_beyond_the_top_is_a_shift() -> None:
    rare = [f"v{i:02d}" for i in range(30) for _ in range(60 - i)]  # v29 is not in the top 5
    grown = rare + ["v29"] * 600
    before, after = (
        profile(pl.DataFrame({"c": rare}), top=5),
        profile(pl.DataFrame({"c": grown}), top=5),
    )
    column = before.diff(after).columns["c"]
    assert column.psi is not None and column.psi > 0.2
    assert column.new_categories == ()  # v29 existed: the reference just did not list it
    unchanged = before.diff(profile(pl.DataFrame({"c": rare * 2}), top=5)).columns["c"]
    assert unchanged.psi == pytest.approx(0.0, abs=1e-9)


def test_added_removed_and_retyped_columns() -> None:
    diff = diff_of(
        {"kept": [1, 2, 3], "gone": [1.0, 2.0, 3.0], "id": [1, 2, 3]},
        {"kept": [1, 2, 3], "id": ["1", "2", "3"], "new": [True, False, True]},
    )
    assert diff.removed == ("gone",)
    assert diff.added == ("new",)
    assert diff.dtype_changes == ("id",)
    retyped = diff.columns["id"]
    assert (retyped.dtype.before, retyped.dtype.after) == ("int64", "string")
    assert retyped.mean is None and retyped.psi is None  # numbers and text do not compare
    assert list(diff.columns) == ["kept", "id"]


def test_null_share_change_and_the_json_form() -> None:
    diff = diff_of({"x": [1.0, 2.0, 3.0, 4.0]}, {"x": [1.0, None, None, 4.0]})
    nulls = diff.columns["x"].null_fraction
    assert (nulls.before, nulls.after, nulls.absolute) == (0.0, 0.5, 0.5)
    assert nulls.relative is None  # relative to zero
    data = as_json(diff.to_dict())
    assert isinstance(data, dict)
    assert data["columns"]["x"]["null_fraction"]["after"] == 0.5
    assert set(data) == {"rows", "added", "removed", "dtype_changes", "columns"}


def test_rebinning_onto_the_same_bins_keeps_the_counts() -> None:
    hist = Histogram(lo=0.0, hi=10.0, counts=(1, 2, 3, 4, 5))
    assert rebinned(hist, hist.edges) == pytest.approx([1, 2, 3, 4, 5])
    # Onto bins twice as wide, and beyond the range on both sides.
    assert rebinned(hist, (2.0, 6.0, 8.0)) == pytest.approx([1 + 2 + 3, 4 + 5])
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([10, 20, 30], [30, 20, 10]) > 0.5


# -- merging the profiles of parts ---------------------------------------------------------


def merge_test_frame(n: int = 200_000) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    return pl.DataFrame(
        {
            "normal": rng.normal(3.0, 2.0, n),
            "skewed": rng.lognormal(0.0, 1.5, n),
            "ints": rng.integers(-40, 40, n),
            "ids": np.arange(n, dtype=np.int64),  # sorted: each part holds its own range
            "bimodal": np.concatenate([rng.normal(-5, 1, n // 2), rng.normal(5, 1, n - n // 2)]),
            "city": rng.choice(["Oslo", "Rome", "Lima", "Pune"], n),
            "day": [
                dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 400, n)
            ],
        }
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0)
        .then(None)
        .otherwise(pl.col("normal"))
        .alias("normal")
    )


def parts_of(frame: pl.DataFrame, count: int) -> list[Profile]:
    size = -(-frame.height // count)
    return [profile(frame.slice(i * size, size)) for i in range(count)]


@pytest.mark.parametrize("order", ["as made", "sorted by bimodal"])
def test_a_merged_profile_equals_the_whole_tables_within_its_stated_bounds(order: str) -> None:
    from conveyor.data._profile_merge import merge_profiles

    frame = merge_test_frame()
    if order != "as made":
        frame = frame.sort("bimodal")
    merged = merge_profiles(parts_of(frame, 37))
    whole = profile(frame)
    assert merged is not None and not merged.exact
    assert merged.rows == whole.rows and list(merged.columns) == list(whole.columns)
    for name in ("normal", "skewed", "ints", "ids", "bimodal"):
        m, w = merged[name], whole[name]
        # exact: counts, nulls and ranges; the moments up to float rounding
        assert (m.count, m.nulls, m.min, m.max) == (w.count, w.nulls, w.min, w.max), name
        assert m.mean == pytest.approx(w.mean, rel=1e-12, abs=1e-12), name
        assert m.std == pytest.approx(w.std, rel=1e-12), name
        # estimated: each quantile lies between the exact ones 1 % of the rows either side
        values = frame[name].drop_nulls().to_numpy()
        for got, q in zip(quantiles_of(m), FRACTIONS, strict=True):
            low, high = np.quantile(values, [max(q - 0.01, 0.0), min(q + 0.01, 1.0)])
            assert low <= got <= high, (name, q)
        # and each histogram count is within 0.5 % of the values of the exact one
        assert m.histogram is not None and w.histogram is not None
        assert (m.histogram.lo, m.histogram.hi) == (w.histogram.lo, w.histogram.hi)
        assert m.histogram.total == w.histogram.total
        for got_count, count in zip(m.histogram.counts, w.histogram.counts, strict=True):
            assert abs(got_count - count) <= 0.005 * len(values), name
    assert merged["city"] == whole["city"]  # every part listed every city: exact
    assert (merged["day"].min, merged["day"].max) == (whole["day"].min, whole["day"].max)


def test_top_values_merge_as_lower_bounds_when_a_part_left_some_out() -> None:
    from conveyor.data._profile_merge import merge_profiles

    parts = [
        profile(pl.DataFrame({"s": ["a"] * 5 + ["b"] * 3 + ["c"]}), top=2),
        profile(pl.DataFrame({"s": ["b"] * 4 + ["d"]}), top=2),
    ]
    merged = merge_profiles(parts, top=2)
    assert merged is not None and not merged.exact
    column = merged["s"]
    assert column.top == (("b", 7), ("a", 5))
    assert column.other == 14 - 12 and column.distinct == 3  # at least: "c" and "d" went unseen


def test_merging_keeps_one_part_and_refuses_parts_that_differ() -> None:
    from conveyor.data._profile_merge import merge_profiles

    one = profile(pl.from_pandas(known_frame()))
    assert merge_profiles([one]) is one
    assert merge_profiles([]) is None
    other_dtype = profile(
        pl.DataFrame({"x": [1, 2], "n": [1, 2], "s": ["a", "b"], "flag": [True, False]})
    )
    assert merge_profiles([one, other_dtype]) is None  # x is float64 in one, int64 in the other
    infinite = profile(pl.DataFrame({"x": [1.0, math.inf]}))
    assert merge_profiles([infinite, infinite]) is None  # no finite range to merge over


def test_a_merged_profile_says_so_in_its_dict_form() -> None:
    from conveyor.data._profile_merge import merge_profiles

    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "s": ["a", "b", "a", "c"]})
    merged = merge_profiles(parts_of(frame, 2))
    assert merged is not None
    data = as_json(merged.to_dict())
    assert data["exact"] is False
    assert Profile.from_dict(data) == merged
    assert "exact" not in profile(frame).to_dict()
