"""``@cv.step(validate_inputs=..., validate_output=...)``: the schemas a step's data must pass.

Checked where the step runs (a thread or a worker process), right before and after the
function, so a failure is the step's own error: ``DataValidationError`` naming the column,
check, failing count and examples, and nothing of the output is stored.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor.core import StepSpec, hash_parts


@dataclass(frozen=True, slots=True)
class Validated:
    fn: Callable[..., object]
    step: str
    inputs: tuple[tuple[str, object], ...]
    output: object | None

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        if self.inputs:
            bound = inspect.signature(self.fn).bind_partial(*args, **kwargs)
            for name, schema in self.inputs:
                if name in bound.arguments:
                    _check(schema, bound.arguments[name], f"step {self.step!r}, input {name!r}")
        result = self.fn(*args, **kwargs)
        if self.output is not None:
            _check(self.output, result, f"step {self.step!r}, output")
        return result


def wrap(spec: StepSpec) -> Callable[..., object]:
    """The step's function, with its schemas checked around it if it declares any."""
    if not spec.validate_inputs and spec.validate_output is None:
        return spec.fn
    return Validated(spec.fn, spec.name, spec.validate_inputs, spec.validate_output)


def key_part(spec: StepSpec) -> str | None:
    """What the cache key sees of the schemas: a changed schema re-runs the step."""
    if not spec.validate_inputs and spec.validate_output is None:
        return None
    texts = [f"{name}={_text(schema)}" for name, schema in spec.validate_inputs]
    if spec.validate_output is not None:
        texts.append(f"->{_text(spec.validate_output)}")
    return hash_parts(texts)


def _text(schema: object) -> str:
    to_json = getattr(schema, "to_json", None)
    return str(to_json()) if callable(to_json) else repr(schema)


def _check(schema: object, value: object, source: str) -> None:
    report = schema.validate(value)  # type: ignore[attr-defined]
    report.raise_for_failures(source)
