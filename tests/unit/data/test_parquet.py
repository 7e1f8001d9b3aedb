from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.core._errors import ConveyorError, PickleFallbackWarning, StoreError
from conveyor.data import Materialized, load, materialize


def roundtrip(value: object) -> tuple[Materialized, object]:
    stored = materialize(value)
    return stored, load(stored.materializer, stored.type_name, stored.data, stored.meta)


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.5, np.nan, 2.5],
            "s": ["x", None, "z"],
            "b": [True, False, True],
            "cat": pd.Categorical(["u", "v", "u"]),
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "td": pd.to_timedelta([1, 2, 3], unit="s"),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "lists": [[1, 2], [], [3]],
        }
    )


def test_a_pandas_frame_loads_back_equal() -> None:
    frame = sample_frame()
    stored, loaded = roundtrip(frame)
    assert stored.materializer == "parquet"
    assert stored.type_name == "pandas.DataFrame"
    assert stored.rows == 3
    assert isinstance(loaded, pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, frame)


def test_the_parquet_is_zstd_compressed() -> None:
    stored = materialize(sample_frame())
    metadata = pq.ParquetFile(io.BytesIO(stored.data)).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(10, 13),
        pd.Index(["a", "b", "c"], name="key"),
        pd.MultiIndex.from_tuples([(1, "a"), (1, "b"), (2, "a")], names=["n", "l"]),
        pd.date_range("2024-01-01", periods=3, freq="D", name="day"),
        pd.timedelta_range("1s", periods=3, freq="s"),
    ],
)
def test_the_index_is_preserved(index: pd.Index[Any]) -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=index)
    _, loaded = roundtrip(frame)
    assert isinstance(loaded, pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, frame, check_index_type=True, check_freq=True)


def test_column_labels_and_attrs_are_preserved() -> None:
    frame = pd.DataFrame([[1, 2], [3, 4]], columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)]))
    frame.attrs["source"] = "test"
    _, loaded = roundtrip(frame)
    assert isinstance(loaded, pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded.attrs == {"source": "test"}


def test_a_table_records_its_schema() -> None:
    stored = materialize(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert stored.meta["columns"] == ["a", "b"]
    dtypes = stored.meta["dtypes"]
    assert isinstance(dtypes, dict)
    assert dtypes["a"] == "int64"
    assert set(dtypes) == {"a", "b"}


def test_equal_frames_give_equal_bytes() -> None:
    assert materialize(sample_frame()).data == materialize(sample_frame()).data


def test_different_frames_give_different_bytes() -> None:
    other = sample_frame()
    other.loc[0, "i"] = 99
    assert materialize(sample_frame()).data != materialize(other).data


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.5, 2.5], name="price", index=pd.Index(["a", "b"], name="item")),
        pd.Series([1, 2, 3]),
        pd.Series(["x", "y"], name=0),
    ],
)
def test_a_pandas_series_loads_back_with_its_name_and_index(series: pd.Series[Any]) -> None:
    stored, loaded = roundtrip(series)
    assert stored.materializer == "parquet"
    assert stored.type_name == "pandas.Series"
    assert stored.rows == len(series)
    assert isinstance(loaded, pd.Series)
    pd.testing.assert_series_equal(loaded, series)


def test_a_series_named_by_a_tuple_is_pickled_rather_than_renamed() -> None:
    series = pd.Series([1, 2], name=("a", "b"))
    with pytest.warns(PickleFallbackWarning, match=r"\('a', 'b'\)"):
        stored, loaded = roundtrip(series)
    assert stored.materializer == "cloudpickle"
    assert isinstance(loaded, pd.Series)
    pd.testing.assert_series_equal(loaded, series)


def test_a_frame_parquet_cannot_store_falls_back_to_cloudpickle_and_says_why() -> None:
    frame = pd.DataFrame({"mixed": [1, "one"]})
    with pytest.warns(PickleFallbackWarning, match="Parquet cannot store it") as caught:
        stored, loaded = roundtrip(frame)
    assert "pandas" in str(caught[0].message)
    assert "DataFrame" in str(caught[0].message)
    assert stored.materializer == "cloudpickle"
    assert isinstance(loaded, pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, frame)


