"""A window of production traffic from the serving prediction log, and the model's live
performance on it once ``/feedback`` labels have arrived.

``window`` is a duration (``"30m"``, ``"1h"``, ``"7d"`` or a ``timedelta``: the requests
received since then) or a row count (the latest N rows). The log is read straight from the
artifact store (``conveyor.data.read_predictions``); serving and monitoring share nothing else.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.core import Settings, load_settings
from conveyor.core._durations import parse_duration
from conveyor.core._errors import ConveyorError
from conveyor.data._predlog_files import FIXED, OUTPUTS, PREDICTION, PROBABILITY, PROBABILITY_OF
from conveyor.data._predlog_read import read_feedback, read_predictions

if TYPE_CHECKING:
    import polars as pl

Window = str | timedelta | int


def parse_window(window: Window) -> timedelta | int:
    """A duration or a row count from ``"1h"``, ``timedelta(hours=1)`` or ``1000``.

    Raises:
        ConveyorError: anything else, or a window that is not positive.
    """
    if isinstance(window, bool):
        raise ConveyorError(f"a window is a duration or a row count, not {window!r}")
    if isinstance(window, int):
        if window < 1:
            raise ConveyorError(f"a row-count window must be at least 1, got {window}")
        return window
    if isinstance(window, timedelta):
        if window <= timedelta(0):
            raise ConveyorError(f"a window must be a positive duration, got {window}")
        return window
    if isinstance(window, str):
        span = parse_duration(window)
        if span is not None and span > timedelta(0):
            return span
    raise ConveyorError(
        f"window {window!r} is neither a duration (30m, 1h30m, 7d: s, m, h, d or w) nor a row "
        "count",
        window=str(window),
    )


def window(
    model: str,
    window: Window = "1h",
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """The requests ``model`` answered in ``window``, one row per predicted row, oldest first:
    ``request_id``, ``row``, ``model``, ``version``, ``protocol``, ``received_at``,
    ``latency_ms``, the input features, then ``prediction`` (and, from a binary classifier,
    ``probability`` of the class named in ``probability_of``).

    Args:
        model: The model's name; ``name@alias`` is accepted and means the name (a window
            spans whatever versions answered in it; filter on ``version`` for one).
        window: A duration (``"1h"``, ``timedelta``) back from ``now``, or the latest N rows.
        now: The window's end (default: the current time, UTC).
        settings: Where the artifact store is (default: the environment).
    """
    return _read_window(model, window, now, settings)


def _read_window(
    model: str, window: Window, now: datetime | None, settings: Settings | None
) -> pl.DataFrame:
    span = parse_window(window)
    artifacts = _settings(settings).prediction_log_url
    name = model.partition("@")[0]
    end = now or datetime.now(UTC)
    if isinstance(span, timedelta):
        return read_predictions(artifacts, name, since=end - span, until=end)
    return read_predictions(artifacts, name, until=end, latest=span)


def features(frame: pl.DataFrame) -> pl.DataFrame:
    """The input feature columns of a window (what drift is measured on)."""
    return frame.select([c for c in frame.columns if c not in FIXED and c not in OUTPUTS])


@dataclass(frozen=True, slots=True)
class Performance:
    """The model's metrics on the labelled part of a window.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        metrics: classification: ``accuracy`` and ``f1`` (two classes: of the greater one,
            e.g. 1 or "yes"; more: macro-averaged), and ``auc`` for a binary classifier
            whose probabilities were logged, once the labels hold both classes; regression:
            ``rmse`` and ``mae``. Empty when no row has a label.
        labelled: Rows with a label.
        rows: Rows in the window.
    """

    task: str
    metrics: dict[str, float]
    labelled: int
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "metrics": dict(self.metrics),
            "labelled": self.labelled,
            "rows": self.rows,
        }


def performance(
    model: str,
    window: Window = "1h",
    *,
    task: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Performance:
    """Live metrics of ``model`` over ``window`` (as ``window()`` takes it): its logged
    predictions joined with the latest ``/feedback`` label of each request. A label of a
    request of several rows is a JSON list with one label per row; a single label of such a
    request is not used.

    Args:
        task: ``"classification"`` or ``"regression"``; default: classification when the
            labels are text, booleans or whole numbers with few distinct values.
    """
    return performance_of(_read_window(model, window, now, settings), model, task, settings)


def performance_of(
    frame: pl.DataFrame, model: str, task: str | None, settings: Settings | None
) -> Performance:
    """``performance`` of a window already read with ``window()``."""
    labelled = _labelled(frame, _labels(model, frame, settings))
    kind = task or _task(labelled.truth)
    if kind not in {"classification", "regression"}:
        raise ConveyorError(f"task must be 'classification' or 'regression', got {kind!r}")
    metrics: dict[str, float] = {}
    if labelled.truth:
        if kind == "classification":
            metrics = _classification(labelled.truth, labelled.predicted)
            metrics |= _auc(labelled)
        else:
            metrics = _regression(labelled.truth, labelled.predicted)
    return Performance(kind, metrics, len(labelled.truth), frame.height)


def _labels(model: str, frame: pl.DataFrame, settings: Settings | None) -> pl.DataFrame:
    """The latest label of each request id, read only from when the window's first request
    was received: a label comes after its prediction, and the feedback log only grows."""
    if not frame.height:
        return frame.clear()
    since = frame.get_column("received_at").min()
    artifacts = _settings(settings).prediction_log_url
    found = read_feedback(artifacts, model.partition("@")[0], since=since)  # type: ignore[arg-type]
    return found.unique("request_id", keep="last", maintain_order=True)


@dataclass(slots=True)
class _Labelled:
    """The labelled rows of a window: label, prediction, and the logged probability of a
    class (None where the model logged none)."""

    truth: list[object]
    predicted: list[object]
    probability: list[float | None]
    probability_of: list[str | None]


def _labelled(frame: pl.DataFrame, labels: pl.DataFrame) -> _Labelled:
    """The labels (decoded from JSON), predictions and probabilities of the labelled rows."""
    import polars as pl

    found = _Labelled([], [], [], [])
    if not frame.height or not labels.height:
        return found
    rows = frame.group_by("request_id").agg(pl.len().alias("rows"))
    scored = [
        pl.col(c) if c in frame.columns else pl.lit(None).alias(c)
        for c in (PROBABILITY, PROBABILITY_OF)
    ]
    joined = (
        frame.select("request_id", "row", PREDICTION, *scored)
        .join(rows, on="request_id")
        .join(labels.select("request_id", "label"), on="request_id", how="inner")
    )
    for row, count, text, prediction, probability, of in joined.select(
        "row", "rows", "label", PREDICTION, PROBABILITY, PROBABILITY_OF
    ).iter_rows():
        value = json.loads(text)
        if count > 1:
            if not (isinstance(value, list) and len(value) == count):
                continue  # one label for several rows: which row it is for is unknown
            value = value[row]
        found.truth.append(value)
        found.predicted.append(prediction)
        found.probability.append(probability)
        found.probability_of.append(of)
    return found


def _auc(labelled: _Labelled) -> dict[str, float]:
    """ROC AUC of the logged probabilities; none without them or without both classes."""
    from sklearn.metrics import roc_auc_score

    positive: list[bool] = []
    scores: list[float] = []
    for truth, probability, of in zip(
        labelled.truth, labelled.probability, labelled.probability_of, strict=True
    ):
        if probability is not None and of is not None and math.isfinite(probability):
            positive.append(_canonical(truth) == _canonical(of))
            scores.append(probability)
    if len(set(positive)) < 2:
        return {}
    return {"auc": float(roc_auc_score(positive, scores))}


def _task(truth: list[object]) -> str:
    numbers: list[float] = []
    for value in truth:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "classification"
        numbers.append(float(value))
    if any(not v.is_integer() for v in numbers):
        return "regression"
    return "classification" if len(set(numbers)) <= 20 else "regression"


def _classification(truth: list[object], predicted: list[object]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    t = [_canonical(v) for v in truth]
    p = [_canonical(v) for v in predicted]
    classes = sorted(set(t) | set(p))
    if len(classes) == 2:
        f1 = f1_score(t, p, pos_label=classes[-1], average="binary", zero_division=0.0)
    else:
        f1 = f1_score(t, p, average="macro", zero_division=0.0)
    return {"accuracy": float(accuracy_score(t, p)), "f1": float(f1)}


def _canonical(value: object) -> str:
    # "1", "1.0" and 1 are one class, as a JSON label and a logged prediction may differ
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text.lower() if text.lower() in {"true", "false"} else text
    return str(int(number)) if number.is_integer() else text


def _regression(truth: list[object], predicted: list[object]) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    t = [float(v) for v in truth]  # type: ignore[arg-type]
    p = [float(v) for v in predicted]  # type: ignore[arg-type]
    return {
        "rmse": math.sqrt(float(mean_squared_error(t, p))),
        "mae": float(mean_absolute_error(t, p)),
    }


def _settings(settings: Settings | None) -> Settings:
    return settings or load_settings(os.environ, Path.cwd())
