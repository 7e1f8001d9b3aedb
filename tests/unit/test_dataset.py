"""``cv.Dataset``: splitting files into partitions without losing or repeating a row, reading
across partitions, deriving, writing, describing itself as a manifest, and fingerprints."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Generator
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import conveyor as cv
from conveyor.core._errors import ConveyorError, DataSourceError
from conveyor.data import load, materialize
from conveyor.data._dataset import persist
from conveyor.data._partitions import ArtifactPartition, StreamedPartition, TablePartition
from conveyor.testing import MemoryArtifactStore


def write_csv(path: Path, rows: int, *, trailing_newline: bool = True, crlf: bool = False) -> Path:
    """``rows`` rows of varying width (so ranges cut lines at every offset) under a header."""
    lines = ["n,word,value"] + [f"{i},{'w' * (i % 7)}x,{i * 0.25}" for i in range(rows)]
    text = ("\r\n" if crlf else "\n").join(lines)
    if trailing_newline:
        text += "\r\n" if crlf else "\n"
    path.write_text(text, newline="")
    return path


def write_parquet(path: Path, rows: int, row_group_size: int) -> Path:
    table = pa.table({"n": list(range(rows)), "s": [f"s{i}" for i in range(rows)]})
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


# -- split: CSV byte ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "trailing_newline", "crlf"),
    [
        *[(0, True, False), (1, True, False), (1, False, False), (5, True, False)],
        *[(5, False, False), (37, True, False), (37, False, True), (120, True, True)],
    ],
)
def test_byte_ranges_give_every_row_once_in_order(
    tmp_path: Path, rows: int, trailing_newline: bool, crlf: bool
) -> None:
    path = write_csv(tmp_path / "a.csv", rows, trailing_newline=trailing_newline, crlf=crlf)
    whole = pl.read_csv(path)
    size = path.stat().st_size
    one_byte_each = [size, size + 5] if size < 200 else []  # ranges of a single byte
    for n in [*range(1, 12), 17, 40, rows + 1, *one_byte_each]:
        ds = cv.read_csv(path).split(n)
        ranges = [p.byte_range for p in ds.partitions]  # type: ignore[attr-defined]
        if len(ranges) > 1:  # the ranges tile the file, and there are about n of them
            assert ranges[0][0] == 0 and ranges[-1][1] == size
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
            assert len(ranges) <= n
        parts = [pl.from_arrow(p.read()) for p in ds.partitions]
        joined = pl.concat(parts) if parts else pl.DataFrame()  # type: ignore[arg-type]
        assert joined.equals(whole), f"{n} partitions"


def test_more_partitions_than_lines_leaves_some_empty_but_loses_nothing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", 3)
    ds = cv.read_csv(path).split(60)
    sizes = [p.read().num_rows for p in ds.partitions]
    assert len(sizes) > 3 and sum(sizes) == 3 and sizes.count(1) == 3
    assert ds.to_polars()["n"].to_list() == [0, 1, 2]
    assert ds.schema.names == ["n", "word", "value"]


def test_split_cuts_the_files_of_a_folder_but_never_merges_them(tmp_path: Path) -> None:
    for name, rows in [("a.csv", 400), ("b.csv", 10), ("c.csv", 10)]:
        write_csv(tmp_path / name, rows)
    ds = cv.read_csv(tmp_path)
    assert len(ds.split(1).partitions) == 3
    cut = ds.split(10)
    sources = [Path(p.source.split(" ")[0]).name for p in cut.partitions]
    assert sources.count("b.csv") == 1 and sources.count("c.csv") == 1
    assert sources.count("a.csv") >= 7
    assert cut.to_polars().equals(ds.to_polars())


def test_split_without_a_count_leaves_small_files_whole(tmp_path: Path) -> None:
    ds = cv.read_csv(write_csv(tmp_path / "a.csv", 100))
    assert [p.byte_range for p in ds.split().partitions] == [None]  # type: ignore[attr-defined]


def test_a_split_dataset_is_not_split_again(tmp_path: Path) -> None:
    once = cv.read_csv(write_csv(tmp_path / "a.csv", 100)).split(4)
    assert once.split(50).partitions == once.partitions


def test_csv_files_that_may_hold_multiline_fields_can_opt_out_of_splitting(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.csv"
    path.write_text("k,text\n" + "".join(f'{i},"line one\nline {i}"\n' for i in range(50)))
    ds = cv.read_csv(path, split=False)
    assert len(ds.split(8).partitions) == 1
    assert ds.split(8).to_polars()["text"][49] == "line one\nline 49"


@pytest.mark.parametrize("bad", [0, -3])
def test_split_refuses_a_count_below_one(tmp_path: Path, bad: int) -> None:
    ds = cv.read_csv(write_csv(tmp_path / "a.csv", 3))
    with pytest.raises(ConveyorError, match="partitions must be >= 1") as caught:
        ds.split(bad)
    assert caught.value.details == {"partitions": bad}


# -- split: Parquet row groups ---------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 25])
def test_parquet_splits_by_row_groups_into_about_n_pieces(tmp_path: Path, n: int) -> None:
    path = write_parquet(tmp_path / "a.parquet", rows=100, row_group_size=10)
    ds = cv.read_parquet(path).split(n)
    groups = [p.row_groups for p in ds.partitions]  # type: ignore[attr-defined]
    if n == 1:
        assert groups == [None]
    else:
        assert len(groups) == min(n, 10)
        assert [g for group in groups for g in group] == list(range(10))
        assert max(map(len, groups)) - min(map(len, groups)) <= 1  # evenly spread
    assert [p.num_rows for p in ds.partitions] == [
        p.read().num_rows for p in ds.partitions
    ]  # counts from the footer, without reading
    assert ds.num_rows == 100
    assert ds.to_polars()["n"].to_list() == list(range(100))


def test_parquet_files_of_a_folder_are_split_but_never_merged(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a.parquet", rows=60, row_group_size=10)
    write_parquet(tmp_path / "b.parquet", rows=5, row_group_size=10)
    ds = cv.read_parquet(tmp_path).split(7)
    names = [Path(p.source.split(" ")[0]).name for p in ds.partitions]
    assert names.count("b.parquet") == 1 and names.count("a.parquet") >= 3
    assert ds.to_polars()["n"].to_list() == [*range(60), *range(5)]


# -- reading ---------------------------------------------------------------------------------


@pytest.fixture
def three_parts(tmp_path: Path) -> cv.Dataset:
    for i in range(3):
        (tmp_path / f"{i}.csv").write_text(
            "k,v\n" + "".join(f"{i * 10 + j},{j}\n" for j in range(4))
        )
    return cv.read_csv(tmp_path)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, []), (2, [0, 1]), (4, [0, 1, 2, 3]), (6, [0, 1, 2, 3, 10, 11]), (100, None)],
)
def test_head_takes_rows_across_partitions_in_order(
    three_parts: cv.Dataset, n: int, expected: list[int] | None
) -> None:
    head = three_parts.head(n)
    everything = [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]
    assert isinstance(head, pl.DataFrame)
    assert (head["k"].to_list() if n else []) == (everything if expected is None else expected)


def test_num_rows_schema_and_conversions_agree(three_parts: cv.Dataset) -> None:
    assert three_parts.num_rows == 12
    assert three_parts.schema == pa.schema({"k": pa.int64(), "v": pa.int64()})
    assert three_parts.to_arrow().num_rows == 12
    pandas = three_parts.to_pandas()
    assert isinstance(pandas, pd.DataFrame) and list(pandas["k"])[-1] == 23
    assert sum(t.num_rows for t in three_parts.iter_tables()) == 12
    assert "0.csv" in repr(three_parts) and "3 partitions" not in repr(three_parts)


def test_an_empty_dataset_has_no_rows_and_no_columns() -> None:
    empty = cv.Dataset([])
    assert empty.num_rows == 0 and empty.schema.names == [] and empty.to_arrow().num_rows == 0
    assert empty.head().is_empty()


@pytest.mark.parametrize(
    ("as_", "kind"),
    [("polars", pl.DataFrame), ("pandas", pd.DataFrame), ("arrow", pa.Table)],
)
def test_map_partitions_hands_each_partition_over_as_asked(
    three_parts: cv.Dataset, as_: str, kind: type
) -> None:
    seen: list[type] = []

    def add_one(part: object) -> object:
        seen.append(type(part))
        frame = pl.from_arrow(part) if isinstance(part, pa.Table) else pl.DataFrame(part)
        return frame.with_columns(pl.col("v") + 1)  # type: ignore[union-attr]

    mapped = three_parts.map_partitions(add_one, as_=as_)
    assert not seen  # lazy
    assert mapped.to_polars()["v"].to_list() == [1, 2, 3, 4] * 3
    assert seen == [kind] * 3
    assert mapped.describe() is None  # exists only when computed
    assert mapped.split(10).partitions == mapped.partitions


def test_map_partitions_may_return_any_table_kind(three_parts: cv.Dataset) -> None:
    mapped = three_parts.map_partitions(lambda f: f.to_pandas().head(1), as_="polars")
    assert mapped.to_polars()["k"].to_list() == [0, 10, 20]


def test_map_partitions_that_returns_no_table_names_the_partition(
    three_parts: cv.Dataset,
) -> None:
    def count(part: pl.DataFrame) -> int:
        return part.height

    with pytest.raises(ConveyorError, match="must return a table") as caught:
        three_parts.map_partitions(count).to_arrow()
    message = str(caught.value)
    assert "count" in message and "got int" in message
    assert caught.value.details["source"] == three_parts.partitions[0].source


def test_map_partitions_refuses_an_unknown_kind(three_parts: cv.Dataset) -> None:
    with pytest.raises(ConveyorError, match="as_ must be one of polars, pandas, arrow"):
        three_parts.map_partitions(lambda f: f, as_="numpy")


def test_a_mapped_fingerprint_tells_functions_apart(three_parts: cv.Dataset) -> None:
    def times(k: int) -> cv.Dataset:
        return three_parts.map_partitions(lambda f: f * k)

    assert times(2).fingerprint() == times(2).fingerprint()
    assert times(2).fingerprint() != times(3).fingerprint()
    by_two = three_parts.map_partitions(lambda f: f * 2).fingerprint()
    assert by_two != three_parts.map_partitions(lambda f: f * 3).fingerprint()
    assert by_two != three_parts.map_partitions(lambda f: f * 2, as_="pandas").fingerprint()


def test_partitions_whose_types_cannot_be_joined_fail_naming_the_dataset(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": [[1], [2]]}), tmp_path / "b.parquet")  # a list: no common type
    ds = cv.read_parquet(str(tmp_path))
    for read in (ds.to_arrow, ds.head):
        with pytest.raises(
            DataSourceError, match=r"the partitions of Dataset.* do not fit"
        ) as info:
            read()
        assert str(info.value.details["source"]).endswith("a.parquet")


def test_types_are_widened_where_partitions_differ(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": pa.array([None, None], pa.null())}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": [1.5, 2.5]}), tmp_path / "b.parquet")
    table = cv.read_parquet(str(tmp_path)).to_arrow()
    assert table.schema.field("x").type == pa.float64()
    assert table.column("x").to_pylist() == [None, None, 1.5, 2.5]


class Chunks(StreamedPartition):
    """Tables handed over as a query's chunks would be."""

    __slots__ = ("tables",)
    hint = "; cast it"

    def __init__(self, *tables: pa.Table) -> None:
        self.tables = tables

    @property
    def source(self) -> str:
        return "chunks under test"

    def iter_tables(self) -> Generator[pa.Table, None, None]:
        yield from self.tables


