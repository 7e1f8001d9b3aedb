"""Schema.from_pandera for pandera's pandas and polars backends."""

from __future__ import annotations

import re
from datetime import date

import pandera.pandas as pa
import pandera.polars as pp
import polars as pl
import pytest

from conveyor.core._errors import ConveyorError, ConveyorWarning
from conveyor.data._schema import Column, Schema

EXPECTED = Schema(
    columns={
        "id": Column(dtype="int64", nullable=False, unique=True),
        "amount": Column(dtype="float64", nullable=True, min=0, max=1000, max_inclusive=False),
        "qty": Column(dtype="int32", nullable=False, min=1, max=50),
        "country": Column(dtype="string", nullable=False, allowed=("FR", "DE")),
        "status": Column(dtype="string", nullable=False, allowed=("new",), forbidden=("x", "y")),
        "code": Column(
            dtype="string", nullable=False, pattern=r"^(?:[A-Z]{2})", min_length=3, max_length=3
        ),
        "tag": Column(dtype="string", nullable=True, pattern=r"^v", required=False),
        "day": Column(dtype="date", nullable=False),
    },
    name="orders",
    strict=True,
)


def pandas_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "id": pa.Column("int64", unique=True),
            "amount": pa.Column(
                "float64", pa.Check.in_range(0, 1000, include_max=False), nullable=True
            ),
            "qty": pa.Column(
                "int32", [pa.Check.ge(0), pa.Check.gt(0), pa.Check.ge(1), pa.Check.le(50)]
            ),
            "country": pa.Column(str, pa.Check.isin(["FR", "DE"])),
            "status": pa.Column(str, [pa.Check.eq("new"), pa.Check.notin(["x"]), pa.Check.ne("y")]),
            "code": pa.Column(str, [pa.Check.str_matches("[A-Z]{2}"), pa.Check.str_length(3)]),
            "tag": pa.Column(str, pa.Check.str_startswith("v"), nullable=True, required=False),
            "day": pa.Column("date"),
        },
        name="orders",
        strict=True,
    )


def polars_schema() -> pp.DataFrameSchema:
    return pp.DataFrameSchema(
        {
            "id": pp.Column(pl.Int64, unique=True),
            "amount": pp.Column(
                pl.Float64, pp.Check.between(0, 1000, include_max=False), nullable=True
            ),
            "qty": pp.Column(pl.Int32, [pp.Check.gt(0), pp.Check.in_range(1, 50)]),
            "country": pp.Column(pl.String, pp.Check.isin(["FR", "DE"])),
            "status": pp.Column(pl.Utf8, [pp.Check.equal_to("new"), pp.Check.notin(["x", "y"])]),
            "code": pp.Column(
                pl.String, [pp.Check.str_matches("[A-Z]{2}"), pp.Check.str_length(3)]
            ),
            "tag": pp.Column(
                pl.String, pp.Check.str_startswith("v"), nullable=True, required=False
            ),
            "day": pp.Column(pl.Date),
        },
        name="orders",
        strict=True,
    )


@pytest.mark.parametrize("make", [pandas_schema, polars_schema])
def test_built_in_checks_translate(make: object) -> None:
    assert Schema.from_pandera(make()) == EXPECTED  # type: ignore[operator]


def test_pandas_dtypes_map_to_the_vocabulary() -> None:
    schema = pa.DataFrameSchema(
        {
            "a": pa.Column("Int64"),
            "b": pa.Column("category"),
            "c": pa.Column("datetime64[ns]"),
            "d": pa.Column("datetime64[ns, UTC]"),
            "e": pa.Column(bool),
            "f": pa.Column(),
            "g": pa.Column("float32"),
        }
    )
    dtypes = {name: col.dtype for name, col in Schema.from_pandera(schema).columns.items()}
    assert dtypes == {
        "a": "int64",
        "b": "categorical",
        "c": "datetime",
        "d": "datetime[UTC]",
        "e": "bool",
        "f": None,
        "g": "float32",
    }


