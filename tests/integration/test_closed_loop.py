"""The closed loop on real parts: a real ``conveyor serve`` answers drifted traffic, the monitor
fires, a local receiver gets the webhook, the retraining pipeline runs on the new data, the
gate passes, the alias moves and the server swaps to the new version with no failed request.
A failing gate leaves the old version serving and says why."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest

import conveyor as cv
from conveyor.core import Settings
from conveyor.monitoring import evaluate, window
from conveyor.testing import settings_for
from tests.integration.test_cli_monitor import PIPELINE
from tests.serving._servers import free_port, wait_until
from tests.unit.monitoring._traffic import COLUMNS, register, training
from tests.unit.monitoring.test_monitor import Receiver

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class Traffic:
    """Clients sending drifted rows until stopped; every answer's status and version is kept."""

    def __init__(self, url: str, rows: pd.DataFrame, clients: int = 4) -> None:
        self.answers: list[tuple[int, int | None]] = []
        self._stop = threading.Event()
        records = rows[list(COLUMNS)].to_dict("records")
        self._threads = [
            threading.Thread(target=self._send, args=(url, records[i::clients]), daemon=True)
            for i in range(clients)
        ]
        for thread in self._threads:
            thread.start()

    def _send(self, url: str, records: list[dict[str, float]]) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                try:
                    answer = client.post(
                        f"{url}/predict", json={"records": [records[i % len(records)]]}
                    )
                    version = answer.json().get("version") if answer.status_code == 200 else None
                    self.answers.append((answer.status_code, version))
                except httpx.TransportError:
                    self.answers.append((0, None))
                i += 1

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def versions_since(self, start: int) -> set[int | None]:
        return {v for _, v in self.answers[start:]}


@contextmanager
def serving(home: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CONVEYOR_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("CONVEYOR_DB_URL", None)
    env.pop("CONVEYOR_ARTIFACTS", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conveyor",
            "serve",
            "churn@production",
            "--port",
            str(port),
            "--poll-interval",
            "0.5",
        ],
        env=env,
        cwd=home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"the server exited: {output}")
        try:
            return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, 120, "the server did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    return settings_for(tmp_path / "home")


def _loop(
    settings: Settings, tmp_path: Path, receiver: Receiver, floor: float
) -> tuple[object, Traffic]:
    register(settings)
    drifted = training(2000, shift=1.0, seed=11)
    drifted.to_csv(tmp_path / "new.csv", index=False)  # the new data, labelled, for retraining
    cv.monitor(
        "churn-drift",
        "churn@production",
        window="1h",
        rules=[cv.DriftRule(share_of_features=0.5, psi=0.2)],
        actions=[
            cv.Webhook(receiver.url),
            cv.Retrain(pipeline="pipeline.py:churn", params={"data": "new.csv"}),
            cv.Promote(alias="production", gate=cv.Gate(min={"accuracy": floor})),
        ],
        min_rows=200,
        settings=settings,
    )
    return drifted


def test_drift_fires_retrains_promotes_and_the_server_swaps_without_a_failed_request(
    settings: Settings, tmp_path: Path
) -> None:
    receiver = Receiver()
    try:
        drifted = _loop(settings, tmp_path, receiver, floor=0.7)
        with serving(settings.home) as url:
            traffic = Traffic(url, drifted)
            try:
                wait_until(
                    lambda: window("churn", "1h", settings=settings).height >= 200,
                    60,
                    "the prediction log was not flushed",
                )
                check = evaluate("churn-drift", settings=settings)
                assert check.evaluation.status == "firing", check.evaluation.message
                assert [(a.kind, a.status) for a in check.actions] == [
                    ("webhook", "succeeded"),
                    ("retrain", "succeeded"),
                    ("promote", "succeeded"),
                ], [a.detail for a in check.actions]
                (body,) = receiver.bodies
                assert body["monitor"] == "churn-drift" and body["version"] == 1
                assert set(body["drifted"]) >= {"age", "income"}
                assert cv.models.aliases("churn", settings=settings) == {"production": 2}
                swapped_from = len(traffic.answers)
                wait_until(
                    lambda: 2 in traffic.versions_since(swapped_from),
                    60,
                    "the server did not swap to version 2",
                )
                after = len(traffic.answers)
                wait_until(lambda: len(traffic.answers) > after + 50, 30, "no answers after")
            finally:
                traffic.stop()
        statuses = {status for status, _ in traffic.answers}
        assert statuses == {200}, f"failed requests: {sorted(statuses)}"
        assert traffic.versions_since(0) == {1, 2}
        assert traffic.versions_since(after) == {2}
    finally:
        receiver.server.shutdown()


def test_a_failing_gate_leaves_v1_serving_and_says_why(settings: Settings, tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        drifted = _loop(settings, tmp_path, receiver, floor=0.9999)
        with serving(settings.home) as url:
            traffic = Traffic(url, drifted)
            try:
                wait_until(
                    lambda: window("churn", "1h", settings=settings).height >= 200,
                    60,
                    "the prediction log was not flushed",
                )
                check = evaluate("churn-drift", settings=settings)
                promote = check.actions[-1]
                assert promote.kind == "promote" and promote.status == "failed"
                assert "did not pass the gate" in str(promote.detail["error"])
                assert "accuracy" in str(promote.detail["error"])
                mark = len(traffic.answers)
                wait_until(lambda: len(traffic.answers) > mark + 100, 30, "no answers after")
            finally:
                traffic.stop()
        assert cv.models.aliases("churn", settings=settings) == {"production": 1}
        assert {status for status, _ in traffic.answers} == {200}
        assert traffic.versions_since(0) == {1}
        assert len(receiver.bodies) == 1
    finally:
        receiver.server.shutdown()
