"""``cv.read_csv``, ``cv.read_parquet`` and ``cv.read_json``: finding files, checking they agree,
reading them (plain, compressed, at fsspec URLs), and the errors that name what went wrong."""

from __future__ import annotations

import bz2
import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import conveyor as cv
from conveyor.errors import DataSourceError

ROWS = 'id,name,score\n1,"Smith, Ann",0.5\n2,Bob,1.5\n3,"Lee, ""Jo""",2.5\n'
EXPECTED = {"id": [1, 2, 3], "name": ["Smith, Ann", "Bob", 'Lee, "Jo"'], "score": [0.5, 1.5, 2.5]}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def numbered(start: int, stop: int, header: bool = True) -> str:
    lines = [f"{i},{i * 10}\n" for i in range(start, stop)]
    return ("a,b\n" if header else "") + "".join(lines)


@pytest.fixture
def three_files(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write(folder / "part-1.csv", numbered(0, 2))
    write(folder / "part-2.csv", numbered(2, 4))
    write(folder / "sub" / "part-3.csv", numbered(4, 6))
    return folder


# -- CSV: where the files are ----------------------------------------------------------------


def test_a_single_csv_reads_every_row_with_inferred_types(tmp_path: Path) -> None:
    ds = cv.read_csv(write(tmp_path / "a.csv", ROWS))
    assert ds.to_polars().to_dict(as_series=False) == EXPECTED
    assert ds.schema.names == ["id", "name", "score"]
    assert [str(t) for t in ds.schema.types] == ["int64", "large_string", "double"]
    assert ds.num_rows == 3


def test_creating_a_dataset_reads_no_rows_until_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", ROWS)
    ds = cv.read_csv(path)
    path.write_text("id,name,score\n9,Zed,9.5\n")  # rows come from the file when read
    assert ds.to_polars()["id"].to_list() == [9]


@pytest.mark.parametrize("form", ["glob", "recursive glob", "folder", "list"])
def test_a_glob_a_folder_and_a_list_name_the_files_in_a_stable_order(
    three_files: Path, form: str
) -> None:
    path: object = {
        "glob": str(three_files / "*.csv"),
        "recursive glob": str(three_files / "**" / "*.csv"),
        "folder": three_files,
        "list": [three_files / "part-1.csv", str(three_files / "part-2.csv")],
    }[form]
    ds = cv.read_csv(path)  # type: ignore[arg-type]
    expected = {"glob": 4, "recursive glob": 6, "folder": 6, "list": 4}[form]
    assert ds.to_polars()["a"].to_list() == list(range(expected))
    assert len(ds.partitions) == expected // 2
    assert all(os.path.isabs(p.source) for p in ds.partitions)


def test_a_folder_skips_hidden_files_and_other_formats(three_files: Path) -> None:
    write(three_files / ".hidden.csv", numbered(100, 101))
    write(three_files / "_SUCCESS.csv", numbered(200, 201))
    write(three_files / "notes.txt.bak", "not a csv")
    write(three_files / "table.parquet", b"PAR1")
    ds = cv.read_csv(three_files)
    assert [Path(p.source).name for p in ds.partitions] == [
        "part-1.csv",
        "part-2.csv",
        "part-3.csv",
    ]


# -- CSV: what is in them --------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "codec"), [("gz", "gzip"), ("bz2", "bz2"), ("zst", "zstd")])
def test_compressed_csv_files_are_decompressed_and_kept_whole(
    tmp_path: Path, suffix: str, codec: str
) -> None:
    body = (ROWS + "".join(f'{i},"n, {i}",{i}.5\n' for i in range(4, 5000))).replace("\n", "\r\n")
    path = tmp_path / f"a.csv.{suffix}"
    with pa.CompressedOutputStream(str(path), codec) as out:
        out.write(body.encode())
    ds = cv.read_csv(path)
    frame = ds.to_polars()
    assert frame.height == 4999
    assert frame.head(3).to_dict(as_series=False) == EXPECTED
    assert frame.row(-1) == (4999, "n, 4999", 4999.5)
    assert ds.partitions[0].compression == codec  # type: ignore[attr-defined]
    assert len(ds.split(8).partitions) == 1  # a compressed stream cannot be entered midway


def test_a_gzip_written_by_the_standard_library_reads_too(tmp_path: Path) -> None:
    ds = cv.read_csv(write(tmp_path / "a.csv.gz", gzip.compress(ROWS.encode())))
    assert ds.to_polars().to_dict(as_series=False) == EXPECTED


def test_crlf_line_endings_leave_no_carriage_returns_in_values(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", ROWS.replace("\n", "\r\n"))
    whole = cv.read_csv(path).to_polars()
    assert whole.to_dict(as_series=False) == EXPECTED
    for n in range(1, 8):
        assert cv.read_csv(path).split(n).to_polars().equals(whole)


def test_schema_overrides_set_a_column_type_for_every_file(three_files: Path) -> None:
    ds = cv.read_csv(three_files, schema_overrides={"a": pl.Float64, "b": pl.String})
    frame = ds.to_polars()
    assert frame.schema == pl.Schema({"a": pl.Float64, "b": pl.String})
    assert frame["a"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert frame["b"].to_list()[:2] == ["0", "10"]


def test_polars_options_reach_every_partition(tmp_path: Path) -> None:
    text = "a;b\n1;NA\n" + "".join(f"{i};{i}\n" for i in range(2, 400))
    ds = cv.read_csv(write(tmp_path / "a.csv", text), separator=";", null_values=["NA"])
    frame = ds.split(5).to_polars()
    assert frame.height == 399 and frame["b"][0] is None and frame["b"][-1] == 399


def test_files_without_a_header_line_take_the_default_column_names(tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", numbered(0, 2, header=False))
    second = write(tmp_path / "b.csv", numbered(2, 3, header=False))
    frame = cv.read_csv([first, second], has_header=False).to_polars()
    assert frame.columns == pl.read_csv(first, has_header=False).columns
    assert frame.rows() == [(0, 0), (1, 10), (2, 20)]


def test_columns_reads_only_those_csv_columns(tmp_path: Path) -> None:
    ds = cv.read_csv(write(tmp_path / "a.csv", ROWS), columns=["score", "id"])
    assert ds.schema.names == ["score", "id"]
    assert ds.split(3).to_polars().columns == ["score", "id"]
    assert ds.to_polars().to_dict(as_series=False) == {
        "score": EXPECTED["score"],
        "id": EXPECTED["id"],
    }


# -- CSV: errors -----------------------------------------------------------------------------


def test_files_whose_header_lines_differ_are_refused_naming_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", "a,b\n1,2\n")
    second = write(tmp_path / "b.csv", "a,c\n3,4\n")
    with pytest.raises(DataSourceError) as caught:
        cv.read_csv([first, second])
    message = str(caught.value)
    assert str(first) in message and str(second) in message
    assert "[a,b]" in message and "[a,c]" in message
    assert caught.value.details["source"] == str(second)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataSourceError, match="file not found") as caught:
        cv.read_csv(missing)
    assert str(missing) in str(caught.value)
    assert caught.value.details["source"] == str(missing)


def test_an_empty_file_is_named(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(DataSourceError, match="empty") as caught:
        cv.read_csv(empty)
    assert str(empty) in str(caught.value)


def test_an_empty_file_after_the_first_is_refused_for_its_missing_header(tmp_path: Path) -> None:
    good = write(tmp_path / "a.csv", "a,b\n1,2\n")
    empty = write(tmp_path / "b.csv", "")
    with pytest.raises(DataSourceError) as caught:
        cv.read_csv([good, empty])
    assert caught.value.details["source"] == str(empty)


def test_a_glob_matching_nothing_is_named(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.csv")
    with pytest.raises(DataSourceError, match="no file matches") as caught:
        cv.read_csv(pattern)
    assert pattern in str(caught.value)


def test_a_folder_without_csv_files_is_named(tmp_path: Path) -> None:
    write(tmp_path / "notes.md", "hello")
    with pytest.raises(DataSourceError, match="holds no csv file") as caught:
        cv.read_csv(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_an_empty_list_of_paths_is_refused() -> None:
    with pytest.raises(DataSourceError, match="no csv path given"):
        cv.read_csv([])


def test_an_unknown_option_is_reported_when_the_dataset_is_created(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="option"):
        cv.read_csv(write(tmp_path / "a.csv", ROWS), no_such_option=1)


def test_a_truncated_gzip_file_fails_on_read_naming_the_file(tmp_path: Path) -> None:
    good = write(tmp_path / "a.csv.gz", gzip.compress(numbered(0, 10).encode()))
    data = gzip.compress(numbered(10, 150_000).encode(), compresslevel=1)
    cut = write(tmp_path / "b.csv.gz", data[:-1000])  # the first MiB, the header, reads fine
    ds = cv.read_csv([good, cut])  # only the header line of the second file is read up front
    assert ds.head(3)["a"].to_list() == [0, 1, 2]
    with pytest.raises(DataSourceError) as caught:
        ds.to_arrow()
    assert str(cut) in str(caught.value)
    assert caught.value.details["source"] == str(cut)


@pytest.mark.parametrize(("suffix", "compress"), [("gz", gzip.compress), ("bz2", bz2.compress)])
def test_a_small_truncated_file_fails_when_the_dataset_is_made_naming_it(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    data = compress(numbered(0, 20_000).encode())
    cut = write(tmp_path / f"a.csv.{suffix}", data[: len(data) // 2])
    with pytest.raises(DataSourceError, match=r"[Tt]runcated|end of stream|invalid") as caught:
        cv.read_csv([write(tmp_path / "0.csv", numbered(0, 1)), cut])
    assert str(cut) in str(caught.value)


def test_a_bad_value_in_a_later_partition_names_the_file_and_its_byte_range(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "a.csv", numbered(0, 20_000) + "oops,1\n")  # beyond type inference
    ds = cv.read_csv(path).split(4)
    assert ds.schema.field("a").type == pa.int64()
    assert ds.head(2)["a"].to_list() == [0, 1]  # the first partition is fine
    with pytest.raises(DataSourceError) as caught:
        ds.to_arrow()
    last = ds.partitions[-1]
    assert caught.value.details["source"] == last.source
    assert str(path) in str(caught.value) and "bytes" in last.source
    assert "oops" in str(caught.value)


# -- Parquet ---------------------------------------------------------------------------------


def parquet_file(path: Path, rows: int = 50, row_group_size: int | None = None) -> Path:
    table = pa.table({"x": list(range(rows)), "y": [f"v{i}" for i in range(rows)]})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_row_counts_and_schema_come_from_the_footer(tmp_path: Path) -> None:
    first = parquet_file(tmp_path / "a.parquet", rows=50)
    parquet_file(tmp_path / "b.parquet", rows=7)
    ds = cv.read_parquet(tmp_path)
    assert [p.num_rows for p in ds.partitions] == [50, 7]
    assert ds.schema.names == ["x", "y"]
    first.unlink()  # the counts were taken from the footers when the dataset was made
    assert ds.num_rows == 57
    with pytest.raises(DataSourceError, match="file not found") as caught:
        ds.schema  # noqa: B018
    assert caught.value.details["source"] == str(first)
    with pytest.raises(DataSourceError, match="file not found"):
        ds.to_arrow()


def test_parquet_reads_every_row_in_file_order(tmp_path: Path) -> None:
    parquet_file(tmp_path / "a.parquet", rows=5)
    parquet_file(tmp_path / "b.parquet", rows=3)
    frame = cv.read_parquet(str(tmp_path / "*.parquet")).to_polars()
    assert frame["x"].to_list() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert frame["y"][4] == "v4"


def test_parquet_columns_reads_only_those_columns_in_that_order(tmp_path: Path) -> None:
    path = parquet_file(tmp_path / "a.parquet", rows=40, row_group_size=10)
    ds = cv.read_parquet(path, columns=["y", "x"])
    assert ds.schema.names == ["y", "x"]
    assert ds.to_arrow().column_names == ["y", "x"]
    only = cv.read_parquet(path, columns=["x"]).split(4)
    assert len(only.partitions) == 4
    assert only.to_polars().to_dict(as_series=False) == {"x": list(range(40))}


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    bad = write(tmp_path / "a.parquet", b"not parquet at all")
    with pytest.raises(DataSourceError) as caught:
        cv.read_parquet(bad)
    assert str(bad) in str(caught.value)


# -- JSON ------------------------------------------------------------------------------------


def test_json_arrays_and_json_lines_read_alike(tmp_path: Path) -> None:
    write(tmp_path / "a.json", '[{"k": 1, "v": "x"}, {"k": 2, "v": "y"}]')
    write(tmp_path / "b.json", '{"k": 3, "v": "z"}\n{"k": 4, "v": "w"}\n')  # lines in a .json
    write(tmp_path / "c.jsonl", '{"k": 5, "v": "u"}\n')
    write(tmp_path / "d.ndjson", '{"k": 6, "v": "t"}\n')
    ds = cv.read_json(tmp_path)
    assert [p.format for p in ds.partitions] == ["json", "json", "ndjson", "ndjson"]  # type: ignore[attr-defined]
    assert ds.to_polars().to_dict(as_series=False) == {
        "k": [1, 2, 3, 4, 5, 6],
        "v": ["x", "y", "z", "w", "u", "t"],
    }


def test_lines_true_reads_any_file_name_as_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "events.json", '{"k": 1}\n{"k": 2}\n')
    ds = cv.read_json(path, lines=True)
    assert ds.partitions[0].format == "ndjson"  # type: ignore[attr-defined]
    assert ds.to_polars()["k"].to_list() == [1, 2]


def test_compressed_json_lines_read(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl.gz", gzip.compress(b'{"k": 1}\n{"k": 2}\n'))
    assert cv.read_json(path).to_polars()["k"].to_list() == [1, 2]


def test_broken_json_is_named_on_read(tmp_path: Path) -> None:
    bad = write(tmp_path / "a.json", '[{"k": 1},')
    ds = cv.read_json(bad)
    with pytest.raises(DataSourceError) as caught:
        ds.to_arrow()
    assert str(bad) in str(caught.value)


# -- fsspec URLs -----------------------------------------------------------------------------


@pytest.fixture
def memory_root(tmp_path: Path) -> Iterator[str]:
    """A folder of its own in fsspec's process-wide memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/readers-{tmp_path.name}"
    yield root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_csv_files_at_a_memory_url_read_by_glob_and_by_folder(memory_root: str) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{memory_root}/a.csv", numbered(0, 2).encode())
    fs.pipe(f"{memory_root}/b.csv", numbered(2, 5).encode())
    fs.pipe(f"{memory_root}/skip.txt.bak", b"x")
    by_glob = cv.read_csv(f"memory://{memory_root}/*.csv")
    by_folder = cv.read_csv(f"memory://{memory_root}")
    assert [p.source for p in by_glob.partitions] == [
        f"memory://{memory_root}/a.csv",
        f"memory://{memory_root}/b.csv",
    ]
    assert by_folder.fingerprint() == by_glob.fingerprint()
    assert by_folder.to_polars()["a"].to_list() == [0, 1, 2, 3, 4]
    assert by_glob.split(3).to_polars()["b"].to_list() == [0, 10, 20, 30, 40]


def test_parquet_at_a_memory_url_reads(memory_root: str, tmp_path: Path) -> None:
    local = parquet_file(tmp_path / "a.parquet", rows=12, row_group_size=4)
    fsspec.filesystem("memory").pipe(f"{memory_root}/a.parquet", local.read_bytes())
    ds = cv.read_parquet(f"memory://{memory_root}/a.parquet")
    assert ds.num_rows == 12
    assert len(ds.split(3).partitions) == 3
    assert ds.split(3).to_polars()["x"].to_list() == list(range(12))


def test_a_rewritten_memory_file_changes_the_fingerprint(memory_root: str) -> None:
    fs = fsspec.filesystem("memory")
    url = f"memory://{memory_root}/a.csv"
    fs.pipe(f"{memory_root}/a.csv", b"a,b\n1,2\n")
    before = cv.read_csv(url).fingerprint()
    assert cv.read_csv(url).fingerprint() == before
    fs.pipe(f"{memory_root}/a.csv", b"a,b\n3,4\n")  # same size, other rows
    assert cv.read_csv(url).fingerprint() != before


def test_a_missing_memory_url_is_named(memory_root: str) -> None:
    url = f"memory://{memory_root}/nope.csv"
    with pytest.raises(DataSourceError, match="file not found") as caught:
        cv.read_csv(url)
    assert caught.value.details["source"] == url


def test_a_memory_glob_matching_nothing_is_named(memory_root: str) -> None:
    url = f"memory://{memory_root}/*.csv"
    with pytest.raises(DataSourceError, match="no csv file matches"):
        cv.read_csv(url)
