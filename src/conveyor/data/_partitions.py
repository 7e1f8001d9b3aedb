"""The pieces a ``Dataset`` is made of: each one small enough to read alone, and picklable, so
a worker process reads its own partition instead of receiving it through a pipe.

A partition knows where its rows are, what identifies their content (``fingerprint``, which
goes into cache keys), and how to describe itself as JSON when it can be read again later from
where it is (``describe``). Files live in ``_files``; stored and derived pieces here.
"""

from __future__ import annotations

import abc
import re
import types
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from conveyor.core._errors import ConveyorError, DataSourceError
from conveyor.core._hashing import content_address, hash_parts
from conveyor.data._parquet_write import parquet_bytes

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from conveyor.store import ArtifactStore


@runtime_checkable
class Partition(Protocol):
    @property
    def source(self) -> str:
        """Where the rows come from, for messages: a path with its byte range, a URL, a query."""
        ...

    @property
    def num_rows(self) -> int | None:
        """The row count when known without reading the rows, else None."""
        ...

    def fingerprint(self) -> str:
        """Changes whenever the rows may have changed; equal fingerprints, equal rows."""
        ...

    def read(self) -> pa.Table:
        """The rows. Raises DataSourceError naming ``source`` when they cannot be read."""
        ...

    def schema(self) -> pa.Schema:
        """The columns and their types, reading as little as the format allows."""
        ...

    def describe(self) -> dict[str, object] | None:
        """A JSON description to read the same rows again later, or None when they exist only
        now (a query, an API, a computation) and must be copied into the artifact store."""
        ...


