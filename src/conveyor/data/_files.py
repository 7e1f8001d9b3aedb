"""Files as partitions: CSV, Parquet and JSON (lines), local or at any fsspec URL, plain or
compressed (``.gz``, ``.bz2``, ``.zst``).

An uncompressed CSV splits into byte ranges: a worker seeks to its range and parses only the
lines that start inside it, so one large file is read by several processes at once, none of
them holding more than its own share. Parquet splits by row groups. Parsing is polars'; every
range of a CSV dataset is parsed with the one schema inferred up front, so partitions agree.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from conveyor.core._errors import DataSourceError
from conveyor.core._hashing import hash_parts
from conveyor.data._partitions import pl_from_arrow

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

COMPRESSIONS: Mapping[str, str] = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
FORMATS = ("csv", "parquet", "json", "ndjson")


@dataclass(frozen=True, slots=True)
class FilePartition:
    """A file, or a byte range / some row groups of one, in a given format.

    ``stamp`` (size and modification time, or the object store's ETag) is taken when the
    dataset is created; it is what the fingerprint, and so the cache, sees of the content.
    """

    url: str
    format: str
    stamp: str
    size: int | None = None
    compression: str | None = None
    byte_range: tuple[int, int] | None = None  # CSV: [start, end) of the lines starting there
    header: bool = True  # CSV: the file's first line is a header
    row_groups: tuple[int, ...] | None = None  # Parquet: these row groups only
    rows: int | None = None
    options: tuple[tuple[str, Any], ...] = ()  # the reader's keyword options (JSON-able)
    arrow_schema: bytes | None = field(default=None, repr=False)  # CSV: parse with this schema

    @property
    def source(self) -> str:
        if self.byte_range is not None:
            return f"{self.url} (bytes {self.byte_range[0]}-{self.byte_range[1]})"
        if self.row_groups is not None:
            return f"{self.url} (row groups {self.row_groups[0]}-{self.row_groups[-1]})"
        return self.url

    @property
    def num_rows(self) -> int | None:
        return self.rows

    def fingerprint(self) -> str:
        return hash_parts(
            [
                "file",
                self.url,
                self.format,
                self.stamp,
                str(self.byte_range),
                str(self.row_groups),
                # as JSON, so options read back from a manifest (lists, not tuples) match
                json.dumps(self.options, sort_keys=True, default=repr),
                (self.arrow_schema or b"").hex(),
            ]
        )

    def read(self) -> pa.Table:
        with self._reading():
            if self.format == "parquet":
                return self._read_parquet()
            if self.format == "csv":
                return self._read_csv()
            return self._read_json()

    def schema(self) -> pa.Schema:
        if self.arrow_schema is not None:
            columns = dict(self.options).get("columns")
            schema = schema_from_bytes(self.arrow_schema)
            return schema if columns is None else _select_columns(schema, columns)
        if self.format == "parquet" and self.compression is None:
            import pyarrow.parquet as pq

            with self._reading(), open_binary(self.url) as f:
                schema = pq.read_schema(f)
            columns = dict(self.options).get("columns")
            return schema if columns is None else _select_columns(schema, columns)
        return self.read().schema

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except DataSourceError:
            raise
        except FileNotFoundError as exc:
            raise DataSourceError(f"{self.url}: file not found", source=self.source) from exc
        except Exception as exc:  # each parser raises its own errors; the user gets one
            raise DataSourceError(
                f"cannot read {self.source} as {self.format}: {_short(exc)}", source=self.source
            ) from exc

    def describe(self) -> dict[str, object]:
        return {
            "kind": "file",
            "url": self.url,
            "format": self.format,
            "stamp": self.stamp,
            "size": self.size,
            "compression": self.compression,
            "byte_range": list(self.byte_range) if self.byte_range else None,
            "header": self.header,
            "row_groups": list(self.row_groups) if self.row_groups is not None else None,
            "rows": self.rows,
            "options": [list(item) for item in self.options],
            "arrow_schema": (
                base64.b64encode(self.arrow_schema).decode() if self.arrow_schema else None
            ),
        }

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> FilePartition:
        byte_range = d.get("byte_range")
        row_groups = d.get("row_groups")
        schema = d.get("arrow_schema")
        return cls(
            url=str(d["url"]),
            format=str(d["format"]),
            stamp=str(d["stamp"]),
            size=d.get("size"),
            compression=d.get("compression"),
            byte_range=(int(byte_range[0]), int(byte_range[1])) if byte_range else None,
            header=bool(d.get("header", True)),
            row_groups=tuple(row_groups) if row_groups is not None else None,
            rows=d.get("rows"),
            options=tuple((str(k), v) for k, v in d.get("options", ())),
            arrow_schema=base64.b64decode(schema) if schema else None,
        )

    # -- formats ---------------------------------------------------------------------------

    def _read_parquet(self) -> pa.Table:
        import pyarrow.parquet as pq

        columns = dict(self.options).get("columns")
        with self._open() as f:
            file = pq.ParquetFile(f)
            if self.row_groups is None:
                return file.read(columns=columns)
            return file.read_row_groups(list(self.row_groups), columns=columns)

    def read_polars(self) -> pl.DataFrame:
        """The rows as a polars DataFrame; CSV is parsed straight into one, with no Arrow
        round trip (which would copy every string column twice)."""
        if self.format != "csv":
            return pl_from_arrow(self.read())
        try:
            return self._parse_csv()
        except DataSourceError:
            raise
        except FileNotFoundError as exc:
            raise DataSourceError(f"{self.url}: file not found", source=self.source) from exc
        except Exception as exc:
            raise DataSourceError(
                f"cannot read {self.source} as csv: {_short(exc)}", source=self.source
            ) from exc

    def _read_csv(self) -> pa.Table:
        return self._parse_csv().to_arrow()

    def _parse_csv(self) -> pl.DataFrame:
        import polars as pl

        data = self._csv_bytes()
        options = dict(self.options)
        columns = options.pop("columns", None)  # chosen after parsing: ranges have no header
        if self.arrow_schema is not None:
            options.pop("schema_overrides", None)
            options["schema"] = polars_schema(self.arrow_schema)
        frame = pl.read_csv(data, has_header=False, **options)
        return frame if columns is None else frame.select(columns)

    def _csv_bytes(self) -> bytes:
        """This partition's lines, without the header line."""
        if self.byte_range is None:
            with self._open() as f:
                if self.header:
                    f.readline()
                return f.read()
        start, end = self.byte_range
        with self._open() as f:
            if start == 0:
                if self.header:
                    f.readline()
            else:
                f.seek(start - 1)
                f.readline()  # the line running into the range belongs to the range before
            position = f.tell()
            if position >= end:
                return b""
            # The last line starting in the range runs to its end: find where that is first,
            # then read once (appending the tail would copy the whole range again).
            f.seek(end - 1)
            f.readline()
            stop = f.tell()
            f.seek(position)
            return f.read(stop - position)

    def _read_json(self) -> pa.Table:
        import polars as pl

        with self._open() as f:
            data = f.read()
        options = dict(self.options)
        if self.format == "ndjson" or data.lstrip()[:1] != b"[":
            return pl.read_ndjson(io.BytesIO(data), **options).to_arrow()
        return pl.read_json(io.BytesIO(data), **options).to_arrow()

    def _open(self) -> IO[bytes]:
        stream = open_binary(self.url)
        if self.compression is None:
            return stream
        import pyarrow as pa

        raw = pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), self.compression)
        return io.BufferedReader(raw, buffer_size=1 << 20)


