from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from conveyor.errors import RegistryError
from conveyor.registry._signature import check_signature, infer_signature


def example_pandas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [34, 51, 27],
            "income": [52.5, np.nan, 61.0],
            "plan": ["basic", "pro", "basic"],
            "active": [True, False, True],
            "region": pd.Categorical(["north", "south", "north"]),
            "joined": pd.to_datetime(["2023-01-05", "2024-02-11", "2022-07-30"]),
        }
    )


def types(signature: Any) -> dict[str, tuple[str, bool]]:
    return {i["name"]: (i["type"], i["nullable"]) for i in signature["inputs"]}


EXPECTED = {
    "age": ("integer", False),
    "income": ("float", True),
    "plan": ("string", False),
    "active": ("boolean", False),
    "region": ("category", False),
    "joined": ("datetime", False),
}


# -- infer_signature ---------------------------------------------------------------------------


def test_a_pandas_frame_gives_one_typed_input_per_column() -> None:
    signature = infer_signature(example_pandas())
    assert signature["format"] == "columns"
    assert "shape" not in signature
    assert types(signature) == EXPECTED
    dtypes = {i["name"]: i["dtype"] for i in signature["inputs"]}
    assert dtypes["age"] == "int64"
    assert dtypes["region"] == "category"
    assert json.loads(json.dumps(signature)) == signature  # stored as JSON as it is


def test_a_polars_frame_reads_the_same_types() -> None:
    frame = pl.from_pandas(example_pandas())
    signature = infer_signature(frame)
    assert types(signature) == EXPECTED
    assert {i["name"]: i["dtype"] for i in signature["inputs"]}["age"] == "Int64"


def test_a_polars_nan_counts_as_missing_like_a_null() -> None:
    frame = pl.DataFrame({"x": [1.0, float("nan")], "y": [1.0, None], "z": [1.0, 2.0]})
    assert types(infer_signature(frame)) == {
        "x": ("float", True),
        "y": ("float", True),
        "z": ("float", False),
    }


def test_an_arrow_table_reads_the_same_types() -> None:
    table = pa.Table.from_pandas(example_pandas(), preserve_index=False)
    signature = infer_signature(table)
    assert types(signature) == EXPECTED
    assert {i["name"]: i["dtype"] for i in signature["inputs"]}["joined"].startswith("timestamp")


def test_pandas_object_columns_are_typed_by_their_values() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", None, "c"], dtype=object),
            "mixed": pd.Series(["a", 1, 2.5], dtype=object),
            "nullable_int": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    assert types(infer_signature(frame)) == {
        "text": ("string", True),
        "mixed": ("other", False),
        "nullable_int": ("integer", True),
    }


def test_a_2d_array_is_one_dtype_of_numbered_columns() -> None:
    array = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]], dtype=np.float32)
    signature = infer_signature(array)
    assert signature["format"] == "array"
    assert signature["shape"] == [-1, 3]
    assert signature["inputs"] == [
        {"name": "0", "type": "float", "dtype": "float32", "nullable": False},
        {"name": "1", "type": "float", "dtype": "float32", "nullable": False},
        {"name": "2", "type": "float", "dtype": "float32", "nullable": True},
    ]
    assert types(infer_signature(np.array([["a", "b"]])))["1"] == ("string", False)


def test_a_list_of_dicts_is_typed_by_its_values() -> None:
    rows = [
        {"id": 1, "score": 1, "name": "a", "flag": True, "seen": datetime(2024, 1, 1)},
        {"id": 2, "score": 2.5, "name": None, "flag": False, "seen": datetime(2024, 1, 2)},
        {"id": 3, "score": 3, "flag": True, "seen": datetime(2024, 1, 3)},
    ]
    signature = infer_signature(rows)
    assert signature["format"] == "columns"
    assert types(signature) == {
        "id": ("integer", False),
        "score": ("float", False),  # ints and floats together are floats
        "name": ("string", True),  # None once, absent once
        "flag": ("boolean", False),  # not integers, although bool subclasses int
        "seen": ("datetime", False),
    }
    assert [i["dtype"] for i in signature["inputs"]] == ["int", "float", "str", "bool", "datetime"]