def test_polars_dtypes_map_to_the_vocabulary() -> None:
    schema = pp.DataFrameSchema(
        {
            "a": pp.Column(pl.Categorical),
            "b": pp.Column(pl.Datetime("ns", "Europe/Paris")),
            "c": pp.Column(pl.UInt8),
        }
    )
    dtypes = {name: col.dtype for name, col in Schema.from_pandera(schema).columns.items()}
    assert dtypes == {"a": "categorical", "b": "datetime[Europe/Paris]", "c": "uint8"}


@pytest.mark.parametrize("backend", [pa, pp])
def test_a_custom_check_is_named_not_dropped(backend: object) -> None:
    schema = backend.DataFrameSchema(  # type: ignore[attr-defined]
        {
            "amount": backend.Column(  # type: ignore[attr-defined]
                checks=[backend.Check(lambda s: s > 0, name="positive")]  # type: ignore[attr-defined]
            ),
            "x": backend.Column(checks=[backend.Check.unique_values_eq([1])]),  # type: ignore[attr-defined]
        }
    )
    message = "cannot translate from pandera: column 'amount' check 'positive'; column 'x' check"
    with pytest.raises(ConveyorError, match=re.escape(message)) as info:
        Schema.from_pandera(schema)
    assert info.value.details["unsupported"] == [
        {"column": "amount", "check": "positive"},
        {"column": "x", "check": "unique_values_eq"},
    ]
    with pytest.warns(ConveyorWarning, match="'positive'"):
        dropped = Schema.from_pandera(schema, drop_unsupported=True)
    assert dropped.columns == {"amount": Column(nullable=False), "x": Column(nullable=False)}


def test_schema_wide_checks_and_an_index_are_named() -> None:
    schema = pa.DataFrameSchema(
        {"a": pa.Column(int)},
        checks=[pa.Check(lambda df: df["a"].sum() > 0, name="sum_positive")],
        index=pa.Index(int),
    )
    with pytest.raises(ConveyorError) as info:
        Schema.from_pandera(schema)
    assert "column '*' check 'sum_positive'" in str(info.value)
    assert "column 'index' check 'index schema'" in str(info.value)


def test_a_dtype_outside_the_vocabulary_is_named() -> None:
    schema = pa.DataFrameSchema({"z": pa.Column("complex128", nullable=True)})
    with pytest.raises(ConveyorError, match="column 'z' check 'dtype complex128'"):
        Schema.from_pandera(schema)
    with pytest.warns(ConveyorWarning):
        assert Schema.from_pandera(schema, drop_unsupported=True).columns["z"] == Column()


def test_a_one_column_unique_list_becomes_unique() -> None:
    schema = pa.DataFrameSchema({"a": pa.Column(int), "b": pa.Column(int)}, unique=["a"])
    assert Schema.from_pandera(schema).columns["a"].unique


def test_what_is_not_pandera_is_refused() -> None:
    with pytest.raises(ConveyorError, match="expected a pandera DataFrameSchema"):
        Schema.from_pandera({"columns": {}})


def test_the_translated_schema_finds_what_pandera_finds() -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 2],
            "amount": [1.0, 1000.0, None],
            "qty": pl.Series([1, 0, 60], dtype=pl.Int32),
            "country": ["FR", "US", "DE"],
            "status": ["new", "new", "x"],
            "code": ["AB1", "ab1", "AB"],
            "day": [date(2024, 1, 1)] * 3,
        }
    )
    from pandera.errors import SchemaErrors

    with pytest.raises(SchemaErrors) as info:
        polars_schema().validate(frame, lazy=True)
    pandera_columns = set(info.value.failure_cases["column"].to_list())
    report = Schema.from_pandera(polars_schema()).validate(frame)
    assert {f.column for f in report.failures} == pandera_columns
    assert {(f.column, f.check) for f in report.failures} == {
        ("id", "unique"),
        ("amount", "range"),
        ("qty", "range"),
        ("country", "isin"),
        ("status", "isin"),
        ("status", "notin"),
        ("code", "pattern"),
        ("code", "length"),
    }
    on_pandas = frame.to_pandas()
    on_pandas["day"] = on_pandas["day"].dt.date  # polars gives pandas datetimes for dates
    assert Schema.from_pandera(pandas_schema()).validate(on_pandas) == report
