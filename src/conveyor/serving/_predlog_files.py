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
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from conveyor.core._errors import ConveyorError
from conveyor.store._artifacts import _DIRECT_WRITE, _local_path

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


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data: bytes = sink.getvalue().to_pybytes()
    return data


class LogFolder:
    """The log's part of the artifact store at ``url`` (a folder or any fsspec URL)."""

    def __init__(self, url: str) -> None:
        if not url:
            raise ConveyorError("the artifact store URL is empty; the log has nowhere to go")
        self.url = url
        local = _local_path(url)
        self._local = None if local is None else os.path.abspath(local)
        self._fs: Any = None
        self._root = ""
        self._direct = False
        if self._local is None:
            import fsspec

            self._fs, root = fsspec.core.url_to_fs(url)
            protocols = self._fs.protocol
            names = {protocols} if isinstance(protocols, str) else set(protocols)
            self._direct = bool(names & _DIRECT_WRITE)
            self._root = root.rstrip("/")

    def __repr__(self) -> str:
        return f"LogFolder({self.url!r})"

    def write(self, kind: str, model: str, day: date, table: pa.Table) -> str:
        """Writes ``table`` as a new file of ``kind`` for ``model`` and ``day``; its path."""
        data = parquet_bytes(table)
        folder = self._join(kind, folder_name(model), f"date={day.isoformat()}")
        name = file_name()
        if self._local is not None:
            return self._write_local(folder, name, data)
        path = f"{folder}/{name}"
        if self._direct:
            self._fs.pipe_file(path, data)
            return path
        self._fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{name}.tmp"
        self._fs.pipe_file(tmp, data)
        self._fs.mv(tmp, path)
        return path

    def days(self, kind: str, model: str) -> list[tuple[date, str]]:
        """The day partitions of ``model``'s files of ``kind``, oldest first, with their folder."""
        base = self._join(kind, folder_name(model))
        found = []
        for name in self._list(base):
            match = _PARTITION.fullmatch(name)
            if match is not None:
                with contextlib.suppress(ValueError):
                    found.append((date.fromisoformat(match.group(1)), self._join_to(base, name)))
        return sorted(found)

    def files(self, folder: str) -> list[str]:
        names = self._list(folder)
        return sorted(
            self._join_to(folder, n)
            for n in names
            if n.endswith(".parquet") and not n.startswith((".", "_"))
        )

    def read(self, path: str) -> pa.Table:
        if self._local is not None:
            return pq.read_table(path)
        with self._fs.open(path, "rb") as f:
            return pq.read_table(f)

    def _write_local(self, folder: str, name: str, data: bytes) -> str:
        path = os.path.join(folder, name)
        tmp = os.path.join(folder, f".{name}.tmp")
        os.makedirs(folder, exist_ok=True)
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # the rename must not reach the disk before the bytes
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def _list(self, folder: str) -> list[str]:
        if self._local is not None:
            try:
                return os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            listed = self._fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in listed]

    def _join(self, *parts: str) -> str:
        if self._local is not None:
            return os.path.join(self._local, *parts)
        return "/".join((self._root, *parts))

    def _join_to(self, folder: str, name: str) -> str:
        return os.path.join(folder, name) if self._local is not None else f"{folder}/{name}"
