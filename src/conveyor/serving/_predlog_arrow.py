"""Logged predictions and feedback as Arrow tables: the columns of the prediction log's files.

A file of predictions has one row per predicted input row: ``request_id``, ``row`` (its index
within the request), ``model``, ``version``, ``protocol``, ``received_at``, ``latency_ms``, one
column per input feature, then ``prediction``; for a binary classifier, ``probability`` (of the
class ``probability_of`` names, as text) follows. Rows go into one table only when their
features are the same (see ``group``), so every file has a single schema.

Types are whatever Arrow infers from the values, column by column. A column whose values
cannot share one type (a string among numbers, an integer beyond int64) is written as text:
strings as they are, anything else as JSON. A feature whose name is one of the fixed columns,
or ``date`` (the partition column of a hive-style read), is written as ``input.NAME``; the
file's metadata (``conveyor.features``) maps every input column to its feature, so readers
need not guess which columns are inputs.

Feedback rows are ``request_id``, ``label`` (JSON text, so labels of any type share one
schema), ``label_number`` (the label as float64 when it is a number or a bool), ``model`` and
``received_at``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
import pyarrow as pa

from conveyor.data._predlog_files import (
    FIXED,
    OUTPUTS,
    PREDICTION,
    PROBABILITY,
    PROBABILITY_OF,
    utc,
)
from conveyor.serving._rows import ABSENT

if TYPE_CHECKING:
    from conveyor.serving._predlog import LoggedPrediction

FEATURES_KEY: Final = b"conveyor.features"
TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
_RESERVED: Final = frozenset((*FIXED, *OUTPUTS, "date"))
_UNCONVERTIBLE: Final = (pa.ArrowException, ValueError, TypeError, OverflowError)

# The type each (model, column) was last written with, so a later file keeps it where the
# values allow (a float feature whose batch happened to hold only whole numbers, or only nulls).
KnownTypes = MutableMapping[tuple[str, str], pa.DataType]


@dataclass(slots=True)
class Group:
    """Predictions of one model and UTC day whose inputs have the same features."""

    model: str
    day: date
    features: tuple[str, ...]
    entries: list[LoggedPrediction] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(len(e.rows) for e in self.entries)


def group(entries: Iterable[LoggedPrediction]) -> list[Group]:
    groups: dict[tuple[str, date, tuple[str, ...]], Group] = {}
    for entry in entries:
        if entry.columns is not None:
            features = entry.columns
        else:  # positional inputs: named by position, as the signature of an array model is
            width = len(entry.rows[0]) if entry.rows else 0
            features = tuple(str(i) for i in range(width))
        key = (entry.model, utc(entry.received_at).date(), features)
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group(entry.model, key[1], features)
        found.entries.append(entry)
    return list(groups.values())


def prediction_table(g: Group, known: KnownTypes) -> pa.Table:
    """The rows of ``g``, built column by column (each list comprehension walks every row)."""
    entries = g.entries
    counts = [len(e.rows) for e in entries]

    def repeated(values: Sequence[Any]) -> list[Any]:
        return [v for v, n in zip(values, counts, strict=True) for _ in range(n)]

    columns: dict[str, pa.Array] = {
        "request_id": pa.array(repeated([e.request_id for e in entries]), pa.string()),
        "row": pa.array([i for n in counts for i in range(n)], pa.int32()),
        "model": pa.array(repeated([e.model for e in entries]), pa.string()),
        "version": pa.array(repeated([e.version for e in entries]), pa.int64()),
        "protocol": pa.array(repeated([e.protocol for e in entries]), pa.string()),
        "received_at": pa.array(repeated([utc(e.received_at) for e in entries]), TIMESTAMP),
        "latency_ms": pa.array(repeated([float(e.latency_ms) for e in entries]), pa.float64()),
    }
    names = input_columns(g.features)
    for j, name in enumerate(names):
        values = [None if (v := row[j]) is ABSENT else v for e in entries for row in e.rows]
        columns[name] = _typed(values, known, (g.model, name))
    outputs = [o for e in entries for o in _outputs(e)]
    columns[PREDICTION] = _typed(outputs, known, (g.model, PREDICTION))
    if any(e.scores is not None for e in entries):
        columns |= _probabilities(entries, counts)
    metadata = {FEATURES_KEY: json.dumps(dict(zip(names, g.features, strict=True))).encode()}
    return pa.table(columns).replace_schema_metadata(metadata)


def input_columns(features: Sequence[str]) -> list[str]:
    """The column each feature is written to: its own name unless that name is reserved."""
    taken = set(_RESERVED) | set(features)
    names = []
    for feature in features:
        name = feature
        while name in _RESERVED or (name != feature and name in taken):
            name = f"input.{name}"
        taken.add(name)
        names.append(name)
    return names


def feedback_table(
    request_ids: Sequence[str], labels: Sequence[Any], model: str, received_at: datetime
) -> pa.Table:
    n = len(request_ids)
    return pa.table(
        {
            "request_id": pa.array(request_ids, pa.string()),
            "label": pa.array([orjson.dumps(label).decode() for label in labels], pa.string()),
            "label_number": pa.array([label_number(label) for label in labels], pa.float64()),
            "model": pa.array([model] * n, pa.string()),
            "received_at": pa.array([utc(received_at)] * n, TIMESTAMP),
        }
    )


def label_number(label: object) -> float | None:
    if isinstance(label, bool | int | float):
        try:
            number = float(label)
        except OverflowError:  # an integer too large for a float
            return None
        return number if math.isfinite(number) else None
    return None


def _probabilities(
    entries: Sequence[LoggedPrediction], counts: Sequence[int]
) -> dict[str, pa.Array]:
    scores: list[float | None] = []
    classes: list[str | None] = []
    for e, n in zip(entries, counts, strict=True):
        if e.scores is None or len(e.scores) != n:
            scores += [None] * n
            classes += [None] * n
        else:
            scores += e.scores
            classes += [_text(e.scored_class)] * n
    return {
        PROBABILITY: pa.array(scores, pa.float64()),
        PROBABILITY_OF: pa.array(classes, pa.string()),
    }


def _outputs(entry: LoggedPrediction) -> list[Any]:
    n = len(entry.rows)
    outputs = list(entry.outputs)
    if len(outputs) != n:
        # The batcher checks this; should a predictor break it, the rows still line up.
        outputs = (outputs + [None] * n)[:n]
    return outputs


def _typed(values: list[Any], known: KnownTypes, key: tuple[str, str]) -> pa.Array:
    try:
        array = pa.array(values)
    except _UNCONVERTIBLE:
        return pa.array([_text(v) for v in values], pa.string())
    before = known.get(key)
    if before is not None and array.type != before:
        widen = pa.types.is_null(array.type) or (
            pa.types.is_integer(array.type) and pa.types.is_floating(before)
        )
        if widen:
            try:
                return array.cast(before)
            except _UNCONVERTIBLE:
                pass
    if not pa.types.is_null(array.type):
        known[key] = array.type
    return array


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return str(value)
