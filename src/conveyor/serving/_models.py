"""The models a server serves: which version each one holds now, and loading a new one.

A ``ServedModel`` follows a reference (``churn@production``). Its ``current`` version is
replaced as a whole, in one assignment, so a request sees either the old version or the new
one, never a mixture. A new version is tried on the reference rows stored with it before it
may replace the old one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from conveyor.core._errors import ConveyorError
from conveyor.engine import Workspace
from conveyor.registry import parse_ref
from conveyor.registry._versions import load_record, load_sample, version_number
from conveyor.serving._forest import confirmed, forest_path
from conveyor.serving._frames import model_input
from conveyor.serving._predictors import Predictor
from conveyor.store._tracking_records import ModelVersionRecord


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """One version in memory, ready to predict."""

    name: str
    version: int
    flavor: str
    predictor: Predictor
    signature: Mapping[str, Any]
    load_seconds: float
    problem_type: str  # "classification" or "regression"; counts predictions by class or value
    classes: tuple[Any, ...] = ()

    @property
    def fast_path(self) -> bool:
        return self.predictor.forest is not None

    @property
    def scored(self) -> bool:
        """A binary classifier with probabilities: the one kind whose AUC can be measured."""
        return len(self.classes) == 2 and self.predictor.has_proba

    @property
    def columns(self) -> tuple[str, ...]:
        inputs = self.signature.get("inputs") or ()
        return tuple(str(i["name"]) for i in inputs)


@dataclass(slots=True)
class ServedModel:
    """One reference being served. ``current`` is None until the first version is loaded."""

    ref: str
    name: str
    at: str | int  # the alias, "latest" or a fixed version number
    current: LoadedVersion | None = None
    problem: str | None = None  # why the version the reference points to is not served
    failed_version: int | None = None  # a version that failed to load; not retried until asked
    swaps: int = 0
    history: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, ref: str) -> ServedModel:
        name, at = parse_ref(ref)
        return cls(ref=ref, name=name, at=at)

    @property
    def follows(self) -> bool:
        """Whether the reference can move (an alias or ``latest``), so it is watched."""
        return not isinstance(self.at, int)

    def target(self, ws: Workspace) -> int:
        """The version the reference points to now, read from the store."""
        number = version_number(self.name, self.at, ws.metadata)
        return number if number is not None else ws.metadata.get_model_version(self.name).version


def load_version(ws: Workspace, name: str, version: int) -> LoadedVersion:
    """Read a version from the store and try it on its reference rows.

    Raises:
        ConveyorError: the version cannot be read, or fails on its own reference rows.
    """
    started = time.perf_counter()
    record = ws.metadata.get_model_version(name, version)
    model = load_record(ws, record)
    predictor = Predictor(model, record.flavor)
    loaded = LoadedVersion(
        name=name,
        version=record.version,
        flavor=record.flavor,
        predictor=predictor,
        signature=dict(record.signature),
        load_seconds=0.0,
        problem_type="classification" if predictor.classes is not None else "regression",
        classes=tuple(predictor.classes or ()),
    )
    data = _try_on_sample(ws, record, loaded)
    forest = forest_path(model) if data is not None else None
    if forest is not None and confirmed(forest, model, data):
        loaded = replace(loaded, predictor=Predictor(model, record.flavor, forest))
    return replace(loaded, load_seconds=time.perf_counter() - started)


def _try_on_sample(
    ws: Workspace, record: ModelVersionRecord, loaded: LoadedVersion
) -> object | None:
    """Predict on the stored reference rows: a version that cannot is never swapped in. The
    call also warms the model up, so the first request does not pay for it. Returns the
    sample as the model takes it (None without a sample)."""
    sample = load_sample(ws, record)
    if sample is None:
        return None
    columns = loaded.columns or tuple(str(c) for c in sample.columns)
    rows = sample[list(columns)].astype(object).where(sample.notna(), None).values.tolist()
    data = model_input(columns, rows, loaded.signature)
    try:
        out = loaded.predictor.predict(data)
    except Exception as exc:  # the user's model raised: report it, keep the old version
        raise ConveyorError(
            f"{record.name} version {record.version} failed on its own reference rows: "
            f"{type(exc).__name__}: {exc}",
            name=record.name,
            version=record.version,
        ) from exc
    if len(out) != len(rows):
        raise ConveyorError(
            f"{record.name} version {record.version} returned {len(out)} predictions for "
            f"{len(rows)} reference rows",
            name=record.name,
            version=record.version,
        )
    return data