def concat(tables: Sequence[pa.Table], what: str, source: str, hint: str = "") -> pa.Table:
    """The tables as one, a column's type widened where they differ (null in one, int64 in
    another…). Raises DataSourceError "<what> do not fit together: <why><hint>" when no type
    holds them."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        raise DataSourceError(f"{what} do not fit together: {exc}{hint}", source=source) from exc


class StreamedPartition(abc.ABC):
    """What the partitions whose rows exist only while they are read (a query's result, an
    API's pages) share: the rows come as a stream of Arrow tables from ``iter_tables``; the
    count is unknown until then, and returning them from a step stores them. A subclass
    that leaves out ``source`` or ``iter_tables`` cannot be created at all."""

    __slots__ = ()
    pieces: ClassVar[str] = "chunks"  # what the stream's tables are called in messages
    hint: ClassVar[str] = ""  # what to do when they do not fit together

    @property
    @abc.abstractmethod
    def source(self) -> str: ...

    @property
    def num_rows(self) -> None:
        return None

    @abc.abstractmethod
    def iter_tables(self) -> Generator[pa.Table, None, None]: ...

    def read(self) -> pa.Table:
        tables = list(self.iter_tables())
        return concat(tables, f"the {self.pieces} of {self.source}", self.source, self.hint)

    def schema(self) -> pa.Schema:
        """The first table's columns and types: only as much of the stream as that takes."""
        tables = self.iter_tables()
        try:
            return next(tables).schema
        finally:
            tables.close()  # ends the query, or stops fetching pages

    def describe(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ArtifactPartition:
    """A Parquet part in the content-addressed artifact store (the output of ``cv.map``)."""

    store: ArtifactStore
    address: str
    rows: int | None = None

    @property
    def source(self) -> str:
        return f"artifact {self.address}"

    @property
    def num_rows(self) -> int | None:
        return self.rows

    def fingerprint(self) -> str:
        return self.address  # content-addressed: the address is the content's hash

    def read(self) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = self.store.get(self.address)
        try:
            # ParquetFile, not read_table: that sets up a whole dataset, 10 ms a call
            return _without_unnamed_index(pq.ParquetFile(pa.BufferReader(data)).read())
        except pa.ArrowException as exc:
            raise DataSourceError(
                f"cannot read {self.source} as Parquet: {exc}", source=self.source
            ) from exc

    def read_polars(self) -> pl.DataFrame:
        """The rows parsed by polars itself: for a part of few rows and many columns, setting
        up Arrow's reader costs several times more than reading (reading back the 1-row
        parts of a map that computes statistics)."""
        import io

        import polars as pl

        data = self.store.get(self.address)
        try:
            frame = pl.read_parquet(io.BytesIO(data))
        except pl.exceptions.PolarsError as exc:
            raise DataSourceError(
                f"cannot read {self.source} as Parquet: {exc}", source=self.source
            ) from exc
        unnamed = [c for c in frame.columns if _UNNAMED_INDEX.fullmatch(c)]
        return frame.drop(unnamed) if unnamed else frame

    def schema(self) -> pa.Schema:
        import pyarrow as pa
        import pyarrow.parquet as pq

        found = pq.read_schema(pa.BufferReader(self.store.get(self.address)))  # the footer only
        unnamed = [i for i, name in enumerate(found.names) if _UNNAMED_INDEX.fullmatch(name)]
        for i in reversed(unnamed):
            found = found.remove(i)
        return found.remove_metadata() if unnamed else found

    def describe(self) -> dict[str, object]:
        return {"kind": "artifact", "address": self.address, "rows": self.rows}


@dataclass(frozen=True, slots=True)
class TablePartition:
    """Rows already in memory (``Dataset.from_table``); stored as a Parquet part when saved."""

    table: pa.Table
    label: str = "in-memory table"

    @property
    def source(self) -> str:
        return self.label

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def fingerprint(self) -> str:
        return hash_parts(["table", content_address(parquet_bytes(self.table))])

    def read(self) -> pa.Table:
        return self.table

    def schema(self) -> pa.Schema:
        return self.table.schema

    def describe(self) -> None:
        return None


TableFn = Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class MappedPartition:
    """Another partition with a function applied when it is read (``Dataset.map_partitions``)."""

    inner: Partition
    fn: TableFn
    as_: str = "polars"

    @property
    def source(self) -> str:
        return f"{_fn_name(self.fn)}({self.inner.source})"

    @property
    def num_rows(self) -> None:
        return None

    def fingerprint(self) -> str:
        return hash_parts(["mapped", self.inner.fingerprint(), _fn_id(self.fn, set()), self.as_])

    def read(self) -> pa.Table:
        from conveyor.data._tables import kind_of, to_arrow

        table = self.inner.read()
        result = self.fn(convert(table, self.as_))
        try:
            kind_of(result)
        except ConveyorError:
            raise ConveyorError(
                f"map_partitions function {_fn_name(self.fn)} must return a table (pandas or "
                f"polars DataFrame, pyarrow Table), got {type(result).__name__} for "
                f"{self.inner.source}",
                source=self.inner.source,
            ) from None
        return to_arrow(result)

    def schema(self) -> pa.Schema:
        return self.read().schema

    def describe(self) -> None:
        return None


def convert(table: pa.Table, as_: str) -> object:
    """An Arrow table as the kind a user function asked for: polars, pandas or arrow."""
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return table.to_pandas()
    return pl_from_arrow(table)


def pl_from_arrow(table: pa.Table) -> pl.DataFrame:
    import polars as pl

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def read_polars(part: Partition) -> pl.DataFrame:
    """The partition's rows as polars: parsed straight into polars where the partition can
    (CSV), else through Arrow."""
    own = getattr(part, "read_polars", None)
    if own is not None:
        frame: pl.DataFrame = own()
        return frame
    return pl_from_arrow(part.read())


TABLE_KINDS = ("polars", "pandas", "arrow")


def from_description(description: Mapping[str, Any], store: ArtifactStore | None) -> Partition:
    """The partition ``describe`` wrote; ``store`` resolves parts kept in the artifact store."""
    kind = description.get("kind")
    if kind == "artifact":
        if store is None:
            raise ConveyorError(
                "this dataset's parts are in an artifact store; load it through a workspace "
                "(a pipeline run, cv.datasets.get) rather than on its own"
            )
        return ArtifactPartition(store, str(description["address"]), description.get("rows"))
    if kind == "file":
        from conveyor.data._files import FilePartition

        return FilePartition.from_description(description)
    raise ConveyorError(f"unknown dataset partition kind {kind!r}", kind=str(kind))


def _fn_id(fn: object, seen: set[int]) -> str:
    """What a function computes: its bytecode with its constants, defaults and the values it
    closes over (the bytecode alone is the same for ``lambda t: t * 2`` and ``t * 3``, and
    for every ``lambda part: fn(part)`` whatever ``fn`` is)."""
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return repr(fn)
    seen.add(id(fn))
    cells = getattr(fn, "__closure__", None) or ()
    return hash_parts(
        [
            _code_id(code),
            repr(getattr(fn, "__defaults__", None)),
            repr(getattr(fn, "__kwdefaults__", None)),
            *(_fn_id(cell.cell_contents, seen) for cell in cells),
        ]
    )


def _code_id(code: types.CodeType) -> str:
    consts = (_code_id(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)
    return hash_parts([code.co_code.hex(), repr(code.co_names), *consts])


def _fn_name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


# A part returned as a pandas frame with an unnamed index other than 0..n-1 (after a filter or
# drop_duplicates) keeps that index as this column; across parts it means nothing, and it must
# not become a feature of the dataset. A named index is data and stays, as a column.
_UNNAMED_INDEX = re.compile(r"__index_level_\d+__")


def _without_unnamed_index(table: pa.Table) -> pa.Table:
    unnamed = [c for c in table.column_names if _UNNAMED_INDEX.fullmatch(c)]
    if not unnamed:
        return table
    return table.drop_columns(unnamed).replace_schema_metadata(None)
