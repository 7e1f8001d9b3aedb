"""Schema.validate: each check catches its fault with count and examples; the report and error."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from conveyor.core._errors import ConveyorError, DataValidationError
from conveyor.data import Dataset
from conveyor.data._schema import Column, Schema
from conveyor.data._schema_report import CheckFailure, ValidationReport

NAN = float("nan")


def only_failure(report: ValidationReport) -> CheckFailure:
    assert len(report.failures) == 1, report.message()
    return report.failures[0]


@pytest.mark.parametrize(
    ("column", "values", "check", "failing", "examples"),
    [
        (Column(nullable=False), [1, None, 3, None], "not_null", 2, ()),
        (Column(nullable=False), [1.0, NAN, None, 2.0], "not_null", 2, ()),
        (Column(nullable=False, min=0, max=9), [1.0, NAN, None, 5.0], "not_null", 2, ()),
        (Column(unique=True), [17, 17, 17, 4, 5, 5], "unique", 3, (17, 5)),
        (Column(unique=True), ["a", "b", "a"], "unique", 1, ("a",)),
        (Column(min=0, max=1000), [-5.0, 10.0, 1200.5, 3.0], "range", 2, (-5.0, 1200.5)),
        (Column(min=0, max=10), [0, 10, 11, -1], "range", 2, (11, -1)),
        (Column(min=0, min_inclusive=False), [0, 1, 2], "range", 1, (0,)),
        (Column(max=10, max_inclusive=False), [9.5, 10.0, 11.0], "range", 2, (10.0, 11.0)),
        (Column(min=0.5), [0.4, 1.0, float("-inf")], "range", 2, (0.4, float("-inf"))),
        (Column(allowed=["FR", "DE"]), ["FR", "XX", None, "YY"], "isin", 2, ("XX", "YY")),
        (Column(allowed=[0, 1]), [0, 1, 7, 1], "isin", 1, (7,)),
        (Column(allowed=[0, 1]), [0.0, 1.0, 0.5], "isin", 1, (0.5,)),
        (Column(forbidden=["x"]), ["x", "y", "x"], "notin", 2, ("x", "x")),
        (Column(pattern=r"^[A-Z]{2}\d$"), ["FR1", "fr1", "FR12"], "pattern", 2, ("fr1", "FR12")),
        (Column(min_length=2, max_length=3), ["a", "ab", "abcd"], "length", 2, ("a", "abcd")),
        (Column(max_length=1), ["é", "éé"], "length", 1, ("éé",)),
        (
            Column(min=date(2024, 1, 1)),
            [date(2023, 12, 31), date(2024, 1, 1)],
            "range",
            1,
            (date(2023, 12, 31),),
        ),
    ],
)
def test_each_check_reports_its_failing_rows_and_examples(
    column: Column, values: list[Any], check: str, failing: int, examples: tuple[Any, ...]
) -> None:
    frame = pl.DataFrame({"x": values}, strict=False)
    failure = only_failure(Schema(columns={"x": column}).validate(frame))
    assert (failure.column, failure.check, failure.failing_rows) == ("x", check, failing)
    assert failure.examples == examples


@pytest.mark.parametrize(
    "column",
    [
        Column(nullable=False),
        Column(unique=True),
        Column(min=0, max=3),
        Column(allowed=[1, 2, 3]),
        Column(forbidden=[9]),
    ],
)
def test_each_check_passes_clean_data(column: Column) -> None:
    report = Schema(columns={"x": column}).validate(pl.DataFrame({"x": [1, 2, 3]}))
    assert report.ok
    assert report.checks == 1


def test_nulls_and_nan_fail_only_not_null() -> None:
    frame = pl.DataFrame({"f": [1.0, NAN, None], "s": ["a", None, None], "i": [1, None, None]})
    schema = Schema(
        columns={
            "f": Column(min=0, max=2, unique=True, allowed=[1.0]),
            "s": Column(allowed=["a"], pattern="a", unique=True, min_length=1),
            "i": Column(min=0, unique=True, forbidden=[2]),
        }
    )
    assert schema.validate(frame).ok


def test_the_examples_are_limited() -> None:
    frame = pl.DataFrame({"x": list(range(100))})
    schema = Schema(columns={"x": Column(max=-1)})
    assert only_failure(schema.validate(frame)).examples == (0, 1, 2, 3, 4)
    assert only_failure(schema.validate(frame, examples=2)).examples == (0, 1)
    assert only_failure(schema.validate(frame, examples=0)).failing_rows == 100


def test_a_zoned_datetime_column_compares_with_bounds_in_any_zone() -> None:
    at = pl.Series("at", [datetime(2024, 1, 1, 12, tzinfo=UTC)]).dt.convert_time_zone(
        "Europe/Paris"
    )
    frame = at.to_frame()
    ok = Column(dtype="datetime[Europe/Paris]", min=datetime(2024, 1, 1, 11, 59, tzinfo=UTC))
    assert Schema(columns={"at": ok}).validate(frame).ok
    # a naive bound is a wall-clock time in the column's zone: 12:00 UTC is 13:00 in Paris
    assert Schema(columns={"at": Column(max=datetime(2024, 1, 1, 13, 0))}).validate(frame).ok
    late = Column(max=datetime(2024, 1, 1, 12, 59))
    assert only_failure(Schema(columns={"at": late}).validate(frame)).check == "range"


# -- whole-column checks ------------------------------------------------------------------------
def test_a_missing_column_is_a_failure_unless_optional() -> None:
    frame = pl.DataFrame({"a": [1]})
    report = Schema(columns={"a": Column(), "b": Column(nullable=False)}).validate(frame)
    assert only_failure(report) == CheckFailure("b", "missing", None, (), "is missing")
    assert only_failure(report).message() == "column 'b' is missing"
    assert Schema(columns={"b": Column(required=False, min=3)}).validate(frame).ok


def test_a_wrong_dtype_is_a_schema_comparison() -> None:
    frame = pl.DataFrame({"amount": ["1.5", "2"], "n": pl.Series([1, 2], dtype=pl.Int32)})
    schema = Schema(
        columns={
            "amount": Column(dtype="float64", min=0),
            "n": Column(dtype="int64", max=1),
        }
    )
    first, second, third = schema.validate(frame).failures
    assert first.message() == "column 'amount' dtype: expected float64, got string"
    assert first.failing_rows is None
    # int32 is not int64, but its values still compare with an integer bound
    assert second.message() == "column 'n' dtype: expected int64, got int32"
    assert (third.check, third.failing_rows, third.examples) == ("range", 1, (2,))


def test_a_value_check_that_cannot_apply_to_the_data_says_so() -> None:
    report = Schema(columns={"s": Column(min=0)}).validate(pl.DataFrame({"s": ["a"]}))
    failure = only_failure(report)
    assert (failure.check, failure.failing_rows) == ("range", None)
    assert failure.message() == "column 's' range >= 0: does not apply to a string column"


def test_a_strict_schema_reports_unexpected_columns() -> None:
    frame = pl.DataFrame({"a": [1], "extra": [2]})
    assert Schema(columns={"a": Column()}).validate(frame).ok
    report = Schema(columns={"a": Column()}, strict=True).validate(frame)
    assert only_failure(report).message() == "column 'extra' is not in the schema"


# -- lazy, inputs, report -----------------------------------------------------------------------
def faulty() -> tuple[Schema, pl.DataFrame]:
    schema = Schema(
        columns={
            "id": Column(dtype="int64", unique=True),
            "amount": Column(dtype="float64", nullable=False, min=0, max=1000),
            "country": Column(dtype="string", allowed=["FR", "DE"]),
            "gone": Column(),
        },
        name="orders",
    )
    frame = pl.DataFrame(
        {
            "id": [17, 17, 17, 3, 4],
            "amount": [-5.0, 1200.5, 2000.0, 1.0, 2.0],
            "country": ["FR", "DE", "FR", "FR", "DE"],
        }
    )
    return schema, frame


def test_lazy_reports_every_failure_in_schema_order() -> None:
    schema, frame = faulty()
    report = schema.validate(frame)
    assert [(f.column, f.check) for f in report.failures] == [
        ("id", "unique"),
        ("amount", "range"),
        ("gone", "missing"),
    ]
    assert not report.ok
    assert (report.rows, report.checks, report.schema) == (5, 7, "orders")


def test_not_lazy_stops_at_the_first_failure() -> None:
    schema, frame = faulty()
    report = schema.validate(frame, lazy=False)
    assert [(f.column, f.check, f.failing_rows) for f in report.failures] == [("id", "unique", 2)]
    clean = frame.with_columns(pl.Series("id", [1, 2, 3, 4, 5]))
    assert [f.check for f in schema.validate(clean, lazy=False).failures] == ["range"]


def test_not_lazy_skips_a_check_whose_bound_overcounted() -> None:
    # NaN lies outside every range but fails only not_null, which this column allows
    schema = Schema(columns={"f": Column(min=0, max=1), "g": Column(max=0)})
    frame = pl.DataFrame({"f": [0.5, NAN], "g": [1, 2]})
    assert [(f.column, f.check) for f in schema.validate(frame, lazy=False).failures] == [
        ("g", "range")
    ]


@pytest.mark.parametrize("kind", ["pandas", "polars", "lazy", "arrow", "dataset"])
def test_every_kind_of_table_is_validated_alike(kind: str) -> None:
    schema, frame = faulty()
    data: object = {
        "pandas": frame.to_pandas(),
        "polars": frame,
        "lazy": frame.lazy(),
        "arrow": frame.to_arrow(),
        "dataset": Dataset.from_table(frame, partitions=2),
    }[kind]
    assert schema.validate(data) == schema.validate(frame)


def test_pandas_nan_is_a_null() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan]})
    failure = only_failure(Schema(columns={"x": Column(nullable=False)}).validate(frame))
    assert (failure.check, failure.failing_rows) == ("not_null", 1)


def test_what_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConveyorError, match="expected a table"):
        Schema().validate({"a": [1]})


def test_a_table_arrow_cannot_read_is_a_conveyor_error() -> None:
    mixed = pd.DataFrame({"x": [1, "a", 2.5]}, dtype=object)
    with pytest.raises(ConveyorError, match="cannot read the table for validation"):
        Schema().validate(mixed)


def test_a_pattern_polars_cannot_compile_is_a_conveyor_error() -> None:
    schema = Schema(columns={"s": Column(pattern=r"(?=a)b")})  # look-ahead: Python only
    with pytest.raises(ConveyorError, match=r"column 's': pattern .* does not compile in polars"):
        schema.validate(pl.DataFrame({"s": ["b"]}))


def test_the_error_names_column_check_count_and_examples() -> None:
    schema, frame = faulty()
    report = schema.validate(frame)
    with pytest.raises(DataValidationError) as info:
        report.raise_for_failures("orders.parquet")
    assert str(info.value) == (
        "orders.parquet: 3 checks failed: column 'id' unique: 2 rows fail, e.g. 17; "
        "column 'amount' range [0, 1000]: 3 rows fail, e.g. -5.0, 1200.5, 2000.0; "
        "column 'gone' is missing"
    )
    details = info.value.details
    assert details["source"] == "orders.parquet"
    failures = details["failures"]
    assert isinstance(failures, list)
    assert failures[1] == {
        "column": "amount",
        "check": "range",
        "description": "range [0, 1000]",
        "failing_rows": 3,
        "examples": [-5.0, 1200.5, 2000.0],
    }
    json.dumps(details)  # JSON-able, as the API renders it


def test_one_failure_reads_in_the_singular_and_examples_are_json_able() -> None:
    frame = pa.table({"d": [date(2020, 1, 1)], "f": [float("inf")]})
    schema = Schema(columns={"d": Column(min=date(2024, 1, 1)), "f": Column(max=0)})
    report = schema.validate(frame)
    with pytest.raises(
        DataValidationError,
        match=re.escape(
            "data: 2 checks failed: column 'd' range >= 2024-01-01: 1 row fails, e.g. 2020-01-01;"
        ),
    ):
        report.raise_for_failures()
    assert report.to_dict()["failures"][0]["examples"] == ["2020-01-01"]
    assert report.to_dict()["failures"][1]["examples"] == ["inf"]


def test_a_passing_report_raises_nothing() -> None:
    report = Schema(columns={"a": Column(nullable=False)}, name="t").validate(
        pl.DataFrame({"a": [1]})
    )
    report.raise_for_failures("t")
    assert report.ok
    assert str(report) == "t: all 1 checks passed on 1 rows"
