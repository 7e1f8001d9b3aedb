"""``cv.monitor(...)``: define a monitor and store it, so any process (``conveyor monitor
check``, the scheduler) can evaluate it; the same definition in YAML for ``conveyor monitor
apply``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conveyor.core import Settings
from conveyor.core._durations import format_duration
from conveyor.core._errors import ConveyorError, MonitoringError
from conveyor.engine import Workspace
from conveyor.monitoring._actions import Action, actions_from_data
from conveyor.monitoring._rules import Rule, at_least_one, rules_from_data
from conveyor.monitoring._window import Window, parse_window
from conveyor.store import MonitorRecord, check_model_name, check_monitor_name

DEFAULT_EVERY = timedelta(minutes=5)
_FIELDS = ("name", "model", "window", "every", "min_rows", "rules", "actions")


@dataclass(frozen=True)
class Monitor:
    """A stored monitor: the model it watches, its window, rules and actions.

    Attributes:
        name: Unique name, e.g. ``"churn-drift"``.
        model: ``"name@alias"`` (follows the alias) or ``"name@3"``; the reference profile
            is the one registered with the version it points at when evaluated.
        window: A duration (``"1h"``) or a number of latest rows.
        every: How often the scheduler evaluates it (default: the window's duration, at most
            five minutes apart for row-count windows).
        min_rows: A window with fewer rows is recorded as ``no_data`` and decides nothing.
        rules: ``DriftRule`` / ``MetricRule``; the monitor fires when any rule has held for its
            ``for_windows`` consecutive windows.
        actions: Run in order when the monitor starts firing.
    """

    name: str
    model: str
    window: timedelta | int
    every: timedelta
    min_rows: int
    rules: tuple[Rule, ...]
    actions: tuple[Action, ...]

    @property
    def model_name(self) -> str:
        return self.model.partition("@")[0]

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape ``from_dict`` and ``conveyor monitor apply`` read."""
        return {
            "name": self.name,
            "model": self.model,
            "window": _window_text(self.window),
            "every": format_duration(self.every),
            "min_rows": self.min_rows,
            "rules": [r.to_dict() for r in self.rules],
            "actions": [a.to_dict() for a in self.actions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path | None = None) -> Monitor:
        """A monitor from its YAML/JSON shape; relative paths (a retraining pipeline, a gate's
        data) are resolved from ``base`` (default: the current folder)."""
        if not isinstance(data, Mapping):
            raise MonitoringError(f"a monitor is a mapping (name:, model:, ...), got {data!r}")
        unknown = sorted(map(str, set(data) - set(_FIELDS)))
        if unknown:
            raise MonitoringError(
                f"unknown monitor field(s) {', '.join(unknown)}; a monitor has {', '.join(_FIELDS)}"
            )
        missing = [f for f in ("name", "model", "rules") if data.get(f) in (None, "")]
        if missing:
            raise MonitoringError(f"a monitor needs {', '.join(missing)}")
        return _build(
            name=data["name"],
            model=data["model"],
            window=data.get("window", "1h"),
            every=data.get("every"),
            min_rows=data.get("min_rows", 1),
            rules=data["rules"],
            actions=data.get("actions"),
            base=base or Path.cwd(),
        )

    @classmethod
    def from_record(cls, record: MonitorRecord) -> Monitor:
        return cls.from_dict({"name": record.name, "model": record.model, **record.spec})

    def record(self, at: datetime) -> MonitorRecord:
        spec = {k: v for k, v in self.to_dict().items() if k not in ("name", "model")}
        return MonitorRecord(self.name, self.model, spec, created_at=at, updated_at=at)


def monitor(
    name: str,
    model: str,
    window: Window = "1h",
    rules: Sequence[Rule] = (),
    actions: Sequence[Action] = (),
    *,
    every: Window | None = None,
    min_rows: int = 1,
    settings: Settings | None = None,
) -> Monitor:
    """Define the monitor ``name`` (replacing one of that name) and store it.

    Example::

        cv.monitor(
            name="churn-drift", model="churn@production", window="1h",
            rules=[cv.DriftRule(share_of_features=0.3, psi=0.2),
                   cv.MetricRule("accuracy", "<", 0.85, for_windows=2)],
            actions=[cv.Webhook("https://hooks.example.com/ml"),
                     cv.Retrain(pipeline="pipeline.py:churn", params={"data": "new.csv"}),
                     cv.Promote(alias="production", gate=cv.Gate(min={"accuracy": 0.8}))],
        )

    Raises:
        MonitoringError: a bad field, named in the message; nothing is stored.
    """
    found = _build(
        name=name,
        model=model,
        window=window,
        every=every,
        min_rows=min_rows,
        rules=list(rules),
        actions=list(actions),
        base=Path.cwd(),
    )
    return save(found, settings=settings)


def save(found: Monitor, *, settings: Settings | None = None) -> Monitor:
    """Store ``found``, replacing the monitor of that name."""
    store = Workspace.for_api(settings).metadata
    store.put_monitor(found.record(datetime.now(UTC)))
    return found


def load(name: str, *, settings: Settings | None = None) -> Monitor:
    """The stored monitor ``name`` (MonitorNotFound names the ones there are)."""
    return Monitor.from_record(Workspace.for_api(settings).metadata.get_monitor(name))


def list_monitors(*, settings: Settings | None = None) -> list[Monitor]:
    return [Monitor.from_record(r) for r in Workspace.for_api(settings).metadata.list_monitors()]


def _build(**fields: Any) -> Monitor:
    """The monitor, every bad field reported as a MonitoringError naming it."""
    try:
        return _checked(**fields)
    except MonitoringError:
        raise
    except ConveyorError as exc:
        raise MonitoringError(exc.message, **exc.details) from exc


def _checked(
    *,
    name: object,
    model: object,
    window: object,
    every: object,
    min_rows: object,
    rules: object,
    actions: object,
    base: Path,
) -> Monitor:
    if not isinstance(name, str):
        raise MonitoringError(f"a monitor's name is text, got {name!r}")
    check_monitor_name(name)
    if not isinstance(model, str) or "@" not in model:
        raise MonitoringError(
            f"a monitor watches a model reference such as 'churn@production', got {model!r}"
        )
    check_model_name(model.partition("@")[0])
    span = parse_window(window)  # type: ignore[arg-type]
    if every is None:
        interval = span if isinstance(span, timedelta) else DEFAULT_EVERY
    else:
        parsed = parse_window(every)  # type: ignore[arg-type]
        if not isinstance(parsed, timedelta):
            raise MonitoringError(f"every is a duration such as '5m', got {every!r}")
        interval = parsed
    return Monitor(
        name=name,
        model=model,
        window=span,
        every=interval,
        min_rows=at_least_one("min_rows", min_rows),
        rules=rules_from_data(rules),
        actions=actions_from_data(actions, base),
    )


def _window_text(window: timedelta | int) -> object:
    return window if isinstance(window, int) else format_duration(window)
