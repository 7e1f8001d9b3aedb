"""What came of a fire: the run its process recorded, and the status and reason to store.

Reads the store; starts and stops nothing.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta

from conveyor.store import FireStatus, MetadataStore, RunRecord

_LOOKED_AT = 50  # newest runs of the pipeline searched for the process's run
# A run starts after its fire; the margin only guards against a reused pid matching a run
# from long ago, so it can be generous about clocks.
_SLACK = timedelta(minutes=5)
_REASON_MAX = 1000


def find_run(
    store: MetadataStore, pipeline: str | None, host: str, pid: int | None, since: datetime
) -> RunRecord | None:
    """The run the pipeline's process recorded: same pipeline (None: any), host and pid."""
    if pid is None:
        return None
    for run in store.list_runs(pipeline=pipeline, limit=_LOOKED_AT):
        if run.pid == pid and run.host == host and run.started_at >= since - _SLACK:
            return run
    return None


def exit_outcome(code: int, output: str) -> tuple[FireStatus, str]:
    """The status and reason of a fire whose process exited with ``code``."""
    if code == 0:
        return "succeeded", ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return "failed", f"the pipeline's process was killed by {name}"
    line = _error_line(output)
    return "failed", _cut(line or f"the pipeline's process exited with code {code}")


def run_outcome(run: RunRecord | None) -> tuple[FireStatus, str]:
    """The status and reason of a fire whose process ended unwatched, from its run."""
    if run is None:
        return "failed", (
            "the pipeline's process ended while no scheduler watched it and recorded no run; "
            "its outcome is unknown"
        )
    if run.status == "succeeded":
        return "succeeded", ""
    if run.status == "running":
        return "failed", f"run {run.id} never finished: its process stopped"
    return "failed", _cut(f"run {run.id} {run.status}" + (f": {run.error}" if run.error else ""))


def _error_line(output: str) -> str:
    """The line that says what went wrong: the CLI's ``error: …``, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1].removeprefix("error:").strip()
    return lines[-1] if lines else ""


def _cut(text: str) -> str:
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"
