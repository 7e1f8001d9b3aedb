"""Showing a run as it happens: a live DAG table (Rich) on a terminal, plain lines otherwise.

Subscribers to the engine's events; the engine never imports this module.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from conveyor.core import RunFinished, RunStarted, StepFinished, StepStarted

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "yellow",
    "running": "magenta",
    "waiting": "dim",
}


class PlainLog:
    """One line per event, for logs and pipes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def _say(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def on_run_started(self, event: RunStarted) -> None:
        self._say(f"run {event.run_id}: {event.pipeline}, {len(event.steps)} steps")

    def on_step_started(self, event: StepStarted) -> None:
        attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        self._say(f"  {event.step}: started{attempt}")

    def on_step_finished(self, event: StepFinished) -> None:
        detail = {
            "succeeded": f"{event.seconds:.2f}s",
            "cached": "cache hit",
            "failed": event.error or "",
            "skipped": "upstream failed",
        }.get(event.status, "")
        self._say(f"  {event.step}: {event.status} {detail}".rstrip())

    def on_run_finished(self, event: RunFinished) -> None:
        self._say(f"run {event.run_id}: {event.status} in {event.seconds:.2f}s")


class LiveDag:
    """A table of every step with its state, redrawn as the run progresses."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console

        self._console = Console(file=out)
        self._states: dict[str, tuple[str, str]] = {}
        self._started: dict[str, float] = {}
        self._live: Live | None = None
        self._title = ""

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(title=self._title, expand=False)
        table.add_column("step")
        table.add_column("state")
        table.add_column("detail", overflow="fold", max_width=80)
        now = time.perf_counter()
        for step, (state, detail) in self._states.items():
            shown = f"{now - self._started.get(step, now):.1f}s" if state == "running" else detail
            table.add_row(step, f"[{_STYLE.get(state, '')}]{state}[/]", shown)
        return table

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def on_run_started(self, event: RunStarted) -> None:
        from rich.live import Live

        self._title = f"{event.pipeline} · {event.run_id}"
        self._states = dict.fromkeys(event.steps, ("waiting", ""))
        self._live = Live(self._table(), console=self._console, refresh_per_second=8)
        self._live.start()

    def on_step_started(self, event: StepStarted) -> None:
        self._started[event.step] = time.perf_counter()
        attempt = f"attempt {event.attempt}" if event.attempt > 1 else ""
        self._states[event.step] = ("running", attempt)
        self._refresh()

    def on_step_finished(self, event: StepFinished) -> None:
        detail = {
            "succeeded": f"{event.seconds:.2f}s",
            "cached": "cache hit",
            "failed": event.error or "",
            "skipped": "upstream failed",
        }.get(event.status, "")
        self._states[event.step] = (event.status, detail)
        self._refresh()

    def on_run_finished(self, event: RunFinished) -> None:
        self._refresh()
        if self._live is not None:
            self._live.stop()
        style = "green" if event.status == "succeeded" else "bold red"
        self._console.print(
            f"[{style}]run {event.run_id}: {event.status}[/] in {event.seconds:.2f}s"
        )
