"""Reading the serving prediction log and feedback back as polars DataFrames, for monitoring.

Files written at different times may differ: a new version may take other features, and a
column may be typed differently in two files (whole numbers in one, floats in another).
Frames are concatenated with polars' relaxed rules, which widen such columns to a common type
(int64 and float64 to float64, a number and text to text), and a feature missing from a file
is null in its rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Final

import polars as pl

from conveyor.data._predlog_files import FEEDBACK, FIXED, PREDICTION, PREDICTIONS, LogFolder, utc

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
) -> pl.DataFrame:
    """``model``'s logged predictions received in ``[since, until)`` (UTC; a date means its
    midnight), oldest first: the fixed columns, then the input features, then ``prediction``.
    """
    frame = _read(artifacts_url, PREDICTIONS, model, since, until, _PREDICTION_SCHEMA)
    features = [c for c in frame.columns if c not in FIXED and c != PREDICTION]
    return frame.select(*FIXED, *features, PREDICTION).sort("received_at", "request_id", "row")


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
) -> pl.DataFrame:
    start, end = _moment(since), _moment(until)
    folder = LogFolder(url)
    frames = []
    for day, path in folder.days(kind, model):
        if (start is not None and day < start.date()) or (end is not None and day > end.date()):
            continue
        for file in folder.files(path):
            frame = pl.from_arrow(folder.read(file))
            assert isinstance(frame, pl.DataFrame)
            frames.append(frame)
    if not frames:
        return pl.DataFrame(schema=empty)
    frame = pl.concat(frames, how="diagonal_relaxed")
    if start is not None:
        frame = frame.filter(pl.col("received_at") >= start)
    if end is not None:
        frame = frame.filter(pl.col("received_at") < end)
    return frame


def _moment(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    return datetime.combine(value, time(), UTC)
