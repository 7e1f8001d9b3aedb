"""The Parquet format (zstd) for tables: pandas DataFrame and Series, polars DataFrame and
Series, pyarrow Table. Each loads back as the library it came from.

pandas, polars and pyarrow are imported inside the functions, and only once a value of theirs
has been seen: polars is optional, and none of them may load with ``import conveyor.data``.
Equal tables give equal bytes, because content addressing stores equal bytes once, whether
they were written to memory or, for a large table given a folder, straight to a file.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, cast

from conveyor.core._errors import StoreError
from conveyor.data._base import Materialized, Unsupported
from conveyor.data._parquet_write import parquet_bytes, write_parquet

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

NAME = "parquet"
# A table at least this large in memory is written to a file when the caller gives a folder.
# Below it, a file's creation and rename cost more than the copies they save.
FILE_BYTES: Final = 1 << 20

# A Series name goes into meta, so it must survive a JSON round trip unchanged.
_JSON_SCALARS = (str, int, float, bool, type(None))


def dump_pandas(value: object, folder: str | None = None) -> Materialized | None:
    """A pandas DataFrame or Series as Parquet; None for other pandas types."""
    import pandas as pd

    cls = type(value)
    meta: dict[str, object] = {}
    if cls is pd.DataFrame:
        frame = cast("pd.DataFrame", value)
        type_name = "pandas.DataFrame"
    elif cls is pd.Series:
        series = cast("pd.Series[Any]", value)
        if type(series.name) not in _JSON_SCALARS:
            raise Unsupported(f"its name {series.name!r} is not a str, int, float, bool or None")
        frame = series.to_frame()
        meta["name"] = series.name
        type_name = "pandas.Series"
    else:
        return None
    meta["columns"] = [str(column) for column in frame.columns]
    meta["dtypes"] = {str(column): str(dtype) for column, dtype in frame.dtypes.items()}
    index = frame.index
    if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex) and index.freq is not None:
        meta["index_freq"] = index.freqstr  # Parquet keeps the timestamps but not the frequency
    import pyarrow as pa

    try:
        # preserve_index=None stores a RangeIndex as metadata and any other index as columns;
        # the pandas metadata pyarrow adds restores either on load.
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise Unsupported(f"Parquet cannot store it: {exc}") from exc
    write = functools.partial(_write_arrow, table)
    with _written(folder, lambda: table.nbytes, write) as (data, file):
        _add_profile(meta, table)
        return Materialized(data, NAME, type_name, len(frame), meta, file)


def dump_polars(value: object, folder: str | None = None) -> Materialized | None:
    """A polars DataFrame or Series as Parquet; None for other polars types (LazyFrame …)."""
    import polars as pl

    cls = type(value)
    if cls is pl.DataFrame:
        frame = cast("pl.DataFrame", value)
        type_name = "polars.DataFrame"
    elif cls is pl.Series:
        frame = cast("pl.Series", value).to_frame()
        type_name = "polars.Series"
    else:
        return None

    # Arrow would take such a column for the objects' addresses (polars allows no nesting
    # of them, so the top level is where they can be).
    if any(dtype.is_object() for dtype in frame.schema.values()):
        raise Unsupported("Parquet cannot store it: a column holds Python objects (dtype Object)")

    def write(path: str | None) -> bytes:
        try:  # polars' buffers, as Arrow arrays, without a copy
            table = frame.to_arrow()
        except pl.exceptions.PolarsError as exc:
            raise Unsupported(f"Parquet cannot store it: {exc}") from exc
        return _write_arrow(table, path)

    with _written(folder, lambda: int(frame.estimated_size()), write) as (data, file):
        meta: dict[str, object] = {
            "columns": list(frame.columns),
            "dtypes": {name: str(dtype) for name, dtype in frame.schema.items()},
        }
        _add_profile(meta, frame)
        return Materialized(data, NAME, type_name, frame.height, meta, file)


def dump_arrow(value: object, folder: str | None = None) -> Materialized | None:
    """A pyarrow Table as Parquet; None for other pyarrow types."""
    import pyarrow as pa

    if type(value) is not pa.Table:
        return None
    table = cast("pa.Table", value)
    write = functools.partial(_write_arrow, table)
    with _written(folder, lambda: table.nbytes, write) as (data, file):
        meta: dict[str, object] = {
            "columns": list(table.column_names),
            "dtypes": {field.name: str(field.type) for field in table.schema},
        }
        _add_profile(meta, table)
        return Materialized(data, NAME, "pyarrow.Table", table.num_rows, meta, file)


def load(type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
    if type_name in {"polars.DataFrame", "polars.Series"}:
        import polars as pl

        frame = pl.read_parquet(io.BytesIO(data))
        return frame if type_name == "polars.DataFrame" else frame.to_series(0)
    import pyarrow as pa
    import pyarrow.parquet as pq

    # ParquetFile, not read_table: that sets up a whole dataset, 10 ms a call
    table = pq.ParquetFile(pa.BufferReader(data)).read()
    if type_name == "pyarrow.Table":
        return table
    if type_name == "pandas.DataFrame":
        return _restore_freq(table.to_pandas(), meta)
    if type_name == "pandas.Series":
        series = _restore_freq(table.to_pandas(), meta).iloc[:, 0]
        series.name = meta.get("name")
        return series
    raise StoreError(
        f"cannot load a {type_name} from Parquet: the type is unknown to this version of conveyor",
        materializer=NAME,
        type_name=type_name,
    )


def _add_profile(meta: dict[str, object], table: object) -> None:
    """Every stored table keeps its profile: the reference that ``conveyor data show`` and
    drift monitoring read without loading the rows."""
    from conveyor.data._profile_stats import profile

    try:
        meta["profile"] = profile(table).to_dict()
    except Exception as exc:  # a column no statistic applies to must not stop the store
        meta["profile_error"] = f"{type(exc).__name__}: {exc}"[:300]


@contextlib.contextmanager
def _written(
    folder: str | None, size: Callable[[], int], write: Callable[[str | None], bytes]
) -> Iterator[tuple[bytes, str | None]]:
    """The table's bytes (``write(None)``), or the file in ``folder`` holding them when the
    table is large (``write(path)``; the file is removed if the body fails). ``size``, the
    table's size in memory, is only asked for when there is a folder."""
    if folder is None or size() < FILE_BYTES:
        yield write(None), None
        return
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(suffix=".parquet", dir=folder)
    os.close(fd)
    try:
        write(path)
        yield b"", path
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _write_arrow(table: pa.Table, path: str | None) -> bytes:
    """The table's Parquet bytes, or b"" once they are written to ``path``."""
    import pyarrow as pa

    # The file holds no write time, so equal tables give equal bytes.
    try:
        if path is None:
            return parquet_bytes(table)
        write_parquet(table, path)
    except pa.ArrowException as exc:
        raise Unsupported(f"Parquet cannot store it: {exc}") from exc
    return b""


def _restore_freq(frame: pd.DataFrame, meta: Mapping[str, object]) -> pd.DataFrame:
    import pandas as pd

    freq = meta.get("index_freq")
    if isinstance(freq, str):
        if isinstance(frame.index, pd.DatetimeIndex):
            frame.index = pd.DatetimeIndex(frame.index, freq=freq)
        elif isinstance(frame.index, pd.TimedeltaIndex):
            frame.index = pd.TimedeltaIndex(frame.index, freq=freq)
    return frame
