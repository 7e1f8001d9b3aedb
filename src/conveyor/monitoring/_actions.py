"""What a monitor does when it starts firing: call a webhook, log, retrain, promote.

Actions are plain data that round-trip through the stored YAML/JSON shape
(``{"webhook": {"url": ...}}``); running them is ``_acting``'s business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor.core._errors import MonitoringError
from conveyor.monitoring._rules import one_key
from conveyor.registry import Gate

_GATE_FIELDS = ("min", "max", "beat", "tolerance", "on", "target", "task")


@dataclass(frozen=True)
class Webhook:
    """POST a JSON body (monitor, model version, figures, a link) to ``url``.

    Header values may name environment variables as ``${NAME}``; they are expanded when the
    webhook is sent, so a secret is not stored with the monitor.
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    retries: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise MonitoringError(
                f"a webhook URL starts with http:// or https://, got {self.url!r}"
            )
        if not isinstance(self.headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            raise MonitoringError("webhook headers are a mapping of name to text")
        object.__setattr__(self, "headers", dict(self.headers))

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"url": self.url}
        if self.headers:
            body["headers"] = dict(self.headers)
        if self.timeout != 10.0:
            body["timeout"] = self.timeout
        if self.retries != 2:
            body["retries"] = self.retries
        return {"webhook": body}


@dataclass(frozen=True)
class Log:
    """Write the alert to the ``conveyor.monitoring`` logger (a WARNING line)."""

    def to_dict(self) -> dict[str, object]:
        return {"log": {}}


@dataclass(frozen=True)
class Retrain:
    """Run a pipeline (``"pipeline.py:churn"``) with ``params``; the model versions it
    registers are what a following ``Promote`` considers. A relative path is resolved from the
    folder the monitor was defined in."""

    pipeline: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.pipeline, str) or not self.pipeline.strip():
            raise MonitoringError("Retrain(pipeline=...) names a pipeline: 'pipeline.py:churn'")
        if not isinstance(self.params, Mapping):
            raise MonitoringError("Retrain(params=...) is a mapping of parameter to value")
        object.__setattr__(self, "params", dict(self.params))

    def resolved(self, base: Path) -> Retrain:
        path, colon, name = self.pipeline.partition(":")
        full = Path(path).expanduser()
        if not full.is_absolute():
            full = (base / full).resolve()
        return Retrain(f"{full}{colon}{name}", self.params)

    def to_dict(self) -> dict[str, object]:
        return {"retrain": {"pipeline": self.pipeline, "params": dict(self.params)}}


@dataclass(frozen=True)
class Promote:
    """Move ``alias`` to the version a preceding ``Retrain`` registered (without one: the
    newest version), if it passes ``gate``. A failing gate leaves the alias where it is and the
    decision says why.

    The gate is stored with the monitor, so its evaluation data (``on``) must be a file path
    (CSV or Parquet, read when the promotion runs) rather than a table in memory.
    """

    alias: str = "production"
    gate: Gate | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.alias, str) or not self.alias:
            raise MonitoringError("Promote(alias=...) names an alias, e.g. 'production'")
        if self.gate is not None:
            if not isinstance(self.gate, Gate):
                raise MonitoringError("Promote(gate=...) takes a cv.Gate")
            if self.gate.on is not None and not isinstance(self.gate.on, str | Path):
                raise MonitoringError(
                    "a monitor's gate is stored with it, so Gate(on=...) must name a CSV or "
                    "Parquet file rather than hold a table"
                )

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"alias": self.alias}
        if self.gate is not None:
            body["gate"] = gate_to_dict(self.gate)
        return {"promote": body}


Action = Webhook | Log | Retrain | Promote


def gate_to_dict(gate: Gate) -> dict[str, object]:
    """The gate in its stored shape, leaving out what is at its default."""
    found: dict[str, object] = {}
    if gate.min:
        found["min"] = dict(gate.min)
    if gate.max:
        found["max"] = dict(gate.max)
    if gate.tolerance:
        found["tolerance"] = gate.tolerance
    for name in ("beat", "on", "target", "task"):
        value: Any = getattr(gate, name)
        if value is not None:
            found[name] = str(value)
    return found


def gate_from_dict(data: Mapping[str, object], base: Path) -> Gate:
    """A gate from its stored shape; ``on`` stays a path, resolved from ``base``."""
    values = dict(data)
    unknown = sorted(set(values) - set(_GATE_FIELDS))
    if unknown:
        raise MonitoringError(
            f"unknown gate field(s) {', '.join(unknown)}; a gate has {', '.join(_GATE_FIELDS)}"
        )
    on = values.get("on")
    if isinstance(on, str) and not Path(on).is_absolute():
        values["on"] = str((base / on).resolve())
    try:
        return Gate(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise MonitoringError(f"bad gate {dict(data)!r}: {exc}") from exc


def actions_from_data(data: object, base: Path) -> tuple[Action, ...]:
    """Actions from their stored or YAML shape: a list of ``{webhook: {...}}`` and so on."""
    if data is None:
        return ()
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise MonitoringError("a monitor's actions are a list such as [{log: {}}]")
    return tuple(_action(item, base) for item in data)


def _action(item: object, base: Path) -> Action:
    if isinstance(item, Retrain):
        return item.resolved(base)
    if isinstance(item, Webhook | Log | Promote):
        return item
    kind, body = one_key(item, "action", ("webhook", "log", "retrain", "promote"))
    values = dict(body)
    try:
        if kind == "webhook":
            return Webhook(**values)  # type: ignore[arg-type]
        if kind == "log":
            return Log(**values)
        if kind == "retrain":
            return Retrain(**values).resolved(base)  # type: ignore[arg-type]
        gate = values.pop("gate", None)
        if gate is not None and not isinstance(gate, Mapping):
            raise MonitoringError(f"a promote action's gate is a mapping, got {gate!r}")
        return Promote(
            **values,  # type: ignore[arg-type]
            gate=None if gate is None else gate_from_dict(gate, base),
        )
    except TypeError as exc:
        raise MonitoringError(f"bad {kind} action {dict(body)!r}: {exc}") from exc
