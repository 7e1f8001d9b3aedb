"""Fakes the scheduler tests drive it with: processes that end when told, and a launcher."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from conveyor.store import ScheduleRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeProcess:
    """A pipeline process that runs until the test ends it."""

    def __init__(self, pid: int, schedule: ScheduleRecord) -> None:
        self.pid = pid
        self.schedule = schedule
        self.code: int | None = None
        self.output = ""
        self.signals: list[str] = []
        self.ignores_terminate = False

    def end(self, code: int = 0, output: str = "") -> None:
        self.code, self.output = code, output

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        if self.code is None:
            self.signals.append("TERM")
            if not self.ignores_terminate:
                self.code = -15

    def kill(self) -> None:
        if self.code is None:  # like Popen's: a process that has ended gets no signal
            self.signals.append("KILL")
            self.code = -9

    def output_tail(self) -> str:
        return self.output


class FakeLauncher:
    """Starts FakeProcesses; ``failure`` makes the next launches raise it."""

    def __init__(self) -> None:
        self.started: list[FakeProcess] = []
        self.failure: OSError | None = None
        self.exit_at_once: int | None = None  # processes end as soon as they start
        self._pids = itertools.count(5000)

    def launch(self, schedule: ScheduleRecord) -> FakeProcess:
        if self.failure is not None:
            raise self.failure
        process = FakeProcess(next(self._pids), schedule)
        if self.exit_at_once is not None:
            process.end(self.exit_at_once)
        self.started.append(process)
        return process

    def running(self) -> list[FakeProcess]:
        return [p for p in self.started if p.code is None]


def schedule(
    id: str = "sch-0001",
    *,
    name: str | None = "job",
    trigger: str = "every",
    spec: str = "60s",
    missed: str = "skip",
    created_at: datetime = T0,
    workdir: str = "/work",
) -> ScheduleRecord:
    return ScheduleRecord(
        id=id,
        name=name,
        target="/work/pipeline.py:churn",
        pipeline="churn",
        params={"n": "3"},
        trigger=trigger,  # type: ignore[arg-type]
        spec=spec,
        created_at=created_at,
        missed=missed,  # type: ignore[arg-type]
        workdir=workdir,
    )