def test_a_streamed_partition_joins_its_chunks_and_names_them_when_they_do_not_fit() -> None:
    joined = Chunks(pa.table({"x": [1]}), pa.table({"x": [2, 3]})).read()
    assert joined.column("x").to_pylist() == [1, 2, 3]
    bad = Chunks(pa.table({"x": [1]}), pa.table({"x": [[2]]}))
    with pytest.raises(
        DataSourceError, match=r"the chunks of chunks under test do not fit .*; cast it$"
    ):
        bad.read()
    assert bad.schema() == pa.schema([("x", pa.int64())])  # the first chunk only
    assert bad.num_rows is None and bad.describe() is None


# -- in-memory tables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "partitions", "sizes"),
    [(10, 3, [4, 4, 2]), (9, 6, [2, 2, 2, 2, 1]), (3, 5, [1, 1, 1]), (4, 1, [4]), (0, 3, [0])],
)
def test_from_table_cuts_rows_into_non_empty_parts(
    rows: int, partitions: int, sizes: list[int]
) -> None:
    frame = pd.DataFrame({"a": range(rows)})
    ds = cv.Dataset.from_table(frame, partitions=partitions)
    assert [p.num_rows for p in ds.partitions] == sizes
    assert ds.to_pandas()["a"].tolist() == list(range(rows))
    assert ds.describe() is None


