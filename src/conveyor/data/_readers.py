"""``cv.read_csv``, ``cv.read_parquet`` and ``cv.read_json``: find the files, check they agree,
and return a lazy ``Dataset`` of them. No rows are read here: only file listings, a CSV's
header lines and the first few thousand rows of the first CSV to settle its column types.
"""

from __future__ import annotations

import glob as globlib
import io
import os
from collections.abc import Iterable, Sequence
from typing import Any

from conveyor.core._errors import DataSourceError
from conveyor.data._dataset import Dataset
from conveyor.data._files import (
    FilePartition,
    local_path,
    open_binary,
    schema_to_bytes,
    split_format,
)

_HEAD_BYTES = 4 << 20  # enough for the type inference of a CSV's first rows
_INFER_ROWS = 10_000
_GLOB_CHARS = frozenset("*?[")
_Found = tuple[str, str, int | None, str | None]  # url, stamp, size, compression
Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def read_csv(path: Paths, **options: Any) -> Dataset:
    """A lazy dataset of one CSV file, a glob (``data/*.csv``), a folder, or a list of them.

    Options are polars' ``read_csv`` options (``separator``, ``null_values``,
    ``schema_overrides``, ``quote_char`` …). Column types are inferred once, from the first
    10,000 rows of the first file, and used for every file and range; give
    ``schema_overrides={"col": pl.Float64}`` where the first rows mislead. Splitting a file
    into byte ranges assumes no quoted field spans lines; pass ``split=False`` for such files.

    Raises:
        DataSourceError: no file matches, a file cannot be read, or files' header lines differ.
    """
    split = bool(options.pop("split", True))
    has_header = bool(options.pop("has_header", True))
    files = _discover(path, "csv")
    headers = [_header(url, compression) for url, _, _, compression in files] if has_header else []
    for (url, *_), header in zip(files[1:], headers[1:], strict=False):  # none to check without
        if header != headers[0]:
            raise DataSourceError(
                f"{url} has columns {_columns(header)} but {files[0][0]} has "
                f"{_columns(headers[0])}: the files of a dataset must share their columns",
                source=url,
            )
    schema = _infer_csv_schema(files[0], has_header, options)
    json_options = tuple(
        sorted((k, v) for k, v in options.items() if k not in ("schema_overrides", "schema"))
    )
    parts = [
        FilePartition(
            url=url,
            format="csv",
            stamp=stamp,
            size=size,
            compression=compression,
            header=has_header,
            options=json_options,
            arrow_schema=schema,
        )
        for url, stamp, size, compression in files
    ]
    return Dataset(parts, splittable=split)


def read_parquet(path: Paths, **options: Any) -> Dataset:
    """A lazy dataset of Parquet files (a file, glob, folder or list). Row counts and the
    schema come from the files' footers; ``columns=[...]`` reads only those columns."""
    files = _discover(path, "parquet")
    json_options = tuple(sorted(options.items()))
    parts = []
    for url, stamp, size, compression in files:
        rows = _parquet_rows(url) if compression is None else None
        parts.append(
            FilePartition(
                url=url,
                format="parquet",
                stamp=stamp,
                size=size,
                compression=compression,
                rows=rows,
                options=json_options,
            )
        )
    return Dataset(parts)


def read_json(path: Paths, *, lines: bool | None = None, **options: Any) -> Dataset:
    """A lazy dataset of JSON files: an array of objects per file, or JSON lines (``.jsonl``,
    ``.ndjson``, or ``lines=True``). Options are polars' ``read_json``/``read_ndjson``'s."""
    files = _discover(path, "json")
    parts = []
    for url, stamp, size, compression in files:
        fmt = split_format(url)[0]
        if lines is not None:
            fmt = "ndjson" if lines else "json"
        parts.append(
            FilePartition(
                url=url,
                format="ndjson" if fmt == "ndjson" else "json",
                stamp=stamp,
                size=size,
                compression=compression,
                options=tuple(sorted(options.items())),
            )
        )
    return Dataset(parts)


# -- finding files ---------------------------------------------------------------------------


def _discover(path: Paths, kind: str) -> list[_Found]:
    """(url, stamp, compression) of every file ``path`` names, in a stable order."""
    items = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not items:
        raise DataSourceError(f"no {kind} path given", source="")
    found: list[_Found] = []
    for item in items:
        found.extend(_expand(os.fspath(item), kind))
    return found


