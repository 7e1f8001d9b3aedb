"""The hook Protocol run subscribers match, and the fan-out that calls them.

A subscriber implements any of the ``on_*`` methods; a failing subscriber is reported once and
never fails the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Protocol

from conveyor.core import RunFinished, RunStarted, StepFinished, StepStarted
from conveyor.core._errors import ConveyorWarning

Event = RunStarted | StepStarted | StepFinished | RunFinished

_METHODS = {
    RunStarted: "on_run_started",
    StepStarted: "on_step_started",
    StepFinished: "on_step_finished",
    RunFinished: "on_run_finished",
}


class RunHook(Protocol):
    """Any subset of these methods; the engine calls the ones a subscriber has."""

    def on_step_finished(self, event: StepFinished) -> None: ...


class Hooks:
    def __init__(self, hooks: Iterable[object]) -> None:
        self._hooks = list(hooks)

    def emit(self, event: Event) -> None:
        method = _METHODS[type(event)]
        for hook in list(self._hooks):
            handler = getattr(hook, method, None)
            if handler is None:
                continue
            try:
                handler(event)
            except Exception as exc:  # an observer must not break the run it observes
                warnings.warn(
                    f"run hook {type(hook).__name__}.{method} failed and was removed: {exc!r}",
                    ConveyorWarning,
                    stacklevel=2,
                )
                self._hooks.remove(hook)
