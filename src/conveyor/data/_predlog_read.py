"""Reading the serving prediction log and feedback back as polars DataFrames, for monitoring.

Files written at different times may differ: a new version may take other features, and a
column may be typed differently in two files (whole numbers in one, floats in another).
Frames are concatenated with polars' relaxed rules, which widen such columns to a common type
(int64 and float64 to float64, a number and text to text), and a feature missing from a file
is null in its rows.

A file's name starts with the time it was written, after every row in it was received: a
window that starts later skips the file unread, and the latest N rows are read from the newest
file back, stopping at the first file written before the N-th newest row was received.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Final

import polars as pl

from conveyor.data._predlog_files import (
    FEEDBACK,
    FIXED,
    OUTPUTS,
    PREDICTION,
    PREDICTIONS,
    LogFolder,
    utc,
)

_Schema = dict[str, pl.DataType | type[pl.DataType]]
_PREDICTION_SCHEMA: Final[_Schema] = {
    "request_id": pl.String,
    "row": pl.Int32,
    "model": pl.String,
    "version": pl.Int64,
    "protocol": pl.String,
    "received_at": pl.Datetime("us", "UTC"),
    "latency_ms": pl.Float64,
    PREDICTION: pl.Null,
}
_STAMP: Final = len("20260101T000000.000000Z")
_FEEDBACK_SCHEMA: Final[_Schema] = {
    "request_id": pl.String,
    "label": pl.String,
    "label_number": pl.Float64,
    "model": pl.String,
    "received_at": pl.Datetime("us", "UTC"),
}


def read_predictions(
    artifacts_url: str,
    model: str,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    *,
    latest: int | None = None,
) -> pl.DataFrame:
    """``model``'s logged predictions received in ``[since, until)`` (UTC; a date means its
    midnight), oldest first: the fixed columns, the input features, ``prediction``, and
    ``probability`` and ``probability_of`` if a binary classifier logged them.
    With ``latest``, only the last ``latest`` of those rows.
    """
    frame = _read(artifacts_url, PREDICTIONS, model, since, until, _PREDICTION_SCHEMA, latest)
    features = [c for c in frame.columns if c not in FIXED and c not in OUTPUTS]
    outputs = [c for c in OUTPUTS if c in frame.columns]
    ordered = frame.select(*FIXED, *features, *outputs).sort("received_at", "request_id", "row")
    return ordered if latest is None else ordered.tail(latest)


def read_feedback(
    artifacts_url: str,
    model: str,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
) -> pl.DataFrame:
    """Feedback labels filed under ``model`` (or ``_unknown``) received in ``[since, until)``,
    oldest first. A request id may have several labels; the latest one is the one to trust."""
    frame = _read(artifacts_url, FEEDBACK, model, since, until, _FEEDBACK_SCHEMA)
    return frame.select(*_FEEDBACK_SCHEMA).sort("received_at", maintain_order=True)


def _read(
    url: str,
    kind: str,
    model: str,
    since: datetime | date | None,
    until: datetime | date | None,
    empty: _Schema,
    latest: int | None = None,
) -> pl.DataFrame:
    start, end = _moment(since), _moment(until)
    frames: list[pl.DataFrame] = []
    rows = 0
    for written, frame in _frames(
        LogFolder(url), kind, model, start, end, newest_first=latest is not None
    ):
        if (
            latest is not None
            and written is not None
            and rows >= latest
            and written < _nth_newest(frames, latest, end)
        ):
            break  # this file and every older one hold only rows before the window
        frames.append(frame)
        rows += frame.height
    if not frames:
        return pl.DataFrame(schema=empty)
    return _within(pl.concat(frames, how="diagonal_relaxed"), start, end)


def _frames(
    folder: LogFolder,
    kind: str,
    model: str,
    start: datetime | None,
    end: datetime | None,
    *,
    newest_first: bool,
) -> Iterator[tuple[datetime | None, pl.DataFrame]]:
    """Each file's write time (None if its name does not say) and rows, oldest first or, for
    a latest-rows read, newest first; files written before ``start`` are skipped unread."""
    days = folder.days(kind, model)
    for day, path in reversed(days) if newest_first else days:
        if (start is not None and day < start.date()) or (end is not None and day > end.date()):
            continue
        files = folder.files(path)
        for file in reversed(files) if newest_first else files:
            written = _written(file)
            if start is not None and written is not None and written < start:
                continue
            frame = pl.from_arrow(folder.read(file))
            assert isinstance(frame, pl.DataFrame)
            yield written, frame


def _nth_newest(frames: list[pl.DataFrame], n: int, end: datetime | None) -> datetime:
    """When the ``n``-th newest row before ``end`` among ``frames`` was received."""
    moments = pl.concat([f.select("received_at") for f in frames], how="vertical_relaxed")
    column = _within(moments, None, end).get_column("received_at")
    if column.len() < n:
        return datetime.min.replace(tzinfo=UTC)  # not enough rows yet: keep reading
    found = column.sort(descending=True)[n - 1]
    assert isinstance(found, datetime)
    return found


def _within(frame: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    if start is not None:
        frame = frame.filter(pl.col("received_at") >= start)
    if end is not None:
        frame = frame.filter(pl.col("received_at") < end)
    return frame


def _written(path: str) -> datetime | None:
    """The write time a log file's name starts with (``file_name``), or None."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    try:
        return datetime.strptime(name[:_STAMP], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _moment(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    return datetime.combine(value, time(), UTC)
