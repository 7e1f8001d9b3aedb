"""What a step logs (cv.log_metric and friends), buffered per attempt and written in batches.

An ``AttemptTracker`` is the attempt's ``TrackingSink``: a call appends to a list and returns.
In the runner's own process (threads, or a step run inline) full buffers and then the rest at
the end of the attempt go to the run's recorder thread, which writes them beside the step
records: off the step's thread, and before the step's own record, so a step that counts as
finished has its values stored. In a worker process nothing can reach the recorder; the
buffer travels back with the attempt's outcome and takes the same path from there.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from conveyor.core._errors import ConveyorError
from conveyor.store import ArtifactRecord, check_tracking_key
from conveyor.store._tracking_records import LoggedArtifact, MetricPoint, TrackingBatch

# A step that logs in a tight loop hands its buffer to the writer this often, so that a long
# step's metrics appear while it runs and memory stays small.
FLUSH_POINTS = 5_000
FLUSH_SECONDS = 2.0

Writer = Callable[[TrackingBatch, tuple[ArtifactRecord, ...], threading.Event | None], None]

# run id → the recorder's entry point, for attempts that run in the runner's process
_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def connect(run_id: str, writer: Writer) -> None:
    with _writers_lock:
        _writers[run_id] = writer


def disconnect(run_id: str) -> None:
    with _writers_lock:
        _writers.pop(run_id, None)


class AttemptTracker:
    """Buffers one attempt's logged values. Not shared between threads: one per attempt."""

    def __init__(self, run_id: str, step: str, save: Callable[[object], ArtifactRecord]) -> None:
        self._run_id = run_id
        self._step = step
        self._save = save
        self._writer = _writers.get(run_id)  # None in a worker process
        self._points: list[tuple[str, float, int, float]] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._artifacts: list[LoggedArtifact] = []
        self._records: list[ArtifactRecord] = []
        self._last_flush = time.monotonic()
        self._keys: set[str] = set()  # metric keys already checked: the check runs once each
        self._unnamed = 0

    # -- TrackingSink ----------------------------------------------------------------------

    def metric(self, key: str, value: float, step: int | None) -> None:
        if key not in self._keys:
            self._keys.add(_checked("log_metric", key))
        if type(value) is not float:
            value = _number(key, value)
        if step is not None and type(step) is not int:
            step = _step_index(key, step)
        points = self._points
        points.append((key, value, step or 0, time.time()))
        if self._writer is not None and (
            len(points) >= FLUSH_POINTS or time.monotonic() - self._last_flush > FLUSH_SECONDS
        ):
            self._hand_off()

    def metrics(self, values: Mapping[str, float], step: int | None) -> None:
        if not isinstance(values, Mapping):
            raise ConveyorError(
                f"log_metrics takes a mapping of names to numbers, got {type(values).__name__}"
            )
        if step is not None and type(step) is not int:
            step = _step_index(next(iter(values), ""), step)
        index, now = step or 0, time.time()
        append = self._points.append
        keys = self._keys
        for key, value in values.items():
            if key not in keys:
                keys.add(_checked("log_metrics", key))
            append((key, value if type(value) is float else _number(key, value), index, now))
        if self._writer is not None and (
            len(self._points) >= FLUSH_POINTS or time.monotonic() - self._last_flush > FLUSH_SECONDS
        ):
            self._hand_off()

    def params(self, values: Mapping[str, object]) -> None:
        self._params.update(_as_json("log_params", values))

    def tags(self, values: Mapping[str, object]) -> None:
        self._tags.update(_as_json("set_tags", values))

    def artifact(self, value: object, name: str | None) -> str:
        if isinstance(value, str | os.PathLike):
            path = Path(value)
            if not path.is_file():
                raise ConveyorError(
                    f"log_artifact({str(value)!r}): no such file; pass a path to a file, "
                    "or the object itself",
                    path=str(value),
                )
            label, record = name or path.name, self._save(path.read_bytes())
        else:
            if name is None:
                self._unnamed += 1
                name = f"{self._step}-{type(value).__name__.lower()}-{self._unnamed}"
            label, record = name, self._save(value)
        _checked("log_artifact", label)
        self._records.append(record)
        self._artifacts.append(
            LoggedArtifact(self._run_id, label, record.id, self._step, time.time())
        )
        return label

    def flush(self) -> None:
        """Wait until everything logged so far is stored. In a worker process there is no
        writer to wait for: the values are stored when the attempt ends."""
        if self._writer is not None:
            written = threading.Event()
            self._hand_off(written)
            written.wait()

    # -- engine side -----------------------------------------------------------------------

    def finish(self) -> tuple[TrackingBatch, tuple[ArtifactRecord, ...]] | None:
        """At the end of the attempt, success or not: hand everything to the writer, or
        return it for the outcome when there is no writer in this process."""
        if self._writer is not None:
            self._hand_off()
            return None
        return None if self._empty() else self._take()

    def _empty(self) -> bool:
        # most steps log nothing: they pay for this check only
        return not (self._points or self._params or self._tags or self._records)

    def _hand_off(self, written: threading.Event | None = None) -> None:
        self._last_flush = time.monotonic()
        assert self._writer is not None
        if not self._empty():
            self._writer(*self._take(), written)
        elif written is not None:
            written.set()

    def _take(self) -> tuple[TrackingBatch, tuple[ArtifactRecord, ...]]:
        step = self._step
        points = self._points
        self._points = []
        batch = TrackingBatch(
            run_id=self._run_id,
            params=tuple(self._params.items()),
            metrics=tuple(MetricPoint(k, v, s, t, step) for k, v, s, t in points),
            tags=tuple(self._tags.items()),
            artifacts=tuple(self._artifacts),
        )
        records = tuple(self._records)
        self._params, self._tags, self._artifacts, self._records = {}, {}, [], []
        return batch, records


