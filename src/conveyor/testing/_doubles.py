"""The test doubles: a fake clock, an inline executor and workspace helpers."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conveyor.core import Settings
from conveyor.engine import Workspace
from conveyor.engine._attempt import Outcome, Task, execute
from conveyor.engine._values import ValueStore
from conveyor.store import MemoryArtifactStore, MemoryMetadataStore


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


class InlineExecutor:
    """Runs each step in the calling thread when it is submitted: deterministic order, easy
    debugging, no parallelism. Timeouts are not enforced."""

    in_process = True

    def __init__(self) -> None:
        self._values: ValueStore | None = None
        self.submitted: list[str] = []

    def bind(self, values: ValueStore) -> None:
        self._values = values

    def submit(self, task: Task) -> Future[Outcome]:
        self.submitted.append(task.step)
        future: Future[Outcome] = Future()
        future.set_result(execute(task, self._values))
        return future

    def shutdown(self) -> None:
        pass


def settings_for(folder: Path) -> Settings:
    """Settings that keep the database and artifacts under ``folder`` (SQLite, local files)."""
    home = Path(folder).resolve()
    return Settings(
        home=home, db_url=f"sqlite:///{home / 'conveyor.db'}", artifacts=str(home / "artifacts")
    )


def memory_workspace(inline_limit: int = 64 * 1024) -> Workspace:
    """A workspace whose stores live in memory (nothing touches the disk)."""
    settings = Settings(
        home=Path("."), db_url="memory://", artifacts="memory://", inline_limit=inline_limit
    )
    return Workspace(
        settings, MemoryMetadataStore(), ValueStore(MemoryArtifactStore(), inline_limit)
    )
