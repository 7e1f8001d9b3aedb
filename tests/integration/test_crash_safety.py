"""A runner killed with SIGKILL, and two runners at once, on one SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PIPELINES = Path(__file__).parent.parent / "pipelines"

pytestmark = pytest.mark.slow


def conveyor(home: Path, *args: str, extra: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "conveyor", *args]


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return {**env, "CONVEYOR_HOME": str(home), **extra}


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {seconds}s")
        time.sleep(0.05)


def test_a_killed_run_shows_as_crashed_and_a_rerun_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_for(home, CRASHY_DIR=str(tmp_path))
    (tmp_path / "block").touch()
    runner = subprocess.Popen(
        conveyor(home, "run", f"{PIPELINES / 'crashy.py'}:crashy"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_for(tmp_path / "third-started")
    time.sleep(0.5)  # let the recorder write the finished steps
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)

    listed = subprocess.run(
        conveyor(home, "runs", "list"), env=env, capture_output=True, text=True, check=True
    )
    assert "crashed" in listed.stdout and "running" not in listed.stdout

    (tmp_path / "block").unlink()
    rerun = subprocess.run(
        conveyor(home, "run", f"{PIPELINES / 'crashy.py'}:crashy"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "first: cached" in rerun.stdout and "second: cached" in rerun.stdout
    assert "third: succeeded" in rerun.stdout


def test_two_runs_at_once_on_one_sqlite_store_both_succeed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_for(home)
    command = conveyor(home, "run", f"{PIPELINES / 'crashy.py'}:long_chain", "--no-cache")
    runners = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=180)[0] for r in runners]
    assert [r.returncode for r in runners] == [0, 0], outputs
    listed = subprocess.run(
        conveyor(home, "runs", "list"), env=env, capture_output=True, text=True, check=True
    )
    assert listed.stdout.count("succeeded") == 2
