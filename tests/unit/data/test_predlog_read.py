"""Reading the prediction log back: files written before a window are skipped unread, and the
latest N rows come from the newest files only, exactly as a full read's last N rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.data._predlog_files import FIXED
from conveyor.data._predlog_read import read_predictions

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STAMP = "%Y%m%dT%H%M%S.%fZ"


def folder(root: Path) -> Path:
    path = root / "predictions" / "m" / "date=2024-05-01"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(root: Path, written: datetime, received: list[datetime], tag: str) -> Path:
    """A log file written at ``written`` holding one row per ``received`` moment."""
    n = len(received)
    table = pa.table(
        {
            "request_id": [f"{tag}-{i}" for i in range(n)],
            "row": pa.array([0] * n, pa.int32()),
            "model": ["m"] * n,
            "version": [1] * n,
            "protocol": ["predict"] * n,
            "received_at": pa.array(received, pa.timestamp("us", tz="UTC")),
            "latency_ms": [1.0] * n,
            "x": [float(i) for i in range(n)],
            "prediction": [0] * n,
        }
    )
    path = folder(root) / f"{written:{STAMP}}-1-{tag}-abcdef.parquet"
    pq.write_table(table, path)
    return path


def corrupt(root: Path, written: datetime) -> Path:
    """A file that fails to read: proof, when a read succeeds, that it was never opened."""
    path = folder(root) / f"{written:{STAMP}}-1-000000-bad000.parquet"
    path.write_bytes(b"not parquet")
    return path


def seconds(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in offsets]


def test_a_window_skips_files_written_before_it(tmp_path: Path) -> None:
    corrupt(tmp_path, T0 + timedelta(seconds=5))
    write(tmp_path, T0 + timedelta(seconds=20), seconds(8, 12, 19), "a")
    write(tmp_path, T0 + timedelta(seconds=30), seconds(21, 29), "b")

    frame = read_predictions(str(tmp_path), "m", since=T0 + timedelta(seconds=10))

    assert frame.get_column("received_at").to_list() == seconds(12, 19, 21, 29)
    assert frame.columns == [*FIXED, "x", "prediction"]


def test_the_latest_rows_come_from_the_newest_files_only(tmp_path: Path) -> None:
    corrupt(tmp_path, T0 + timedelta(seconds=5))
    write(tmp_path, T0 + timedelta(seconds=10), seconds(6, 7, 8), "a")
    write(tmp_path, T0 + timedelta(seconds=20), seconds(11, 15, 19), "b")
    write(tmp_path, T0 + timedelta(seconds=30), seconds(21, 29), "c")

    frame = read_predictions(str(tmp_path), "m", latest=4)

    assert frame.get_column("received_at").to_list() == seconds(15, 19, 21, 29)


def test_latest_rows_interleaved_across_workers_equal_a_full_reads_tail(tmp_path: Path) -> None:
    # Two workers flush at their own pace: a later file may hold rows older than an earlier
    # file's newest, and the latest rows are then spread over both.
    write(tmp_path, T0 + timedelta(seconds=10), seconds(1, 2, 9), "a")
    write(tmp_path, T0 + timedelta(seconds=20), seconds(3, 4, 19), "b")
    write(tmp_path, T0 + timedelta(seconds=21), seconds(5, 10, 20), "c")
    whole = read_predictions(str(tmp_path), "m")

    for n in range(1, 11):
        latest = read_predictions(str(tmp_path), "m", latest=n)
        assert latest.equals(whole.tail(n)), n


def test_latest_rows_before_an_end(tmp_path: Path) -> None:
    write(tmp_path, T0 + timedelta(seconds=10), seconds(1, 2, 9), "a")
    write(tmp_path, T0 + timedelta(seconds=20), seconds(11, 19), "b")

    frame = read_predictions(str(tmp_path), "m", until=T0 + timedelta(seconds=12), latest=3)

    assert frame.get_column("received_at").to_list() == seconds(2, 9, 11)


def test_a_file_whose_name_gives_no_time_is_always_read(tmp_path: Path) -> None:
    write(tmp_path, T0 + timedelta(seconds=10), seconds(1, 2), "a")
    odd = write(tmp_path, T0 + timedelta(seconds=20), seconds(15), "b")
    odd.rename(odd.with_name("copied-by-hand.parquet"))

    frame = read_predictions(str(tmp_path), "m", since=T0 + timedelta(seconds=12))

    assert frame.get_column("received_at").to_list() == seconds(15)


def test_a_corrupt_file_inside_the_window_is_reported(tmp_path: Path) -> None:
    corrupt(tmp_path, T0 + timedelta(seconds=15))

    with pytest.raises(pa.ArrowInvalid):
        read_predictions(str(tmp_path), "m", since=T0 + timedelta(seconds=10))
