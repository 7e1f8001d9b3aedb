"""Request rows against a signature: reordering, and errors that name the field."""

from __future__ import annotations

import math

import pytest

from conveyor.serving._errors import ClientError
from conveyor.serving._rows import conform, from_records, from_table

SIGNATURE = {
    "format": "columns",
    "inputs": [
        {"name": "age", "type": "integer", "dtype": "int64", "nullable": False},
        {"name": "income", "type": "float", "dtype": "float64", "nullable": True},
        {"name": "plan", "type": "category", "dtype": "category", "nullable": False},
    ],
}


def test_records_are_put_in_signature_order() -> None:
    rows = from_records([{"plan": "pro", "income": 1.5, "age": 3}], "records")
    fitted = conform(rows, SIGNATURE)
    assert fitted.columns == ("age", "income", "plan")
    assert fitted.rows == [[3, 1.5, "pro"]]


def test_integers_fit_a_float_column_and_integral_floats_an_integer_one() -> None:
    rows = from_table(["age", "income", "plan"], [[3.0, 2, "basic"]])
    assert conform(rows, SIGNATURE).rows == [[3.0, 2, "basic"]]


def test_missing_and_unexpected_columns_are_both_named() -> None:
    rows = from_records([{"age": 3, "plan": "pro", "colour": "red"}], "records")
    with pytest.raises(ClientError) as caught:
        conform(rows, SIGNATURE)
    error = caught.value
    assert error.status == 422
    assert error.details["missing"] == ["income"]
    assert error.details["unexpected"] == ["colour"]
    assert "'income'" in error.message and "'colour'" in error.message


def test_a_wrong_type_names_row_and_column() -> None:
    rows = from_records(
        [{"age": 3, "income": 1.0, "plan": "a"}, {"age": "old", "income": 1.0, "plan": "b"}],
        "records",
    )
    with pytest.raises(ClientError) as caught:
        conform(rows, SIGNATURE)
    (problem,) = caught.value.details["problems"]  # type: ignore[misc]
    assert problem["field"] == "records[1].age"
    assert "expected integer, found string 'old'" in caught.value.message


def test_booleans_are_not_numbers() -> None:
    rows = from_table(["age", "income", "plan"], [[True, 1.0, "a"]])
    with pytest.raises(ClientError, match=r"data\[0\]\[0\]: expected integer, found boolean"):
        conform(rows, SIGNATURE)


def test_missing_values_only_where_the_signature_allows_them() -> None:
    allowed = from_table(["age", "income", "plan"], [[1, None, "a"], [2, math.nan, "b"]])
    assert len(conform(allowed, SIGNATURE)) == 2
    refused = from_table(["age", "income", "plan"], [[1, 2.0, None]])
    with pytest.raises(ClientError, match=r"data\[0\]\[2\]: expected category, found a missing"):
        conform(refused, SIGNATURE)


def test_a_record_lacking_a_column_others_have_is_named() -> None:
    rows = from_records(
        [{"age": 1, "income": 2.0, "plan": "a"}, {"age": 1, "plan": "a"}], "records"
    )
    with pytest.raises(ClientError, match=r"records\[1\]\.income: missing"):
        conform(rows, SIGNATURE)


def test_positional_rows_take_the_signature_names() -> None:
    rows = from_table(None, [[1, 2.0, "x"]])
    assert conform(rows, SIGNATURE).columns == ("age", "income", "plan")
    with pytest.raises(ClientError, match="has 2 values; the model takes 3"):
        conform(from_table(None, [[1, 2.0]]), SIGNATURE)


def test_without_a_signature_rows_pass_unchecked() -> None:
    rows = from_table(["anything"], [["goes"]])
    assert conform(rows, {}) is rows


@pytest.mark.parametrize(
    ("columns", "data", "message"),
    [
        (None, [], "'data' must be a non-empty list of rows"),
        (None, [1, 2], r"data\[0\] must be a list of values"),
        (["a", "b"], [[1]], r"data\[0\] has 1 values, expected 2 columns"),
        (None, [[1, 2], [1]], r"data\[1\] has 1 values, expected 2 values like row 0"),
        (["a", "a"], [[1, 2]], "'columns' names 'a' twice"),
        ("a", [[1]], "'columns' must be a list of column names"),
    ],
)
def test_malformed_tables_are_400s(columns: object, data: object, message: str) -> None:
    with pytest.raises(ClientError, match=message) as caught:
        from_table(columns, data)
    assert caught.value.status == 400


def test_records_must_be_objects() -> None:
    with pytest.raises(ClientError, match=r"records\[1\] must be an object"):
        from_records([{"a": 1}, [1]], "records")


def test_many_problems_are_capped_and_said_so() -> None:
    signature = {
        "inputs": [{"name": str(i), "type": "float", "dtype": "float64"} for i in range(30)]
    }
    with pytest.raises(ClientError, match="and more: the first 20 are in details") as caught:
        conform(from_table(None, [["x"] * 30]), signature)
    assert len(caught.value.details["problems"]) == 20  # type: ignore[arg-type]