def merge(batches: list[TrackingBatch]) -> list[TrackingBatch]:
    """One batch per run, points in logging order, later params and tags winning."""
    by_run: dict[str, list[TrackingBatch]] = {}
    for batch in batches:
        by_run.setdefault(batch.run_id, []).append(batch)
    merged = []
    for run_id, group in by_run.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        artifacts: dict[str, LoggedArtifact] = {}
        metrics: list[MetricPoint] = []
        for batch in group:
            params.update(batch.params)
            tags.update(batch.tags)
            artifacts.update((a.name, a) for a in batch.artifacts)
            metrics.extend(batch.metrics)
        merged.append(
            TrackingBatch(
                run_id,
                tuple(params.items()),
                tuple(metrics),
                tuple(tags.items()),
                tuple(artifacts.values()),
            )
        )
    return merged


def _as_json(call: str, values: Mapping[str, object]) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise ConveyorError(
            f"{call} takes a mapping of names to values, got {type(values).__name__}"
        )
    rendered = {}
    for key, value in values.items():
        rendered[_checked(call, key)] = json.dumps(_plain(value), sort_keys=True, default=repr)
    return rendered


def render_params(values: Mapping[str, object]) -> dict[str, object]:
    """Parameters as the JSON-able values a run record keeps."""
    return {str(k): _plain(v) for k, v in values.items()}


def _plain(value: object) -> object:
    """numpy scalars and other number-likes as the JSON numbers they stand for."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def _number(key: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConveyorError(
            f"log_metric({key!r}, ...): the value must be a number, "
            f"got {type(value).__name__} {value!r:.60}",
            key=key,
        ) from None


def _step_index(key: str, step: object) -> int:
    index: int | None
    try:
        index = int(step)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        index = None
    if index is None or index != step:
        raise ConveyorError(
            f"metric {key!r}: step must be an integer index, got {step!r}",
            key=key,
        )
    return index


def _checked(call: str, key: object) -> str:
    try:
        return check_tracking_key(key)
    except ConveyorError as exc:
        raise ConveyorError(f"{call}: {exc.message}", **exc.details) from None