def test_from_table_takes_polars_and_arrow_too() -> None:
    table = pa.table({"a": [1, 2, 3]})
    assert cv.Dataset.from_table(pl.from_arrow(table)).to_arrow().equals(table)
    assert cv.Dataset.from_table(table, partitions=2).to_arrow().equals(table)


def test_in_memory_rows_fingerprint_by_content() -> None:
    first = cv.Dataset.from_table(pd.DataFrame({"a": [1, 2]}))
    assert first.fingerprint() == cv.Dataset.from_table(pd.DataFrame({"a": [1, 2]})).fingerprint()
    assert first.fingerprint() != cv.Dataset.from_table(pd.DataFrame({"a": [1, 3]})).fingerprint()


# -- write -----------------------------------------------------------------------------------


def test_write_puts_one_parquet_file_per_partition_and_reads_back(
    three_parts: cv.Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "nested"
    written = three_parts.write(out)
    assert sorted(os.listdir(out)) == [f"part-0000{i}.parquet" for i in range(3)]  # no temp files
    assert pq.ParquetFile(out / "part-00000.parquet").metadata.row_group(0).column(
        0
    ).compression == ("ZSTD")
    assert written.num_rows == 12
    assert written.to_arrow().equals(three_parts.to_arrow())
    assert cv.read_parquet(out).to_polars().equals(three_parts.to_polars())


def test_write_of_in_memory_rows_to_a_memory_url(tmp_path: Path) -> None:
    import fsspec

    url = f"memory://write-{tmp_path.name}"
    frame = pd.DataFrame({"a": range(7)})
    try:
        written = cv.Dataset.from_table(frame, partitions=3).write(url)
        assert [p.source for p in written.partitions] == [
            f"memory:///write-{tmp_path.name}/part-0000{i}.parquet" for i in range(3)
        ]
        assert written.to_pandas()["a"].tolist() == list(range(7))
    finally:
        fsspec.filesystem("memory").rm(f"/write-{tmp_path.name}", recursive=True)


def test_a_shorter_write_replaces_the_parts_of_a_longer_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    cv.Dataset.from_table(pd.DataFrame({"a": range(7)}), partitions=3).write(out)
    cv.Dataset.from_table(pd.DataFrame({"a": [100, 101]})).write(out)
    assert sorted(os.listdir(out)) == ["notes.txt", "part-00000.parquet"]
    assert cv.read_parquet(out).to_pandas()["a"].tolist() == [100, 101]


def test_a_shorter_write_to_a_url_replaces_the_parts_of_a_longer_one(tmp_path: Path) -> None:
    import fsspec

    url = f"memory://rewrite-{tmp_path.name}"
    try:
        cv.Dataset.from_table(pd.DataFrame({"a": range(7)}), partitions=3).write(url)
        cv.Dataset.from_table(pd.DataFrame({"a": [100]})).write(url)
        assert cv.read_parquet(url).to_pandas()["a"].tolist() == [100]
    finally:
        fsspec.filesystem("memory").rm(f"/rewrite-{tmp_path.name}", recursive=True)


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    def broken(part: pl.DataFrame) -> pl.DataFrame:
        if part["k"][0] == 10:
            raise RuntimeError("disk on fire")
        return part

    (tmp_path / "in").mkdir()
    for i in range(2):
        (tmp_path / "in" / f"{i}.csv").write_text(f"k\n{i * 10}\n")
    with pytest.raises(RuntimeError, match="disk on fire"):
        cv.read_csv(tmp_path / "in").map_partitions(broken).write(tmp_path / "out")
    assert os.listdir(tmp_path / "out") == ["part-00000.parquet"]


# -- manifests -------------------------------------------------------------------------------


def roundtrip(ds: cv.Dataset) -> cv.Dataset:
    manifest = ds.describe()
    assert manifest is not None
    return cv.Dataset.from_manifest(json.dumps(manifest).encode())


def test_a_split_csv_dataset_round_trips_through_its_manifest(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", 100)
    ds = cv.read_csv(path, null_values=("NA",), schema_overrides={"value": pl.Float32}).split(4)
    back = roundtrip(ds)
    assert json.dumps(back.describe()) == json.dumps(ds.describe())
    assert [p.byte_range for p in back.partitions] == [  # type: ignore[attr-defined]
        p.byte_range  # type: ignore[attr-defined]
        for p in ds.partitions
    ]
    assert back.fingerprint() == ds.fingerprint()  # so cache keys survive a reload
    assert back.schema == ds.schema and back.schema.field("value").type == pa.float32()
    assert back.to_arrow().equals(ds.to_arrow())


def test_parquet_and_json_datasets_round_trip_through_their_manifests(tmp_path: Path) -> None:
    parquet = cv.read_parquet(write_parquet(tmp_path / "a.parquet", 30, 10), columns=("s",)).split(
        3
    )
    (tmp_path / "b.jsonl").write_text('{"q": 1}\n{"q": 2}\n')
    jsonl = cv.read_json(tmp_path / "b.jsonl")
    for ds in (parquet, jsonl):
        back = roundtrip(ds)
        assert back.fingerprint() == ds.fingerprint()
        assert back.to_arrow().equals(ds.to_arrow())
    assert [p.num_rows for p in roundtrip(parquet).partitions] == [10, 10, 10]


def test_a_manifest_of_another_version_is_refused() -> None:
    with pytest.raises(ConveyorError, match="unknown dataset manifest version 99"):
        cv.Dataset.from_manifest(b'{"version": 99, "partitions": []}')


def test_stored_parts_need_their_store_to_load() -> None:
    store = MemoryArtifactStore()
    stored = persist(cv.Dataset.from_table(pd.DataFrame({"a": range(5)}), partitions=2), store)
    assert all(isinstance(p, ArtifactPartition) for p in stored.partitions)
    data = json.dumps(stored.describe()).encode()
    with pytest.raises(ConveyorError, match="artifact store"):
        cv.Dataset.from_manifest(data)
    back = cv.Dataset.from_manifest(data, store)
    assert back.to_pandas()["a"].tolist() == [0, 1, 2, 3, 4]
    assert [p.num_rows for p in back.partitions] == [3, 2]


def test_a_stored_part_reads_the_same_rows_through_polars_as_through_arrow() -> None:
    import datetime as dt

    store = MemoryArtifactStore()
    table = pa.table(
        {
            "n": pa.array([1, None, 3], pa.int64()),
            "s": ["a", None, "c"],
            "c": pa.array(["x", "y", "x"]).dictionary_encode(),
            "day": [dt.date(2024, 1, 1), None, dt.date(2024, 3, 1)],
            "xs": [[1.0], [], None],
        }
    )
    (part,) = persist(cv.Dataset.from_table(table), store).partitions
    assert isinstance(part, ArtifactPartition)
    assert part.read_polars().equals(pl.from_arrow(part.read()))  # type: ignore[arg-type]
    broken = ArtifactPartition(store, store.put(b"not parquet"), 1)
    with pytest.raises(DataSourceError, match="as Parquet"):
        broken.read_polars()


def test_persist_keeps_file_partitions_and_stores_only_what_exists_now(tmp_path: Path) -> None:
    store = MemoryArtifactStore()
    files = cv.read_csv(write_csv(tmp_path / "a.csv", 4))
    mixed = cv.Dataset([*files.partitions, TablePartition(pa.table({"n": [9]}))], splittable=False)
    stored = persist(mixed, store)
    assert stored.partitions[0] is files.partitions[0]
    assert isinstance(stored.partitions[1], ArtifactPartition)
    assert stored.to_polars()["n"].to_list() == [0, 1, 2, 3, 9]


def test_the_dataset_materializer_stores_the_manifest_and_its_columns(tmp_path: Path) -> None:
    ds = cv.read_parquet(write_parquet(tmp_path / "a.parquet", 20, 5)).split(2)
    stored = materialize(ds)
    assert stored.materializer == "dataset" and stored.type_name == "conveyor.Dataset"
    assert stored.rows == 20
    assert stored.meta == {
        "partitions": 2,
        "columns": ["n", "s"],
        "dtypes": {"n": "int64", "s": "string"},
    }
    back = load(stored.materializer, stored.type_name, stored.data, stored.meta)
    assert isinstance(back, cv.Dataset) and back.fingerprint() == ds.fingerprint()
    csv = materialize(cv.read_csv(write_csv(tmp_path / "b.csv", 3)))
    assert csv.rows is None  # unknown until read


def test_the_materializer_refuses_rows_that_exist_only_in_memory() -> None:
    with pytest.raises(ConveyorError, match="exist only in memory"):
        materialize(cv.Dataset.from_table(pd.DataFrame({"a": [1]})))


# -- fingerprints ----------------------------------------------------------------------------


def test_the_fingerprint_follows_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", 10)
    before = cv.read_csv(path).fingerprint()
    assert cv.read_csv(path).fingerprint() == before  # looked at again, unchanged
    assert cv.read_csv(str(path)).split(1).fingerprint() == before

    stat = path.stat()
    path.write_text(path.read_text().replace("9,", "8,"))  # same size, other rows
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = cv.read_csv(path).fingerprint()
    assert changed != before

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))  # touched only
    assert cv.read_csv(path).fingerprint() != changed  # the stamp is all that is seen


def test_each_partition_fingerprints_its_own_range(tmp_path: Path) -> None:
    parts = cv.read_csv(write_csv(tmp_path / "a.csv", 100)).split(4).partitions
    assert len({p.fingerprint() for p in parts}) == len(parts)


def test_adding_a_file_leaves_the_other_partitions_fingerprints_alone(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        write_csv(tmp_path / name, 5)
    before = [p.fingerprint() for p in cv.read_csv(tmp_path).split().partitions]
    write_csv(tmp_path / "c.csv", 5)
    after = [p.fingerprint() for p in cv.read_csv(tmp_path).split().partitions]
    assert after[:2] == before and len(after) == 3


def test_a_streamed_partition_without_its_stream_cannot_be_made() -> None:
    class NoStream(StreamedPartition):
        __slots__ = ()

        @property
        def source(self) -> str:
            return "nothing"

    with pytest.raises(TypeError, match="iter_tables"):
        NoStream()  # type: ignore[abstract]
