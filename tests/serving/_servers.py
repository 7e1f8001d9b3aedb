"""A real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(app: ASGIApp, *, ready: bool = True, timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` on loopback; yields its base URL once it listens (and, with ``ready``,
    once ``/readyz`` says the models are loaded). Stopped gracefully on exit."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.started, timeout, "the server did not start")
        if ready:
            wait_ready(url, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_ready(url: str, timeout: float = 60.0) -> None:
    def ready() -> bool:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200

    wait_until(ready, timeout, f"{url} did not become ready")


def wait_until(condition: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(message)


# -- processes: `conveyor serve` and other servers run as their own process ---------------------

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Process:
    """A server process, its base URL, and the file its output goes to (a pipe nobody reads
    would fill up and stall it)."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.process.args!r} exited:\n{self.output()}")

    def answers(self, path: str) -> bool:
        """Whether ``path`` answers 200; AssertionError with the output if the process ended."""
        self.check_running()
        try:
            return httpx.get(self.url + path, timeout=5).status_code == 200
        except httpx.TransportError:
            return False


def start_process(command: list[str], url: str, log: Path, **kwargs: Any) -> Process:
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    return Process(process, url, log)


def stop_process(started: Process) -> None:
    if started.process.poll() is None:
        started.process.terminate()
        try:
            started.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            started.process.kill()
            started.process.wait()


def conveyor_command(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``conveyor ARGS`` in a process of its own, with ``env``, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def conveyor_output(env: dict[str, str], cwd: Path, *args: str) -> str:
    """What ``conveyor ARGS`` printed; the test fails, with its output, if it did not succeed."""
    done = conveyor_command(env, cwd, *args, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def conveyor_env(home: Path) -> dict[str, str]:
    """The environment of a ``conveyor`` process working on the store in ``home``."""
    env = {**os.environ, "CONVEYOR_HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("CONVEYOR_DB_URL", "CONVEYOR_ARTIFACTS", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    return env


def start_serve(home: Path, *args: str) -> Process:
    """``conveyor serve ARGS`` on the store in ``home``, on a free port, once ``/readyz`` says
    its models are loaded (stopped again if it never does)."""
    port = free_port()
    command = [sys.executable, "-m", "conveyor", "serve", *args, "--port", str(port)]
    log = home.parent / f"serve-{port}.log"
    started = start_process(
        command, f"http://127.0.0.1:{port}", log, env=conveyor_env(home), cwd=home.parent
    )
    try:
        wait_until(lambda: started.answers("/readyz"), 120, "the server did not become ready")
    except BaseException:
        stop_process(started)
        raise
    return started


@contextmanager
def conveyor_serve(home: Path, *args: str) -> Iterator[Process]:
    """``start_serve``, stopped when the block ends."""
    started = start_serve(home, *args)
    try:
        yield started
    finally:
        stop_process(started)
