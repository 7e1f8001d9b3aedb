"""A partition decoded once: the first reader leaves an Arrow copy, later readers map it, the
last one removes it; identity stays the source's."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import conveyor as cv
from conveyor.data._decoded import DecodedCopy, worth_keeping
from conveyor.data._partitions import Partition


def csv_part(tmp_path: Path) -> Partition:
    path = tmp_path / "rows.csv"
    path.write_text("a,s\n" + "".join(f"{i},x{i % 3}\n" for i in range(100)))
    (part,) = cv.read_csv(str(path)).partitions
    return part


def test_later_readers_read_the_copy_not_the_source(tmp_path: Path) -> None:
    source = csv_part(tmp_path)
    copy = str(tmp_path / "scratch" / "p.arrow")
    first = DecodedCopy(source, copy, keep=True).read_polars()
    assert Path(copy).is_file()
    (tmp_path / "rows.csv").unlink()  # only the copy can give the rows now
    again = DecodedCopy(source, copy, keep=True).read_polars()
    assert again.equals(first)
    assert DecodedCopy(source, copy, keep=True).read().num_rows == 100


def test_the_last_reader_removes_the_copy_and_writes_none(tmp_path: Path) -> None:
    source = csv_part(tmp_path)
    copy = tmp_path / "p.arrow"
    last = DecodedCopy(source, str(copy), keep=False)
    assert last.read_polars().height == 100
    assert not copy.exists()  # nobody follows: nothing written
    DecodedCopy(source, str(copy), keep=True).read()
    assert copy.exists()
    assert last.read().num_rows == 100
    assert not copy.exists()


def test_identity_is_the_sources(tmp_path: Path) -> None:
    source = csv_part(tmp_path)
    wrapped = DecodedCopy(source, str(tmp_path / "p.arrow"))
    assert wrapped.fingerprint() == source.fingerprint()
    assert wrapped.describe() == source.describe()
    assert wrapped.source == source.source and wrapped.num_rows == source.num_rows
    assert wrapped.schema() == source.schema()


def test_a_copy_that_cannot_be_written_only_costs_the_shortcut(tmp_path: Path) -> None:
    source = csv_part(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the copy's folder should be
    frame = DecodedCopy(source, str(blocker / "p.arrow")).read_polars()
    assert frame.height == 100 and frame.columns == ["a", "s"]


@pytest.mark.parametrize(
    ("name", "kept"), [("a.csv", True), ("a.ndjson", True), ("a.parquet", False)]
)
def test_only_text_formats_are_kept(tmp_path: Path, name: str, kept: bool) -> None:
    path = tmp_path / name
    frame = pl.DataFrame({"a": [1, 2]})
    if name.endswith(".csv"):
        frame.write_csv(path)
    elif name.endswith(".ndjson"):
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)
    reader = {"csv": cv.read_csv, "ndjson": cv.read_json, "parquet": cv.read_parquet}
    (part,) = reader[name.rsplit(".", 1)[1]](str(path)).partitions
    assert worth_keeping(part) is kept
