from __future__ import annotations

import io

from conveyor.cli._progress import LiveDag, PlainLog
from conveyor.core import RunFinished, RunStarted, StepFinished, StepStarted

EVENTS = [
    RunStarted("run-1", "demo", ("load", "train")),
    StepStarted("run-1", "load", 1),
    StepFinished("run-1", "load", "cached", 0.0, True),
    StepStarted("run-1", "train", 2),
    StepFinished("run-1", "train", "failed", 1.5, False, "ValueError: bad"),
    RunFinished("run-1", "failed", 1.6),
]


def _feed(hook: object) -> None:
    for event in EVENTS:
        name = {
            RunStarted: "on_run_started",
            StepStarted: "on_step_started",
            StepFinished: "on_step_finished",
            RunFinished: "on_run_finished",
        }[type(event)]
        getattr(hook, name)(event)


def test_plain_log_writes_one_line_per_event() -> None:
    out = io.StringIO()
    _feed(PlainLog(out))
    assert out.getvalue().splitlines() == [
        "run run-1: demo, 2 steps",
        "  load: started",
        "  load: cached cache hit",
        "  train: started (attempt 2)",
        "  train: failed ValueError: bad",
        "run run-1: failed in 1.60s",
    ]


def test_the_live_view_draws_every_step_with_its_state() -> None:
    out = io.StringIO()
    live = LiveDag(out)
    live._console.width = 100
    _feed(live)
    text = out.getvalue()
    for fragment in (
        "demo · run-1",
        "load",
        "cached",
        "train",
        "failed",
        "ValueError: bad",
        "run run-1: failed",
    ):
        assert fragment in text
