"""Starting a schedule's pipeline in a process of its own: ``python -m conveyor run FILE:PIPELINE
-p KEY=VALUE …``, exactly what a person would type.

A pipeline that crashes, leaks or hangs cannot take the scheduler with it. The process gets the
scheduler's environment with the store settings made absolute, so its run lands in the
scheduler's store whatever folder it starts in; it starts in the folder the schedule was added
from, so relative paths in its parameters mean what they meant then. It runs in a session of
its own, so a Ctrl-C meant for the scheduler does not reach it: the scheduler decides when a
run is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import IO, Protocol

from conveyor.core import Settings
from conveyor.store import ScheduleRecord

TAIL_BYTES = 8192  # of the process's output, kept to explain a failure


class Process(Protocol):
    """A started pipeline process, as the scheduler watches it."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None:
        """The exit code once it has ended (negative: killed by that signal), else None."""
        ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def output_tail(self) -> str:
        """The end of what it printed (stdout and stderr together)."""
        ...


class Launcher(Protocol):
    """Starts the pipeline of a schedule; raises OSError if it cannot."""

    def launch(self, schedule: ScheduleRecord) -> Process: ...


class SubprocessLauncher:
    """Runs each pipeline as ``python -m conveyor run`` with the scheduler's settings."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        self._settings = settings
        self._environ = dict(os.environ if environ is None else environ)
        self._python = python or sys.executable

    def command(self, schedule: ScheduleRecord) -> list[str]:
        params = [arg for key, value in schedule.params.items() for arg in ("-p", f"{key}={value}")]
        return [self._python, "-m", "conveyor", "run", schedule.target, *params]

    def environment(self) -> dict[str, str]:
        env = dict(self._environ)
        env["CONVEYOR_HOME"] = str(self._settings.home)
        env["CONVEYOR_DB_URL"] = absolute_db_url(self._settings.db_url)
        env["CONVEYOR_ARTIFACTS"] = absolute_location(self._settings.artifacts)
        env["CONVEYOR_INLINE_LIMIT"] = str(self._settings.inline_limit)
        if self._settings.workers is not None:
            env["CONVEYOR_WORKERS"] = str(self._settings.workers)
        if self._settings.tracking_uri is not None and self._settings.token is not None:
            env["CONVEYOR_TRACKING_URI"] = self._settings.tracking_uri
            env["CONVEYOR_TOKEN"] = self._settings.token
        if self._settings.prediction_logs is not None:
            env["CONVEYOR_PREDICTION_LOGS"] = absolute_location(self._settings.prediction_logs)
        env["PYTHONUNBUFFERED"] = "1"  # so a crash leaves its last lines in the output
        return env

    def launch(self, schedule: ScheduleRecord) -> Process:
        # Not a with-block: the file outlives this call, as the process writes to it until it
        # ends; _Child closes it once the output has been read after the end.
        output = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            popen = subprocess.Popen(
                self.command(schedule),
                cwd=schedule.workdir or None,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            output.close()
            raise
        return _Child(popen, output)


class _Child:
    def __init__(self, popen: subprocess.Popen[bytes], output: IO[bytes]) -> None:
        self._popen = popen
        self._output = output

    @property
    def pid(self) -> int:
        return self._popen.pid

    def poll(self) -> int | None:
        return self._popen.poll()

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    def _signal(self, sig: signal.Signals) -> None:
        if self._popen.poll() is not None:
            return
        if os.name == "posix":
            # The whole process group: worker processes of the run stop with it. The child
            # leads its own session, so its group id is its pid.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, sig)
            return
        self._popen.terminate()

    def output_tail(self) -> str:
        if self._output.closed:
            return ""
        try:
            size = self._output.seek(0, os.SEEK_END)
            self._output.seek(max(0, size - TAIL_BYTES))
            return self._output.read().decode("utf-8", errors="replace")
        finally:
            if self._popen.poll() is not None:
                self._output.close()


def absolute_db_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so a process in another folder opens
    the same database."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path, sep, query = url[len(prefix) :].partition("?")
    if not path or path == ":memory:" or os.path.isabs(path):
        return url
    return f"{prefix}{os.path.abspath(path)}{sep}{query}"


def absolute_location(location: str) -> str:
    """A local folder made absolute; URLs (``s3://…``) as they are."""
    return location if "://" in location else os.path.abspath(location)
