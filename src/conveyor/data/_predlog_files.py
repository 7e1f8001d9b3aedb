"""Where the prediction log's files live under the artifact store, and how they are written.

Layout, readable as a hive-partitioned dataset by polars or pyarrow::

    <artifacts>/predictions/<model>/date=YYYY-MM-DD/<UTC time>-<pid>-<seq>-<random>.parquet
    <artifacts>/feedback/<model or _unknown>/date=YYYY-MM-DD/<same naming>.parquet

The process id and a counter keep names unique among the workers of one host; the random part
keeps them unique among hosts, where containers often share a process id. A file is complete
or absent: on a local disk it is written under a hidden temporary name (``.NAME.tmp``, which
``*.parquet`` globs and pyarrow datasets skip) and renamed; on object stores a single PUT is
already atomic. Parquet files are zstd-compressed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading
from datetime import UTC, date, datetime
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from conveyor.core._errors import ConveyorError
from conveyor.data._parquet_write import parquet_bytes
from conveyor.store import Folder

# The columns every prediction row has before its features, and those after them: the
# prediction, then (binary classifiers) the probability of one class and which class it is.
FIXED: Final = ("request_id", "row", "model", "version", "protocol", "received_at", "latency_ms")
PREDICTION: Final = "prediction"
PROBABILITY: Final = "probability"
PROBABILITY_OF: Final = "probability_of"
OUTPUTS: Final = (PREDICTION, PROBABILITY, PROBABILITY_OF)
PREDICTIONS: Final = "predictions"
FEEDBACK: Final = "feedback"
UNKNOWN_MODEL: Final = "_unknown"  # feedback for a request this process cannot attribute
_PARTITION: Final = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_MODEL_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")

_sequence = itertools.count()
_token_lock = threading.Lock()
_token: tuple[int, str] | None = None


def folder_name(model: str) -> str:
    """``model`` if it is safe as one folder name (a registered model's name always is)."""
    if _MODEL_NAME.fullmatch(model) is None or model in {".", ".."}:
        raise ConveyorError(f"{model!r} cannot name a model's log folder", model=model)
    return model


def file_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    pid, token = _process_token()
    return f"{moment:%Y%m%dT%H%M%S.%fZ}-{pid}-{next(_sequence):06d}-{token}.parquet"


def _process_token() -> tuple[int, str]:
    global _token
    pid = os.getpid()
    with _token_lock:
        if _token is None or _token[0] != pid:  # a forked child gets a token of its own
            _token = (pid, os.urandom(3).hex())
        return _token


class LogFolder:
    """The log's part of the artifact store at ``url`` (a folder or any fsspec URL)."""

    def __init__(self, url: str) -> None:
        if not url:
            raise ConveyorError("the artifact store URL is empty; the log has nowhere to go")
        self.url = url
        self._files = Folder(url)

    def __repr__(self) -> str:
        return f"LogFolder({self.url!r})"

    def write(self, kind: str, model: str, day: date, table: pa.Table) -> str:
        """Writes ``table`` as a new file of ``kind`` for ``model`` and ``day``; its path."""
        path = self._files.path(kind, folder_name(model), f"date={day.isoformat()}", file_name())
        self._files.write(path, parquet_bytes(table))
        return path

    def days(self, kind: str, model: str) -> list[tuple[date, str]]:
        """The day partitions of ``model``'s files of ``kind``, oldest first, with their folder."""
        base = self._files.path(kind, folder_name(model))
        found = []
        for name in self._files.names(base):
            match = _PARTITION.fullmatch(name)
            if match is not None:
                with contextlib.suppress(ValueError):
                    found.append(
                        (date.fromisoformat(match.group(1)), self._files.child(base, name))
                    )
        return sorted(found)

    def files(self, folder: str) -> list[str]:
        return sorted(
            self._files.child(folder, n)
            for n in self._files.names(folder)
            if n.endswith(".parquet") and not n.startswith((".", "_"))
        )

    def read(self, path: str) -> pa.Table:
        with self._files.open(path) as f:
            return pq.read_table(f)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