@pytest.mark.parametrize(
    "example",
    [np.arange(3), [], [1, 2], "a,b\n1,2", {"a": [1, 2]}],
    ids=["1-d array", "empty list", "list of numbers", "csv text", "dict of lists"],
)
def test_other_inputs_are_refused_with_the_kinds_that_work(example: object) -> None:
    with pytest.raises(RegistryError, match="expected a pandas or polars DataFrame"):
        infer_signature(example)


# -- check_signature ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signature() -> dict[str, Any]:
    frame = example_pandas().assign(income=[52.5, 48.0, 61.0])  # no missing incomes
    return dict(json.loads(json.dumps(infer_signature(frame))))


def test_a_request_that_fits_has_no_problems_whatever_its_library(
    signature: dict[str, Any],
) -> None:
    frame = example_pandas().assign(income=[1.0, 2.0, 3.0])
    assert check_signature(signature, frame) == []
    assert check_signature(signature, pl.from_pandas(frame)) == []
    assert check_signature(signature, pa.Table.from_pandas(frame, preserve_index=False)) == []


def test_missing_and_unexpected_columns_are_named(signature: dict[str, Any]) -> None:
    frame = example_pandas().drop(columns=["age"]).assign(income=1.0, coupon="X1")
    assert check_signature(signature, frame) == [
        "column 'age' is missing (expected integer, int64)",
        "column 'coupon' is not in the signature (found string, str)",
    ]


def test_a_column_of_the_wrong_type_says_what_was_expected_and_found(
    signature: dict[str, Any],
) -> None:
    frame = example_pandas().assign(income=1.0, active=["yes", "no", "yes"])
    assert check_signature(signature, frame) == [
        "column 'active': expected boolean (bool), found string (str)"
    ]


def test_missing_values_are_reported_where_the_signature_allows_none(
    signature: dict[str, Any],
) -> None:
    frame = example_pandas().assign(plan=["basic", None, None])
    assert check_signature(signature, frame) == [
        "column 'income': expected no missing values, found 1 missing value",
        "column 'plan': expected no missing values, found 2 missing values",
    ]


def test_integers_with_missing_values_get_a_hint_about_why_they_are_floats(
    signature: dict[str, Any],
) -> None:
    frame = example_pandas().assign(income=1.0, age=[34, None, 27])
    assert check_signature(signature, frame) == [
        "column 'age': expected integer (int64), found float (float64) "
        "(missing values turn an integer column into floats)",
        "column 'age': expected no missing values, found 1 missing value",
    ]


def test_safe_type_differences_are_accepted(signature: dict[str, Any]) -> None:
    # integers for floats are exact; categories arrive as strings in a JSON request
    rows = [
        {"age": 40, "income": 50, "plan": "pro", "active": True, "region": "north",
         "joined": datetime(2024, 5, 1)},
    ]  # fmt: skip
    assert check_signature(signature, rows) == []
    frame = example_pandas().assign(income=1.0, age=[1.5, 2.5, 3.5])
    assert check_signature(signature, frame) == [
        "column 'age': expected integer (int64), found float (float64)"
    ]


def test_an_array_signature_checks_the_width_then_each_column() -> None:
    signature = infer_signature(np.ones((4, 3)))
    assert check_signature(signature, np.zeros((2, 3))) == []
    assert check_signature(signature, np.zeros((2, 2))) == [
        "expected an array of 3 columns, found 2"
    ]
    assert check_signature(signature, np.array([[1.0, np.nan, 3.0]])) == [
        "column '1': expected no missing values, found 1 missing value"
    ]
    assert check_signature(signature, np.array([["a", "b", "c"]])) == [
        f"column '{i}': expected float (float64), found string (<U1)" for i in range(3)
    ]


def test_something_that_is_not_a_signature_is_refused() -> None:
    with pytest.raises(RegistryError, match="not a model signature"):
        check_signature({"columns": ["a"]}, pd.DataFrame({"a": [1]}))
