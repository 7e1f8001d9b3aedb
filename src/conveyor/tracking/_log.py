"""``cv.log_*`` inside a step: hand values to the attempt's tracking sink, or warn outside a run.

These sit on the hot path of training loops, so each does one ContextVar read and one call;
checking and buffering are the sink's (engine) job, writing is its background writer's.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conveyor.core import TrackingSink, active_run
from conveyor.core._errors import NoActiveRunWarning


def _sink(call: str) -> TrackingSink | None:
    ctx = active_run()
    if ctx is None or ctx.tracker is None:
        warnings.warn(
            f"cv.{call}() outside a pipeline step does nothing: nothing is tracked there",
            NoActiveRunWarning,
            stacklevel=3,
        )
        return None
    return ctx.tracker


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one point of the metric ``key`` (``step``: its index in a series, e.g. the epoch)."""
    ctx = active_run()
    if ctx is not None and ctx.tracker is not None:
        ctx.tracker.metric(key, value, step)
    else:
        _sink("log_metric")


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics at once, all at the same ``step``."""
    sink = _sink("log_metrics")
    if sink is not None:
        sink.metrics(metrics, step)


def log_param(key: str, value: object) -> None:
    """Record a parameter of the run. Logging a key again replaces its value."""
    sink = _sink("log_param")
    if sink is not None:
        sink.params({key: value})


def log_params(params: Mapping[str, object]) -> None:
    """Record several parameters of the run."""
    sink = _sink("log_params")
    if sink is not None:
        sink.params(params)


def set_tags(tags: Mapping[str, object]) -> None:
    """Attach tags (free-form labels such as ``{"team": "churn"}``) to the run."""
    sink = _sink("set_tags")
    if sink is not None:
        sink.tags(tags)


def set_tag(key: str, value: object) -> None:
    set_tags({key: value})


def log_artifact(path_or_obj: str | Path | object, name: str | None = None) -> str | None:
    """Store a file (a path), raw bytes, or a Python object (saved like a step output) with
    the run.

    Returns the name it is listed under in ``conveyor runs show`` (the file's name by default).
    """
    sink = _sink("log_artifact")
    if sink is None:
        return None
    return sink.artifact(path_or_obj, name)


def log_figure(figure: Any, name: str | None = None) -> str | None:
    """Store a matplotlib figure with the run, as a PNG."""
    sink = _sink("log_figure")
    if sink is None:
        return None
    import io

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", bbox_inches="tight")
    except AttributeError:
        raise TypeError(
            f"log_figure takes a matplotlib Figure, got {type(figure).__name__}"
        ) from None
    label = name or f"figure-{id(figure):x}.png"
    if not label.endswith(".png"):
        label += ".png"
    return sink.artifact(buffer.getvalue(), label)
