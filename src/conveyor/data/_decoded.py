"""A partition decoded once for several readers.

Fitting on a dataset and then transforming it maps two steps over the same files; parsing
text twice is most of such a job's cost. ``DecodedCopy`` wraps a partition: its first reader
parses it and leaves the rows as an uncompressed Arrow IPC file, which later readers map into
memory instead of parsing again (a few milliseconds against a few hundred for 16 MiB of CSV).
The file is a scratch copy for one run; the run deletes it. Identity, description and
fingerprint stay the inner partition's, so cache keys do not change.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.data._files import FilePartition, replaced_atomically
from conveyor.data._partitions import Partition, pl_from_arrow, read_polars

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

# Text formats: decoding them costs far more than reading an Arrow copy. Parquet is left
# alone: its pages decode almost as fast as the copy would be written.
_DECODED_ONCE = frozenset({"csv", "json", "ndjson"})


def worth_keeping(part: Partition) -> bool:
    """Whether a second reader gains from a decoded copy of ``part``."""
    return isinstance(part, FilePartition) and part.format in _DECODED_ONCE


@dataclass(frozen=True, slots=True)
class DecodedCopy:
    """``inner``, read from the Arrow file at ``path`` once a reader has left it there.

    ``keep`` says whether a reader that has to parse writes the copy (another reader follows)
    or not (it is the last one).
    """

    inner: Partition
    path: str
    keep: bool = True

    @property
    def source(self) -> str:
        return self.inner.source

    @property
    def num_rows(self) -> int | None:
        return self.inner.num_rows

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def schema(self) -> pa.Schema:
        return self.inner.schema()

    def describe(self) -> dict[str, object] | None:
        return self.inner.describe()

    def read(self) -> pa.Table:
        table = self._copy()
        if table is None:
            table = self.inner.read()
            self._keep(table)
        return table

    def read_polars(self) -> pl.DataFrame:
        table = self._copy()
        if table is not None:
            return pl_from_arrow(table)
        frame = read_polars(self.inner)
        self._keep(frame)
        return frame

    def _copy(self) -> pa.Table | None:
        import pyarrow as pa

        try:
            # The buffers point into the mapping, which lives as long as they do: nothing is
            # copied, the rows stay in the page cache.
            table = pa.ipc.open_file(pa.memory_map(self.path)).read_all()
        except (OSError, pa.ArrowException):  # none yet, or unusable: read the source
            return None
        if not self.keep:  # the last reader: the mapping outlives the name
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        return table

    def _keep(self, rows: pa.Table | pl.DataFrame) -> None:
        if not self.keep:
            return
        import pyarrow as pa

        # If the copy cannot be written (a full disk, say), only the shortcut is lost: later
        # readers parse the source.
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with replaced_atomically(self.path) as tmp:
                if isinstance(rows, pa.Table):
                    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, rows.schema) as out:
                        out.write_table(rows)
                else:  # polars writes its own string layout, which it maps back without a copy
                    rows.write_ipc(tmp, compression="uncompressed")
