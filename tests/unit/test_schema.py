"""Schema and Column as data: construction checks, editing, inference, YAML/JSON and files."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from conveyor.core._errors import ConveyorError
from conveyor.data import Dataset
from conveyor.data._schema import Column, Schema


def orders_pandas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "amount": [10.5, 20.0, np.nan, 3.25, 99.0, 0.0],
            "country": ["FR", "DE", "FR", "FR", "DE", None],
            "note": ["a", "b", "c", "d", "e", "f"],
            "paid": [True, False, True, True, False, True],
            "day": [date(2024, 1, d) for d in range(1, 7)],
            "at": pd.to_datetime([f"2024-01-0{d} 12:00" for d in range(1, 7)], utc=True),
        }
    )


# -- Column ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dtype": "float"}, "dtype 'float' is not one of"),
        ({"min": 5, "max": 3}, "allow no value"),
        ({"min": 3, "max": 3, "max_inclusive": False}, "allow no value"),
        ({"dtype": "string", "min": 0}, "cannot be compared with values of dtype string"),
        ({"min": 0, "max": date(2024, 1, 1)}, "different kinds"),
        ({"min": float("nan")}, "must not be NaN"),
        ({"min": "a"}, "must be a number, date or datetime"),
        ({"allowed": [1, "a"]}, "mixes values of different kinds"),
        ({"allowed": []}, "at least one value"),
        ({"allowed": "abc"}, "must be a list of values"),
        ({"allowed": [None]}, "nulls are allowed or not by `nullable`"),
        ({"dtype": "int64", "allowed": ["a"]}, "cannot be compared with dtype int64"),
        ({"pattern": "("}, "does not compile"),
        ({"dtype": "int64", "pattern": "a"}, "apply to strings"),
        ({"min_length": -1}, "whole number >= 0"),
        ({"min_length": 3, "max_length": 2}, "min_length 3 > max_length 2"),
        ({"nullable": "no"}, "nullable must be true or false"),
        (
            {"min": datetime(2024, 1, 1), "max": datetime(2025, 1, 1, tzinfo=UTC)},
            "both have a time zone or neither",
        ),
    ],
)
def test_a_column_that_no_check_could_use_is_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ConveyorError, match=re.escape(message)):
        Column(**fields)  # type: ignore[arg-type]


def test_value_lists_become_tuples_and_sets_are_sorted() -> None:
    assert Column(allowed=["b", "a"]).allowed == ("b", "a")
    assert Column(forbidden={"z", "x", "y"}).forbidden == ("x", "y", "z")


def test_the_vocabulary_includes_zoned_datetimes() -> None:
    assert Column(dtype="datetime[Europe/Paris]").dtype == "datetime[Europe/Paris]"


# -- Schema editing ----------------------------------------------------------------------------
def test_a_schema_keeps_its_own_copy_of_the_columns() -> None:
    columns = {"a": Column(dtype="int64")}
    schema = Schema(columns=columns)
    columns["b"] = Column()
    assert list(schema.columns) == ["a"]


def test_with_column_changes_one_field_and_returns_a_new_schema() -> None:
    schema = Schema(columns={"amount": Column(dtype="float64", min=0, max=1000)}, name="orders")
    wider = schema.with_column("amount", max=2000)
    assert wider.columns["amount"] == Column(dtype="float64", min=0, max=2000)
    assert schema.columns["amount"].max == 1000
    assert wider.name == "orders"


def test_with_column_adds_a_column_and_without_columns_removes_it() -> None:
    schema = Schema().with_column("note", Column(dtype="string"))
    assert schema.columns == {"note": Column(dtype="string")}
    assert schema.without_columns("note").columns == {}


def test_editing_checks_the_new_values() -> None:
    schema = Schema(columns={"amount": Column(min=0)})
    with pytest.raises(ConveyorError, match="allow no value"):
        schema.with_column("amount", max=-1)
    with pytest.raises(ConveyorError, match="maximum"):
        schema.with_column("amount", maximum=3)
    with pytest.raises(ConveyorError, match="no column 'nope'"):
        schema.with_column("nope", max=3)
    with pytest.raises(ConveyorError, match="no column 'nope'"):
        schema.without_columns("nope")


def test_equal_schemas_are_equal_and_hash_alike() -> None:
    first = Schema(columns={"a": Column(allowed=["x", "y"])}, name="t")
    second = Schema(columns={"a": Column(allowed=("x", "y"))}, name="t")
    assert first == second
    assert len({first, second, first.with_column("a", allowed=["x"])}) == 2


def test_a_schema_pickles_for_worker_processes() -> None:
    schema = Schema(columns={"day": Column(dtype="date", min=date(2024, 1, 1))}, name="t")
    assert pickle.loads(pickle.dumps(schema)) == schema


def test_dataclasses_replace_works_on_a_schema() -> None:
    schema = dataclasses.replace(Schema(columns={"a": Column()}), name="x", strict=True)
    assert (schema.name, schema.strict) == ("x", True)


def test_columns_must_be_column_objects() -> None:
    with pytest.raises(ConveyorError, match="Column"):
        Schema(columns={"a": {"dtype": "int64"}})  # type: ignore[dict-item]


# -- infer -------------------------------------------------------------------------------------
def test_infer_reads_types_nulls_ranges_categories_and_uniqueness() -> None:
    schema = Schema.infer(orders_pandas(), name="orders", category_ratio=0.5)
    cols = schema.columns
    assert schema.name == "orders"
    assert cols["id"] == Column(dtype="int64", nullable=False, unique=True, min=1, max=6)
    # NaN counts as a null, and min/max skip it
    assert cols["amount"] == Column(dtype="float64", nullable=True, min=0.0, max=99.0)
    assert cols["country"] == Column(dtype="string", nullable=True, allowed=("DE", "FR"))
    # six distinct values in six rows: too many to be categories, all distinct: unique
    assert cols["note"] == Column(dtype="string", nullable=False, unique=True)
    assert cols["paid"] == Column(dtype="bool", nullable=False)
    assert cols["day"] == Column(
        dtype="date", nullable=False, min=date(2024, 1, 1), max=date(2024, 1, 6)
    )
    assert cols["at"].dtype == "datetime[UTC]"
    assert cols["at"].min == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_infer_gives_the_same_schema_for_pandas_polars_arrow_and_a_dataset() -> None:
    frame = orders_pandas()
    from_pandas = Schema.infer(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert Schema.infer(table) == from_pandas
    assert Schema.infer(pl.from_arrow(table)) == from_pandas
    assert Schema.infer(pl.from_arrow(table).lazy()) == from_pandas  # type: ignore[union-attr]
    assert Schema.infer(Dataset.from_table(frame, partitions=3)) == from_pandas


def test_infer_limits_categories_by_count_and_share() -> None:
    frame = pl.DataFrame({"few": ["a", "b"] * 50, "many": [f"v{i % 60}" for i in range(100)]})
    cols = Schema.infer(frame).columns
    assert cols["few"].allowed == ("a", "b")
    assert cols["many"].allowed is None  # 60 distinct > max_categories=50
    assert Schema.infer(frame, max_categories=60, category_ratio=0.6).columns["many"].allowed
    assert Schema.infer(frame, category_ratio=0.01).columns["few"].allowed is None


def test_infer_maps_pandas_categories_and_small_ints() -> None:
    frame = pd.DataFrame(
        {"c": pd.Categorical(["x", "y", "x", "x"]), "i": np.array([1, 1, 2, 3], dtype="int32")}
    )
    cols = Schema.infer(frame).columns
    assert cols["c"] == Column(dtype="categorical", nullable=False, allowed=("x", "y"))
    assert cols["i"] == Column(dtype="int32", nullable=False, min=1, max=3, unique=False)


def test_data_passes_the_schema_inferred_from_it() -> None:
    frame = orders_pandas()
    report = Schema.infer(frame).validate(frame)
    assert report.ok, report.message()
    assert report.rows == 6


def test_infer_refuses_what_is_not_a_table() -> None:
    with pytest.raises(ConveyorError, match="expected a table"):
        Schema.infer([1, 2, 3])


# -- YAML, JSON and files ----------------------------------------------------------------------
def rich_schema() -> Schema:
    return Schema(
        columns={
            "id": Column(dtype="int64", nullable=False, unique=True),
            "amount": Column(dtype="float64", min=0, max=1000.5, min_inclusive=False),
            "status": Column(dtype="categorical", allowed=("new", "paid"), required=False),
            "code": Column(dtype="string", pattern=r"^[A-Z]{2}\d+$", min_length=3, max_length=8),
            "day": Column(dtype="date", min=date(2024, 1, 1), forbidden=(date(2024, 2, 29),)),
            "at": Column(dtype="datetime[UTC]", max=datetime(2030, 1, 1, tzinfo=UTC)),
            "naive": Column(dtype="datetime", min=datetime(2020, 1, 1, 8, 30)),
            "anything": Column(),
        },
        name="orders",
        strict=True,
    )


def test_yaml_and_json_round_trip() -> None:
    schema = rich_schema()
    assert Schema.from_yaml(schema.to_yaml()) == schema
    assert Schema.from_json(schema.to_json()) == schema
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def test_the_written_form_leaves_out_defaults() -> None:
    data = rich_schema().to_dict()
    assert data["conveyor_schema"] == 1
    assert data["columns"]["id"] == {"dtype": "int64", "nullable": False, "unique": True}
    assert data["columns"]["anything"] == {"nullable": True}
    assert data["columns"]["day"]["min"] == "2024-01-01"


def test_a_hand_written_yaml_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(
        "name: orders\n"
        "columns:\n"
        "  amount: {dtype: float64, nullable: false, min: 0, max: 1000}\n"
        "  day: {dtype: date, min: 2024-01-01}\n"
        "  note:\n"
    )
    schema = Schema.load(path)
    assert schema.columns["amount"] == Column(dtype="float64", nullable=False, min=0, max=1000)
    assert schema.columns["day"].min == date(2024, 1, 1)
    assert schema.columns["note"] == Column()


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_save_and_load_pick_the_format_from_the_suffix(tmp_path: Path, suffix: str) -> None:
    path = rich_schema().save(tmp_path / f"orders{suffix}")
    text = path.read_text()
    if suffix == ".json":
        assert json.loads(text)["name"] == "orders"
    else:
        assert text.startswith("conveyor_schema: 1\nname: orders\n")
    assert Schema.load(path) == rich_schema()


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "a.yaml",
            "columns:\n  x: {dtype: float64, maximum: 3}\n",
            "column 'x': unknown key 'maximum'; did you mean 'max'?",
        ),
        ("a.yaml", "columns:\n  x: {dtype: float}\n", "column 'x': dtype 'float' is not one of"),
        ("a.yaml", "colums: {}\n", "unknown key 'colums'; did you mean 'columns'?"),
        ("a.yaml", "columns: [1, 2]\n", "'columns' must map column names to columns, got list"),
        ("a.yaml", "- 1\n", "expected a mapping with a 'columns' key, got list"),
        ("a.yaml", "columns:\n  x: {dtype: int64\n", "not valid YAML"),
        ("a.yaml", "columns:\n  x: 3\n", "column 'x': expected a mapping of checks, got int"),
        ("a.yaml", "columns:\n  x: {min: soon}\n", "column 'x': min: expected a number or a date"),
        ("a.yaml", "columns:\n  x: {dtype: date, min: '2024-13-01'}\n", "expected a date"),
        ("a.yaml", "conveyor_schema: 9\ncolumns: {}\n", "version 9 is not one this conveyor"),
        ("a.json", '{"columns": {"x": {"dtype": "int64",}}}', "not valid JSON"),
        ("a.json", '{"columns": {}, "strict": "yes"}', "strict must be true or false"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_problem(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConveyorError) as info:
        Schema.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)
    assert info.value.details["source"] == str(path)


def test_loading_a_missing_file_or_an_unknown_suffix_is_a_conveyor_error(tmp_path: Path) -> None:
    with pytest.raises(ConveyorError, match="no such file"):
        Schema.load(tmp_path / "none.yaml")
    with pytest.raises(ConveyorError, match=r"ends in \.yaml, \.yml or \.json"):
        Schema.load(tmp_path / "schema.toml")
    with pytest.raises(ConveyorError, match=r"ends in \.yaml"):
        rich_schema().save(tmp_path / "schema.txt")
