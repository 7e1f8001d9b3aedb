"""``cv.Dataset``: a lazy table made of partitions. Nothing is read until rows are asked for,
and then one partition at a time where the caller allows it (``iter_tables``, ``write``).

A dataset describes itself as JSON (a manifest of its partitions) so it can be a step's input
or output: files by location and stamp, stored parts by content address. What exists only
now (rows in memory, a query's result, a mapped function's output) is copied into the
artifact store as Parquet parts when a step returns it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from conveyor.core._errors import ConveyorError, DataSourceError
from conveyor.core._hashing import hash_parts
from conveyor.data._base import Materialized
from conveyor.data._files import FilePartition, local_path, replaced_atomically
from conveyor.data._parquet_write import parquet_bytes, write_parquet
from conveyor.data._partitions import (
    TABLE_KINDS,
    ArtifactPartition,
    MappedPartition,
    Partition,
    TablePartition,
    concat,
    from_description,
    pl_from_arrow,
    read_polars,
)

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from conveyor.store import ArtifactStore

_PART = re.compile(r"part-\d{5}\.parquet")  # the files ``write`` makes
DEFAULT_CHUNK_BYTES = 16 << 20  # a partition's share of a large file when no count is given
MANIFEST_VERSION = 1


class Dataset:
    """A lazy, partitioned table. Create one with ``cv.read_csv`` and the other readers, or
    ``Dataset.from_table``; steps take and return datasets like any other value."""

    __slots__ = ("_parts", "_splittable")

    def __init__(self, partitions: Iterable[Partition], *, splittable: bool = True) -> None:
        self._parts = tuple(partitions)
        self._splittable = splittable

    @classmethod
    def from_table(cls, data: object, partitions: int = 1) -> Dataset:
        """A dataset of rows in memory (pandas, polars or Arrow), cut into ``partitions``."""
        from conveyor.data._tables import to_arrow

        table = to_arrow(data)
        count = max(1, min(partitions, table.num_rows or 1))
        size = math.ceil(table.num_rows / count) if table.num_rows else 0
        if size:
            count = math.ceil(table.num_rows / size)  # 9 rows in 6: 5 parts of 2, none empty
        if count == 1:
            return cls([TablePartition(table)])
        return cls(
            TablePartition(table.slice(i * size, size), f"in-memory table, part {i + 1}")
            for i in range(count)
        )

    # -- what it is ------------------------------------------------------------------------

    @property
    def partitions(self) -> tuple[Partition, ...]:
        return self._parts

    @property
    def schema(self) -> pa.Schema:
        """The columns and their types, from the first partition (read as little as possible)."""
        if not self._parts:
            import pyarrow as pa

            return pa.schema([])
        return self._parts[0].schema()

    @property
    def num_rows(self) -> int:
        """The row count: free where the format records it (Parquet, stored parts), otherwise
        the partitions are read one at a time to count them."""
        return sum(
            part.num_rows if part.num_rows is not None else part.read().num_rows
            for part in self._parts
        )

    def fingerprint(self) -> str:
        """Equal fingerprints, equal rows: the partitions' fingerprints, in order."""
        return hash_parts(["dataset", *(p.fingerprint() for p in self._parts)])

    def __repr__(self) -> str:
        sources = ", ".join(p.source for p in self._parts[:3])
        more = f", … ({len(self._parts)} partitions)" if len(self._parts) > 3 else ""
        return f"Dataset({sources}{more})"

    # -- reading ---------------------------------------------------------------------------

    def iter_tables(self) -> Iterator[pa.Table]:
        """The rows as Arrow tables, one partition (or one chunk of a streamed partition, such
        as a query's result) in memory at a time."""
        for part in self._parts:
            chunks = getattr(part, "iter_tables", None)
            if chunks is not None:
                yield from chunks()
            else:
                yield part.read()

    def to_arrow(self) -> pa.Table:

        tables = list(self.iter_tables())
        if not tables:
            return self.schema.empty_table()
        return concat(tables, f"the partitions of {self!r}", self._parts[0].source)

    def to_polars(self) -> pl.DataFrame:
        import polars as pl

        frames = [read_polars(part) for part in self._parts]
        if len(frames) == 1:
            return frames[0]
        if not frames:
            return pl_from_arrow(self.schema.empty_table())
        try:
            return pl.concat(frames, how="diagonal_relaxed")
        except pl.exceptions.PolarsError as exc:
            raise DataSourceError(
                f"the partitions of {self!r} do not fit together: {exc}",
                source=self._parts[0].source,
            ) from exc

    def to_pandas(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def head(self, n: int = 5) -> pl.DataFrame:
        """The first ``n`` rows as a polars DataFrame (``.to_pandas()`` for pandas), reading
        only the partitions they come from."""
        import polars as pl

        tables: list[pa.Table] = []
        remaining = n
        for part in self._parts:
            if remaining <= 0:
                break
            table = part.read().slice(0, remaining)
            tables.append(table)
            remaining -= table.num_rows
        if not tables:
            return pl.DataFrame()
        return pl_from_arrow(concat(tables, f"the partitions of {self!r}", self._parts[0].source))

    # -- deriving --------------------------------------------------------------------------

    def map_partitions(self, fn: Callable[[Any], object], *, as_: str = "polars") -> Dataset:
        """A lazy dataset of ``fn`` applied to each partition, which ``fn`` gets as a polars
        DataFrame (``as_="pandas"`` or ``"arrow"`` for the others) and returns as any table."""
        if as_ not in TABLE_KINDS:
            raise ConveyorError(
                f"as_ must be one of {', '.join(TABLE_KINDS)}, got {as_!r}", as_=as_
            )
        return Dataset((MappedPartition(p, fn, as_) for p in self._parts), splittable=False)

    def split(self, partitions: int | None = None) -> Dataset:
        """The same rows in about ``partitions`` pieces (default: 16 MiB of file each):
        uncompressed CSV files are cut into byte ranges, Parquet files into row groups. Files
        are never merged, so a new file in a folder leaves the other partitions as they were."""
        if partitions is not None and partitions < 1:
            raise ConveyorError(f"partitions must be >= 1, got {partitions}", partitions=partitions)
        if not self._splittable:
            return self
        sizes = [p.size or 0 for p in self._parts if isinstance(p, FilePartition)]
        total = sum(sizes)
        if partitions is None:
            chunk = DEFAULT_CHUNK_BYTES
        else:
            chunk = max(1, math.ceil(total / partitions)) if total else DEFAULT_CHUNK_BYTES
        pieces: list[Partition] = []
        for part in self._parts:
            pieces.extend(_split_one(part, chunk))
        return Dataset(pieces, splittable=False)

    def write(self, path: str | os.PathLike[str]) -> Dataset:
        """Write the rows as zstd Parquet files ``part-00000.parquet``… under the folder
        ``path`` (local or any fsspec URL), one partition at a time; returns a dataset of them.

        Each file is written under a temporary name and renamed, so a failure leaves no
        half-written part behind. Parts left by an earlier, longer write to the same folder
        are removed, so the folder reads back as these rows."""

        from conveyor.data._readers import read_parquet

        root = os.fspath(path)
        local = local_path(root)
        written: list[str] = []
        if local is not None:
            os.makedirs(local, exist_ok=True)
            for i, table in enumerate(self.iter_tables()):
                target = os.path.join(local, f"part-{i:05d}.parquet")
                with replaced_atomically(target) as tmp:
                    write_parquet(table, tmp)
                written.append(target)
            if written:
                stale = {os.path.join(local, n) for n in os.listdir(local) if _PART.fullmatch(n)}
                for name in sorted(stale - set(written)):
                    os.unlink(name)
        else:
            import fsspec

            fs, base = fsspec.core.url_to_fs(root)
            fs.makedirs(base, exist_ok=True)
            protocol = root.split("://", 1)[0]
            for i, table in enumerate(self.iter_tables()):
                target = f"{base.rstrip('/')}/part-{i:05d}.parquet"
                with fs.open(target, "wb") as f:  # object stores: one PUT, all or nothing
                    write_parquet(table, f)
                written.append(f"{protocol}://{target}")
            if written:
                ours = {w.split("://", 1)[1] for w in written}
                for name in fs.ls(base, detail=False):
                    if _PART.fullmatch(name.rsplit("/", 1)[-1]) and name not in ours:
                        fs.rm(name)
        if not written:
            raise ConveyorError(f"{self!r} has no partitions to write")
        return read_parquet(written)

    # -- the manifest ----------------------------------------------------------------------

    def describe(self) -> dict[str, object] | None:
        """The manifest that reads these rows again, or None if a partition exists only now."""
        described = [p.describe() for p in self._parts]
        if any(d is None for d in described):
            return None
        return {"version": MANIFEST_VERSION, "partitions": described}

    @classmethod
    def from_manifest(cls, data: bytes, store: ArtifactStore | None = None) -> Dataset:
        """The dataset a manifest describes; ``store`` holds its stored parts."""
        manifest: Mapping[str, Any] = json.loads(data)
        if manifest.get("version") != MANIFEST_VERSION:
            raise ConveyorError(
                f"unknown dataset manifest version {manifest.get('version')!r}",
                version=str(manifest.get("version")),
            )
        return cls((from_description(d, store) for d in manifest["partitions"]), splittable=True)


def _split_one(part: Partition, chunk: int) -> list[Partition]:
    if not isinstance(part, FilePartition) or part.size is None or part.size <= chunk:
        return [part]
    if part.format == "csv" and part.compression is None and part.byte_range is None:
        count = math.ceil(part.size / chunk)
        step = math.ceil(part.size / count)
        return [
            replace(part, byte_range=(start, min(start + step, part.size)))
            for start in range(0, part.size, step)
        ]
    if part.format == "parquet" and part.compression is None and part.row_groups is None:
        return _split_parquet(part, math.ceil(part.size / chunk))
    return [part]


def _split_parquet(part: FilePartition, count: int) -> list[Partition]:
    import pyarrow.parquet as pq

    from conveyor.data._files import open_binary

    with open_binary(part.url) as f:
        meta = pq.ParquetFile(f).metadata
    # Row groups' sizes are uncompressed and leave out the footer, so they do not add up to
    # the file's size: cut into ``count`` equal shares of their own total instead, each row
    # group going to the share its middle falls in (so equal groups spread evenly).
    sizes = [max(1, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)]
    share = sum(sizes) / count
    groups: dict[int, list[int]] = {}
    done = 0
    for i, size in enumerate(sizes):
        groups.setdefault(int((done + size / 2) // share), []).append(i)
        done += size
    pieces: list[Partition] = [
        replace(
            part,
            row_groups=tuple(group),
            rows=sum(meta.row_group(i).num_rows for i in group),
        )
        for group in groups.values()
    ]
    return pieces if len(pieces) > 1 else [part]


NAME = "dataset"
TYPE_NAME = "conveyor.Dataset"


def dump(value: object) -> Materialized | None:
    """A dataset as its JSON manifest; None for other conveyor types."""
    if type(value) is not Dataset:
        return None
    manifest = value.describe()
    if manifest is None:
        raise ConveyorError(
            f"{value!r} holds rows that exist only in memory; return it from a step (which "
            "stores them as Parquet parts) rather than passing it as a pipeline parameter"
        )
    schema = value.schema if value.partitions else None
    meta: dict[str, object] = {"partitions": len(value.partitions)}
    if schema is not None:
        meta["columns"] = list(schema.names)
        meta["dtypes"] = {f.name: str(f.type) for f in schema}
    rows = [p.num_rows for p in value.partitions]
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    known = None if any(r is None for r in rows) else sum(r or 0 for r in rows)
    return Materialized(data, NAME, TYPE_NAME, known, meta)


def load(type_name: str, data: bytes, meta: Mapping[str, object]) -> Dataset:
    del type_name, meta
    return Dataset.from_manifest(data)


def persist(dataset: Dataset, store: ArtifactStore) -> Dataset:
    """The dataset with every partition that exists only now written to ``store`` as a zstd
    Parquet part, one at a time; file and stored partitions are kept as they are."""

    parts: list[Partition] = []
    for part in dataset.partitions:
        if part.describe() is not None:
            parts.append(part)
            continue
        for table in Dataset([part]).iter_tables():  # streamed sources: a part per chunk
            address = store.put(parquet_bytes(table))
            parts.append(ArtifactPartition(store, address, table.num_rows))
    return Dataset(parts, splittable=False)
