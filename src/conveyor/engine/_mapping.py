"""What ``cv.map`` adds to a run: cutting the input dataset into partitions, one cache key per
partition, the call a worker makes for one partition, and the dataset the parts make.

The runner owns the loop; this module holds the pieces that are specific to mapped steps so
the loop only dispatches to them.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.authoring._map import wanted_kind
from conveyor.core import Graph, Literal, MapOver, Node, OutputRef, hash_parts
from conveyor.core._errors import ConveyorError
from conveyor.data import Dataset
from conveyor.data._dataset import NAME as DATASET
from conveyor.data._decoded import DecodedCopy, worth_keeping
from conveyor.data._partitions import ArtifactPartition, Partition, convert
from conveyor.engine import _keys
from conveyor.engine._validation import wrap
from conveyor.store import ArtifactRecord, ArtifactStore

PARTITION = "partition"  # the key part naming the partition's own content


def partition_name(step: str, index: int) -> str:
    return f"{step}[{index}]"


def partition_key_parts(
    parts: Mapping[str, str], over: MapOver, piece: Partition
) -> dict[str, str]:
    """The step's key parts with the whole dataset replaced by this partition's content, so
    a partition is reused whatever else the dataset holds."""
    own = {
        k: v
        for k, v in parts.items()
        if k not in (_keys.INPUT + over.input, _keys.PARAM + over.input)
    }
    own[PARTITION] = piece.fingerprint()
    return own


def as_dataset(value: object, step: str, partitions: int | None) -> Dataset:
    if isinstance(value, Dataset):
        return value
    from conveyor.data._tables import kind_of

    try:
        kind_of(value)
    except ConveyorError:
        raise ConveyorError(
            f"cv.map({step}, …) maps over a dataset or a table, got {type(value).__name__}",
            step=step,
        ) from None
    return Dataset.from_table(value, partitions=partitions or 1)


@dataclass(frozen=True, slots=True)
class PartitionCall:
    """Calls the step with its mapped input as the kind the step's annotation asks for (a
    polars or pandas DataFrame, an Arrow table, or the one-partition Dataset itself), read
    by the worker that runs it."""

    fn: Callable[..., object]
    input: str
    as_: str

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        if self.as_ != "dataset":
            if self.input in kwargs:
                kwargs[self.input] = _read(kwargs[self.input], self.as_)
            else:
                position = int(self.input.removeprefix("arg"))
                args = (*args[:position], _read(args[position], self.as_), *args[position + 1 :])
        return self.fn(*args, **kwargs)


def partition_call(node: Node) -> PartitionCall:
    over = node.map_over
    assert over is not None
    return PartitionCall(wrap(node.spec), over.input, wanted_kind(node.spec.fn))


def _read(value: object, kind: str) -> object:
    if not isinstance(value, Dataset):
        return value
    if kind == "polars":
        return value.to_polars()
    return convert(value.to_arrow(), kind)


def parts_dataset(
    records: list[ArtifactRecord | None],
    store: ArtifactStore,
    load: Callable[[ArtifactRecord], object],
) -> Dataset:
    """The partitioned dataset the parts make, each part a Parquet artifact in ``store``.

    A part small enough to have been kept inline in the metadata store is copied to the
    artifact store, so that every part can be read by address from any worker.
    """
    pieces: list[Partition] = []
    for record in records:
        if record is None:
            raise ConveyorError("a partition of a mapped step has no result")
        if record.materializer == DATASET:
            value = load(record)
            assert isinstance(value, Dataset)
            pieces.extend(value.partitions)
            continue
        if record.materializer != "parquet":
            raise ConveyorError(
                "a step run by cv.map must return a table (pandas or polars DataFrame, pyarrow "
                f"Table) or a Dataset for each partition; one returned {record.type_name}",
                type_name=record.type_name,
            )
        if record.inline is not None:
            store.put(record.inline)
        pieces.append(ArtifactPartition(store, record.id, record.rows))
    return Dataset(pieces, splittable=False)


class DecodedCopies:
    """The run's decoded copies of the text partitions that more than one mapped step reads
    (see ``conveyor.data._decoded``): every reader but the last leaves a copy, the last only
    reads them, and ``close`` deletes them all when the run ends."""

    def __init__(self, graph: Graph, folder: Path) -> None:
        self._readers = Counter(k for k in map(_source_of, graph.nodes.values()) if k)
        self._started: Counter[tuple[str, int | None]] = Counter()
        self._folder = folder

    def wrap(self, node: Node, pieces: tuple[Partition, ...]) -> tuple[Partition, ...]:
        source = _source_of(node)
        if source is None or self._readers[source] < 2:
            return pieces
        self._started[source] += 1
        keep = self._started[source] < self._readers[source]
        where = self._folder / hash_parts([repr(source)])[:16]
        return tuple(
            DecodedCopy(p, str(where / f"{p.fingerprint()}.arrow"), keep)  # a hex digest
            if worth_keeping(p)
            else p
            for p in pieces
        )

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)


def _source_of(node: Node) -> tuple[str, int | None] | None:
    """What a mapped step maps over: another step's output, or a dataset made in the pipeline
    body (the same object passed to several maps); None for anything else."""
    if node.map_over is None:
        return None
    value = dict(node.named_inputs())[node.map_over.input]
    if isinstance(value, OutputRef):
        return value.step, value.index
    if isinstance(value, Literal) and isinstance(value.value, Dataset):
        return "", id(value.value)  # the graph holds the dataset: its id is not reused
    return None