@contextmanager
def replaced_atomically(target: str) -> Iterator[str]:
    """A temporary path beside ``target`` to write to; renamed over ``target`` when the block
    ends, removed if it raises. Readers never see half a file."""
    tmp = f"{target}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def open_binary(url: str) -> IO[bytes]:
    """A seekable binary stream of a local path or fsspec URL."""
    local = local_path(url)
    if local is not None:
        return open(local, "rb")
    import fsspec

    return fsspec.open(url, "rb").open()  # type: ignore[no-any-return]


def local_path(url: str) -> str | None:
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url or "::" in url:
        return None
    return url


def schema_to_bytes(schema: pa.Schema) -> bytes:
    return bytes(schema.serialize().to_pybytes())


def schema_from_bytes(data: bytes) -> pa.Schema:
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(data))


@functools.lru_cache(maxsize=64)
def polars_schema(data: bytes) -> pl.Schema:
    """The polars schema of a serialized Arrow schema, worked out once per process: every
    range of a CSV file is parsed with it. Through a batch of empty arrays, because
    ``Schema.empty_table`` imports pandas (half a second in a new worker)."""
    import polars as pl
    import pyarrow as pa

    schema = schema_from_bytes(data)
    empty = pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
    frame = pl.from_arrow(empty)
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


def split_format(url: str) -> tuple[str | None, str | None]:
    """The format and compression a file name implies: ``a.csv.gz`` → ("csv", "gzip")."""
    name = url.rsplit("/", 1)[-1].lower()
    root, ext = os.path.splitext(name)
    compression = COMPRESSIONS.get(ext)
    if compression is not None:
        root, ext = os.path.splitext(root)
    fmt = {
        ".csv": "csv",
        ".tsv": "csv",
        ".txt": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".json": "json",
        ".jsonl": "ndjson",
        ".ndjson": "ndjson",
    }.get(ext)
    return fmt, compression


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) < 400 else first[:400] + "…"


def _select_columns(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    """``schema`` with only ``columns``, in that order (Parquet's ``columns=`` option)."""
    import pyarrow as pa

    return pa.schema([schema.field(name) for name in columns], metadata=schema.metadata)
