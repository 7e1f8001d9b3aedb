"""A real Prometheus scraping a real ``conveyor serve`` with the shipped alert rules, unmodified:
a monitor that fires becomes a firing ``ConveyorMonitorFiring`` alert."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests._prometheus import ALERTS, binary
from tests.serving._churn import register_churn
from tests.serving._servers import (
    Process,
    conveyor_env,
    conveyor_serve,
    free_port,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.slow

MONITOR_YAML = """\
name: churn-drift
model: churn@production
window: 1h
rules:
  - drift: {share_of_features: 0.3, psi: 0.2}
actions:
  - log: {}
"""


@pytest.fixture(autouse=True)
def prometheus_binary() -> str:
    """Looked for first, so that without it no server is started for nothing."""
    return binary("prometheus")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    register_churn(tmp_path / "home")
    return tmp_path / "home"


@pytest.fixture
def server(home: Path) -> Iterator[Process]:
    """``conveyor serve churn@production`` in a process of its own."""
    with conveyor_serve(home, "churn@production") as started:
        yield started


@pytest.fixture
def prometheus(prometheus_binary: str, server: Process, tmp_path: Path) -> Iterator[Process]:
    """The ``prometheus`` binary scraping ``server`` every second, with the shipped rules."""
    target = server.url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": "conveyor", "static_configs": [{"targets": [target]}]}],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    command = [
        prometheus_binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    started = start_process(command, f"http://127.0.0.1:{port}", tmp_path / "prometheus.log")
    try:
        wait_until(lambda: started.answers("/-/ready"), 60, "prometheus did not become ready")
        yield started
    finally:
        stop_process(started)


def _send_drifted_traffic(url: str) -> None:
    """Requests whose ``age`` lies far beyond the reference's 20 to 65."""
    records = [{"age": 90.0 + i % 10, "plan": 1.0} for i in range(50)]
    for _ in range(4):
        answer = httpx.post(f"{url}/predict", json={"records": records}, timeout=30)
        assert answer.status_code == 200, answer.text


def _evaluate_monitor(home: Path, spec: Path) -> None:
    """Applies the monitor defined in ``spec`` and checks it until it fires, as a user does:
    ``conveyor monitor apply SPEC``, then ``conveyor monitor check NAME``. The window is read
    from the prediction log, which the server writes every few seconds, so the first checks
    may find no rows yet."""
    conveyor = [sys.executable, "-m", "conveyor", "monitor"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*conveyor, *args], env=conveyor_env(home), capture_output=True, text=True, check=False
        )

    applied = run("apply", str(spec))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    name = yaml.safe_load(spec.read_text())["name"]
    deadline = time.monotonic() + 60
    while True:
        checked = run("check", name, "--fail-on-alert")
        assert checked.returncode in (0, 1), checked.stdout + checked.stderr
        if checked.returncode == 1:  # firing
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"monitor {name} did not fire within 60 s:\n{checked.stdout}")
        time.sleep(1)


def _firing_alerts(prometheus: Process) -> list[dict[str, Any]]:
    prometheus.check_running()
    answer = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=5)
    answer.raise_for_status()
    alerts: list[dict[str, Any]] = answer.json()["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


def test_a_firing_monitor_fires_the_shipped_alert(
    home: Path, server: Process, prometheus: Process
) -> None:
    _send_drifted_traffic(server.url)
    spec = home.parent / "monitor.yaml"
    spec.write_text(MONITOR_YAML)
    _evaluate_monitor(home, spec)

    def monitor_alert() -> dict[str, Any] | None:
        for alert in _firing_alerts(prometheus):
            labels = alert["labels"]
            if (
                labels["alertname"] == "ConveyorMonitorFiring"
                and labels["monitor"] == "churn-drift"
            ):
                return alert
        return None

    deadline = time.monotonic() + 60
    while (alert := monitor_alert()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no firing ConveyorMonitorFiring alert after 60 s; prometheus:\n"
                f"{prometheus.output()}\nserver:\n{server.output()}"
            )
        time.sleep(0.5)
    assert alert["labels"]["model"] == "churn"
    assert alert["labels"]["severity"] == "warning"
    assert "churn-drift" in alert["annotations"]["summary"]
