"""Promotion gates: absolute thresholds, and "not worse than the current holder of an alias".

With evaluation data (``on=``) the candidate and the holder are both scored on it, so they are
compared on the same rows; without it, the metrics registered with each version are compared.
Every criterion is kept with its figures, passed or not, so a decision can be explained.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from conveyor.core._errors import ConveyorError
from conveyor.store._tracking_records import GateDecision, ModelVersionRecord

# Which way is better, for metrics a gate compares without being told.
HIGHER_IS_BETTER = frozenset(
    {"accuracy", "precision", "recall", "f1", "roc_auc", "r2", "balanced_accuracy"}
)
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mse", "latency_ms"})
LATENCY = "latency_ms"
_LATENCY_ROWS = 50  # single-row predictions timed for latency_ms


@dataclass(frozen=True)
class Gate:
    """What a version must show to take an alias.

    Args:
        min: Metric → the least value allowed (e.g. ``{"f1": 0.85}``).
        max: Metric → the most value allowed (e.g. ``{"latency_ms": 20}``: the median time
            to predict one row, measured on ``on``).
        beat: An alias (e.g. ``"production"``): the candidate must not be worse than the
            version holding it, on the metrics named in ``min`` and ``max`` (or, when there are
            none, on every metric both have whose better direction is known); ``latency_ms``
            is only held to its ``max``, never compared with the holder's.
        tolerance: How much worse than the holder is still accepted (absolute).
        on: Evaluation data: ``(X, y)``, or a table with the label in column ``target``.
        target: The label column of ``on`` when it is one table.
        task: "classification" or "regression" (inferred when not given).
    """

    min: Mapping[str, float] = field(default_factory=dict)
    max: Mapping[str, float] = field(default_factory=dict)
    beat: str | None = None
    tolerance: float = 0.0
    on: Any = None
    target: str | None = None
    task: Literal["classification", "regression"] | None = None

    def __post_init__(self) -> None:
        for label, bounds in (("min", self.min), ("max", self.max)):
            if not isinstance(bounds, Mapping):
                raise ConveyorError(f"Gate({label}=...) takes a mapping of metric to number")
            for key, value in bounds.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConveyorError(
                        f"Gate({label}={{{key!r}: {value!r}}}): a threshold must be a number",
                        metric=key,
                    )
        if (
            isinstance(self.tolerance, bool)
            or not isinstance(self.tolerance, int | float)
            or self.tolerance < 0
        ):
            raise ConveyorError(f"Gate(tolerance={self.tolerance!r}) must be a number >= 0")
        if self.on is not None and not isinstance(self.on, tuple) and self.target is None:
            raise ConveyorError(
                "Gate(on=table) needs target= naming the label column, or pass on=(X, y)"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path | None = None) -> Gate:
        """A gate from a mapping (a YAML file's contents). ``on`` may name a CSV or Parquet
        file, read relative to ``base``."""
        known = {"min", "max", "beat", "tolerance", "on", "target", "task"}
        data = {_field_name(key): value for key, value in data.items()}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ConveyorError(
                f"unknown gate field(s) {', '.join(unknown)}; a gate has {', '.join(sorted(known))}"
            )
        values = dict(data)
        on = values.get("on")
        if isinstance(on, str):
            from conveyor.data import read_csv, read_parquet

            path = (base or Path.cwd()) / on
            reader = read_parquet if path.suffix == ".parquet" else read_csv
            values["on"] = reader(str(path)).to_pandas()
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Gate:
        import yaml

        file = Path(path)
        try:
            data = yaml.safe_load(file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConveyorError(f"cannot read gate {file}: {exc}", path=str(file)) from exc
        if not isinstance(data, Mapping):
            raise ConveyorError(f"gate {file} must be a mapping (min:, max:, beat:, ...)")
        return cls.from_dict(data, base=file.parent)


def _field_name(key: object) -> str:
    # YAML 1.1 reads a bare `on:` key as the boolean True
    return "on" if key is True else str(key)


def decide(
    gate: Gate,
    candidate: ModelVersionRecord,
    holder: ModelVersionRecord | None,
    alias: str,
    actor: str,
    load: Callable[[int], object],
) -> GateDecision:
    """Judge ``candidate`` for ``alias``; ``holder`` holds ``gate.beat`` now (or None)."""
    figures = _figures(gate, candidate, load)
    criteria: list[dict[str, object]] = []
    for key, bound in gate.min.items():
        criteria.append(_threshold(key, ">=", bound, figures.get(key)))
    for key, bound in gate.max.items():
        criteria.append(_threshold(key, "<=", bound, figures.get(key)))
    if gate.beat is not None:
        criteria.extend(_against_holder(gate, candidate, holder, figures, load))
    return GateDecision(
        name=candidate.name,
        version=candidate.version,
        alias=alias,
        passed=all(bool(c["passed"]) for c in criteria),
        criteria=tuple(criteria),
        decided_at=datetime.now(UTC),
        actor=actor,
    )


def _figures(
    gate: Gate, version: ModelVersionRecord, load: Callable[[int], object]
) -> dict[str, float]:
    if gate.on is None:
        return dict(version.metrics)
    from conveyor.data._scores import score

    x, y = _split(gate)
    model = load(version.version)
    figures, _, _ = score(model, x, y, task=gate.task)
    if LATENCY in gate.min or LATENCY in gate.max:
        figures[LATENCY] = _latency_ms(model, x)
    return figures


def _against_holder(
    gate: Gate,
    candidate: ModelVersionRecord,
    holder: ModelVersionRecord | None,
    figures: Mapping[str, float],
    load: Callable[[int], object],
) -> list[dict[str, object]]:
    if holder is None:
        return [
            {
                "criterion": f"beat {gate.beat}",
                "passed": True,
                "message": f"no version holds {gate.beat!r} yet",
            }
        ]
    if holder.version == candidate.version:
        return [
            {
                "criterion": f"beat {gate.beat}",
                "passed": True,
                "message": f"version {holder.version} already holds {gate.beat!r}",
            }
        ]
    theirs = _figures(gate, holder, load)
    # latency is a property of the machine at that moment, not of the model's quality: it is
    # held to its max, not compared with the holder's
    named = [k for k in (*gate.min, *gate.max) if k != LATENCY]
    keys = named or sorted(
        k
        for k in figures
        if k in theirs and k != LATENCY and (k in HIGHER_IS_BETTER or k in LOWER_IS_BETTER)
    )
    same_data = gate.on is not None
    found = []
    for key in keys:
        higher = key in gate.min or (key not in gate.max and key not in LOWER_IS_BETTER)
        mine, other = figures.get(key), theirs.get(key)
        criterion: dict[str, object] = {
            "criterion": f"beat {gate.beat}",
            "metric": key,
            "op": ">=" if higher else "<=",
            "value": mine,
            "holder_version": holder.version,
            "holder_value": other,
            "tolerance": gate.tolerance,
            "same_data": same_data,
        }
        if mine is None or other is None or math.isnan(mine) or math.isnan(other):
            criterion["passed"] = False
            criterion["message"] = (
                f"{key} cannot be compared with version {holder.version} "
                f"(candidate {_shown(mine)}, holder {_shown(other)})"
            )
        else:
            ok = mine >= other - gate.tolerance if higher else mine <= other + gate.tolerance
            criterion["passed"] = ok
            worse = "lower" if higher else "higher"
            criterion["message"] = (
                f"{key} {_shown(mine)} vs {_shown(other)} of {gate.beat} "
                f"(version {holder.version})"
                + ("" if ok else f": {worse} by more than the tolerance {gate.tolerance:g}")
            )
        found.append(criterion)
    return found


def _threshold(key: str, op: str, bound: float, value: float | None) -> dict[str, object]:
    if value is None or math.isnan(value):
        return {
            "criterion": f"{'min' if op == '>=' else 'max'} {key}",
            "metric": key,
            "op": op,
            "threshold": bound,
            "value": value,
            "passed": False,
            "message": f"{key} was not measured (give the gate on= data, or register the "
            "version with this metric)",
        }
    ok = value >= bound if op == ">=" else value <= bound
    word = "at least" if op == ">=" else "at most"
    return {
        "criterion": f"{'min' if op == '>=' else 'max'} {key}",
        "metric": key,
        "op": op,
        "threshold": bound,
        "value": value,
        "passed": ok,
        "message": f"{key} = {_shown(value)}, must be {word} {bound:g}",
    }


def _split(gate: Gate) -> tuple[Any, Any]:
    if isinstance(gate.on, tuple):
        if len(gate.on) != 2:
            raise ConveyorError("Gate(on=...) takes (X, y) or a table with target=")
        return gate.on
    table = gate.on
    columns = list(getattr(table, "columns", []))
    if gate.target not in columns:
        raise ConveyorError(
            f"the gate's data has no column {gate.target!r} (target=); it has: "
            + ", ".join(map(str, columns[:20])),
            target=gate.target,
        )
    if hasattr(table, "drop") and hasattr(table, "iloc"):  # pandas
        return table.drop(columns=[gate.target]), table[gate.target]
    return table.drop(gate.target), table[gate.target]


def _latency_ms(model: object, x: Any) -> float:
    predict = getattr(model, "predict", None) or model
    rows = min(_LATENCY_ROWS, len(x))
    take = x.iloc if hasattr(x, "iloc") else x
    timings = []
    for i in range(rows):
        row = take[i : i + 1]
        started = time.perf_counter()
        predict(row)  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings) if timings else math.nan


def _shown(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4g}"