def _expand(url: str, kind: str) -> Iterable[_Found]:
    local = local_path(url)
    if local is not None:
        yield from _expand_local(url, local, kind)
        return
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
        protocol = url.split("://", 1)[0]
        if _GLOB_CHARS & set(root):
            names = sorted(fs.glob(root))
        elif fs.isdir(root):
            names = sorted(n for n in fs.find(root) if _is_kind(n, kind))
        else:
            names = [root]
        infos = [(name, fs.info(name)) for name in names]
    except FileNotFoundError:
        raise DataSourceError(f"{url}: file not found", source=url) from None
    except Exception as exc:
        raise DataSourceError(f"cannot list {url}: {exc}", source=url) from exc
    if not infos:
        raise DataSourceError(f"{url}: no {kind} file matches", source=url)
    for name, info in infos:
        stamp = str(info.get("ETag") or info.get("etag") or "")
        # memory:// records only when a file was written ("created"); it changes on rewrite
        changed = info.get("mtime") or info.get("LastModified") or info.get("created") or ""
        stamp = f"{info.get('size')}:{changed}:{stamp}"
        full = name if "://" in name else f"{protocol}://{name}"
        size = info.get("size")
        yield full, stamp, int(size) if size is not None else None, split_format(full)[1]


def _expand_local(url: str, path: str, kind: str) -> Iterable[_Found]:
    if _GLOB_CHARS & set(path):
        names = sorted(n for n in globlib.glob(path, recursive=True) if os.path.isfile(n))
        if not names:
            raise DataSourceError(f"{url}: no file matches", source=url)
    elif os.path.isdir(path):
        names = sorted(
            os.path.join(folder, f)
            for folder, _, files in os.walk(path)
            for f in files
            if _is_kind(f, kind) and not f.startswith((".", "_"))
        )
        if not names:
            raise DataSourceError(f"{url}: the folder holds no {kind} file", source=url)
    elif os.path.isfile(path):
        names = [path]
    else:
        raise DataSourceError(f"{url}: file not found", source=url)
    for name in names:
        st = os.stat(name)
        full = os.path.abspath(name)
        yield full, f"{st.st_size}:{st.st_mtime_ns}", st.st_size, split_format(full)[1]


def _is_kind(name: str, kind: str) -> bool:
    fmt = split_format(name)[0]
    return fmt == kind or (kind == "json" and fmt == "ndjson")


# -- what is read up front -------------------------------------------------------------------


def _header(url: str, compression: str | None) -> bytes:
    part = FilePartition(url=url, format="csv", stamp="", compression=compression)
    try:
        with part._open() as f:
            return f.readline().rstrip(b"\r\n")
    except FileNotFoundError:
        raise DataSourceError(f"{url}: file not found", source=url) from None
    except Exception as exc:
        raise DataSourceError(f"cannot read {url}: {exc}", source=url) from exc


def _columns(header: bytes) -> str:
    text = header.decode("utf-8", "replace")
    return "[" + text[:200] + ("…" if len(text) > 200 else "") + "]"


def _infer_csv_schema(file: _Found, has_header: bool, options: dict[str, Any]) -> bytes:
    import polars as pl

    url, _, _, compression = file
    part = FilePartition(url=url, format="csv", stamp="", compression=compression)
    try:
        with part._open() as f:
            head = f.read(_HEAD_BYTES)
    except Exception as exc:
        raise DataSourceError(f"cannot read {url}: {exc}", source=url) from exc
    if len(head) == _HEAD_BYTES:
        head = head[: head.rfind(b"\n") + 1]  # whole lines only
    if not head.strip():
        raise DataSourceError(f"{url}: the file is empty", source=url)
    infer = {k: v for k, v in options.items() if k not in ("schema", "columns")}
    infer.setdefault("infer_schema_length", _INFER_ROWS)
    try:
        frame = pl.read_csv(io.BytesIO(head), has_header=has_header, n_rows=_INFER_ROWS, **infer)
    except TypeError as exc:
        raise DataSourceError(
            f"read_csv got an option it does not know: {exc}", source=url
        ) from exc
    except Exception as exc:
        raise DataSourceError(f"cannot read {url} as CSV: {exc}", source=url) from exc
    if "schema" in options:
        frame = pl.DataFrame(schema=options["schema"])
    return schema_to_bytes(frame.to_arrow().schema)


def _parquet_rows(url: str) -> int:
    import pyarrow.parquet as pq

    try:
        with open_binary(url) as f:
            meta = pq.ParquetFile(f).metadata
    except Exception as exc:
        raise DataSourceError(f"cannot read {url} as Parquet: {exc}", source=url) from exc
    return int(meta.num_rows)
