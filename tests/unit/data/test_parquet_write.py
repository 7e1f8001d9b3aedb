from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.data._parquet_write import _encodings, write_parquet

ROWS = 50_000


def written(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    write_parquet(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def encodings(data: bytes) -> dict[str, set[str]]:
    """Each column path's encodings of its values (the levels' RLE left out)."""
    group = pq.ParquetFile(pa.BufferReader(data)).metadata.row_group(0)
    found = {}
    for i in range(group.num_columns):
        column = group.column(i)
        found[column.path_in_schema] = set(column.encodings) - {"RLE"}
    return found


def mixed_table() -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "measured": rng.normal(size=ROWS),  # hardly a value repeats
            "rounded": np.round(rng.normal(size=ROWS), 1),  # a few dozen values
            "id": np.arange(ROWS),
            "code": rng.integers(0, 50, ROWS).astype(np.int32),
            "name": pa.array([f"n{i % 7}" for i in range(ROWS)]),
            "tags": pa.array([[i % 3, 1] for i in range(ROWS)]),
            "when": pa.array(np.arange(ROWS).astype("datetime64[s]")).cast(pa.timestamp("ms")),
        }
    )


def test_each_column_gets_the_encoding_that_suits_its_values() -> None:
    found = encodings(written(mixed_table()))
    assert found["measured"] == {"BYTE_STREAM_SPLIT"}
    assert "RLE_DICTIONARY" in found["rounded"]
    assert found["id"] == {"DELTA_BINARY_PACKED"}
    assert "RLE_DICTIONARY" in found["code"]
    assert "RLE_DICTIONARY" in found["name"]
    assert "RLE_DICTIONARY" in found["tags.list.element"]
    assert found["when"] == {"DELTA_BINARY_PACKED"}


def test_the_table_reads_back_equal_and_zstd_compressed_at_level_3() -> None:
    table = mixed_table()
    data = written(table)
    assert pq.read_table(pa.BufferReader(data)).equals(table)
    column = pq.ParquetFile(pa.BufferReader(data)).metadata.row_group(0).column(0)
    assert column.compression == "ZSTD"
    # The level leaves no mark in the file: the bytes are those of pyarrow's writer at 3.
    dictionary, encoding = _encodings(table)
    sink = pa.BufferOutputStream()
    options = {"use_dictionary": dictionary, "column_encoding": encoding}
    pq.write_table(
        table, sink, compression="zstd", compression_level=3, max_rows_per_page=1 << 20, **options
    )
    assert sink.getvalue().to_pybytes() == data


def test_chunking_does_not_change_the_bytes() -> None:
    table = mixed_table()
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=3_000))
    assert rechunked.column("measured").num_chunks > 1
    assert written(rechunked) == written(table)


def test_nulls_are_left_out_of_the_choice() -> None:
    # Half nulls, every other value distinct: the values do not repeat, whatever sits
    # under the nulls.
    rng = np.random.default_rng(3)
    values = rng.normal(size=ROWS)
    mask = np.arange(ROWS) % 2 == 0
    table = pa.table({"x": pa.array(values, mask=mask)})
    found = encodings(written(table))
    assert found["x"] == {"BYTE_STREAM_SPLIT"}
    assert pq.read_table(pa.BufferReader(written(table))).equals(table)


def test_a_frequent_value_in_the_sample_does_not_hide_the_repeats() -> None:
    # One value in nine rows out of ten: whether or not it is sampled, the column repeats.
    rng = np.random.default_rng(5)
    values = np.where(np.arange(ROWS) % 10 == 0, rng.normal(size=ROWS), 0.25)
    found = encodings(written(pa.table({"x": values})))
    assert "RLE_DICTIONARY" in found["x"]


@pytest.mark.parametrize("distinct", [100, 5_000, 15_000, 35_000, 50_000])
def test_the_choice_follows_the_number_of_distinct_values(distinct: int) -> None:
    # fewer distinct values than half the rows: a dictionary; more: split bytes
    rng = np.random.default_rng(distinct)
    pool = rng.normal(size=distinct)
    values = pool[np.arange(ROWS) % distinct]
    rng.shuffle(values)
    found = encodings(written(pa.table({"x": values})))
    if distinct < ROWS * 0.4:
        assert "RLE_DICTIONARY" in found["x"]
    else:
        assert found["x"] == {"BYTE_STREAM_SPLIT"}


def test_a_dictionary_too_large_for_its_page_is_not_chosen() -> None:
    # 200,000 distinct int64 values repeated: fewer than half the rows, but 1.6 MB of
    # dictionary, past the page limit where the writer would give it up halfway.
    rows = 500_000
    values = np.arange(rows) % 200_000 * 7_919
    found = encodings(written(pa.table({"x": values})))
    assert found["x"] == {"DELTA_BINARY_PACKED"}


def test_a_small_table_keeps_the_default_dictionaries() -> None:
    table = pa.table({"x": np.arange(100, dtype=np.float64)})
    assert "RLE_DICTIONARY" in encodings(written(table))["x"]


def test_an_ascending_id_shrinks_to_almost_nothing() -> None:
    data = written(pa.table({"id": np.arange(ROWS)}))
    assert len(data) < 2_000  # 400,000 bytes as PLAIN, before compression


def test_every_fixed_width_type_reads_back_equal() -> None:
    rng = np.random.default_rng(11)
    columns = {
        str(kind): pa.array(rng.integers(0, 100_000, ROWS), pa.int64())
        .cast(pa.int32() if kind.bit_width == 32 else pa.int64())
        .cast(kind)
        for kind in [
            pa.int8(),
            pa.int16(),
            pa.int32(),
            pa.uint32(),
            pa.uint64(),
            pa.date32(),
            pa.time64("us"),
            pa.timestamp("ns", tz="UTC"),
            pa.duration("ms"),
        ]
        if not pa.types.is_integer(kind) or kind.bit_width > 16
    }
    columns["int8"] = pa.array(rng.integers(-128, 128, ROWS).astype(np.int8))
    columns["uint16"] = pa.array(rng.integers(0, 1 << 16, ROWS).astype(np.uint16))
    columns["float32"] = pa.array(rng.normal(size=ROWS).astype(np.float32))
    table = pa.table(columns)
    assert pq.read_table(pa.BufferReader(written(table))).equals(table)


def test_an_all_null_column_is_written() -> None:
    table = pa.table({"x": pa.nulls(ROWS, pa.float64()), "y": np.arange(ROWS) * 0.5})
    assert pq.read_table(pa.BufferReader(written(table))).equals(table)