def test_a_polars_frame_loads_back_as_polars() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {
            "a": [1, 2, None],
            "s": ["x", "y", "z"],
            "c": pl.Series(["u", "v", "u"], dtype=pl.Categorical),
            "l": [[1], [2, 3], []],
        }
    )
    stored, loaded = roundtrip(frame)
    assert stored.materializer == "parquet"
    assert stored.type_name == "polars.DataFrame"
    assert stored.rows == 3
    assert stored.meta["columns"] == ["a", "s", "c", "l"]
    assert isinstance(loaded, pl.DataFrame)
    pytest.importorskip("polars.testing").assert_frame_equal(loaded, frame)
    assert materialize(frame).data == stored.data


def test_a_polars_series_loads_back_as_polars() -> None:
    pl = pytest.importorskip("polars")
    series = pl.Series("n", [1.5, None, 3.0])
    stored, loaded = roundtrip(series)
    assert stored.type_name == "polars.Series"
    assert isinstance(loaded, pl.Series)
    pytest.importorskip("polars.testing").assert_series_equal(loaded, series)


def test_a_polars_frame_nothing_can_store_is_an_error_giving_both_reasons() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"o": pl.Series([{1}, {2}], dtype=pl.Object)})
    with pytest.raises(ConveyorError, match=r"Parquet cannot store it.*cloudpickle cannot"):
        materialize(frame)


def test_an_arrow_table_loads_back_as_arrow() -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]}).replace_schema_metadata({"k": "v"})
    stored, loaded = roundtrip(table)
    assert stored.materializer == "parquet"
    assert stored.type_name == "pyarrow.Table"
    assert stored.rows == 3
    assert stored.meta["columns"] == ["a", "b"]
    assert stored.meta["dtypes"] == {"a": "int64", "b": "string"}
    profile = stored.meta["profile"]
    assert profile["rows"] == 3
    assert profile["columns"]["b"]["nulls"] == 1
    assert isinstance(loaded, pa.Table)
    assert loaded.equals(table, check_metadata=True)
    assert materialize(table).data == stored.data


def test_an_unknown_table_type_name_is_a_store_error() -> None:
    stored = materialize(pa.table({"a": [1]}))
    with pytest.raises(StoreError, match=r"cannot load a dask\.DataFrame"):
        load("parquet", "dask.DataFrame", stored.data, stored.meta)


def test_bytes_that_are_not_parquet_are_a_store_error() -> None:
    with pytest.raises(StoreError, match="stored as parquet") as caught:
        load("parquet", "pandas.DataFrame", b"not parquet", {})
    assert caught.value.details["materializer"] == "parquet"


# -- large tables written straight to a file ---------------------------------------------------


def _large_tables() -> list[object]:
    pl = pytest.importorskip("polars")
    rows = 200_000  # 3.2 MB of float64 and int64: past FILE_BYTES
    frame = pd.DataFrame({"x": np.arange(rows) * 0.5, "i": np.arange(rows)})
    return [frame, pl.from_pandas(frame), pa.Table.from_pandas(frame, preserve_index=False)]


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_a_large_table_given_a_folder_is_written_to_a_file_with_the_same_bytes(
    kind: str, tmp_path: Any
) -> None:
    table = _large_tables()[["pandas", "polars", "arrow"].index(kind)]
    in_memory = materialize(table)
    in_file = materialize(table, folder=str(tmp_path / "staging"))
    assert in_memory.file is None and in_memory.data
    assert in_file.file is not None and in_file.data == b""
    with open(in_file.file, "rb") as f:
        assert f.read() == in_memory.data  # equal tables, equal bytes, wherever written
    assert in_file.meta == in_memory.meta  # the profile and schema are the same too
    assert (in_file.materializer, in_file.type_name, in_file.rows) == (
        in_memory.materializer,
        in_memory.type_name,
        in_memory.rows,
    )


def test_a_small_table_given_a_folder_stays_in_memory(tmp_path: Any) -> None:
    stored = materialize(sample_frame(), folder=str(tmp_path))
    assert stored.file is None and stored.data
    assert list(tmp_path.iterdir()) == []


def test_a_large_table_parquet_cannot_store_leaves_no_file_behind(tmp_path: Any) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {"x": np.arange(200_000) * 0.5, "o": pl.Series([1] * 200_000, dtype=pl.Object)}
    )
    assert frame.estimated_size() >= 1 << 20
    with pytest.raises(ConveyorError, match=r"Parquet cannot store it"):
        materialize(frame, folder=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
