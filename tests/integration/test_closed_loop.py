"""The closed loop on real parts: a real ``conveyor serve`` answers drifted traffic, the monitor
fires, a local receiver gets the webhook, the retraining pipeline runs on the new data, the
gate passes, the alias moves and the server swaps to the new version with no failed request.
A failing gate leaves the old version serving and says why."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

import conveyor as cv
from conveyor.core import Settings
from conveyor.monitoring import Check, evaluate, window
from conveyor.testing import settings_for
from tests.integration.test_cli_monitor import PIPELINE
from tests.serving._servers import conveyor_serve, wait_until
from tests.unit.monitoring._traffic import COLUMNS, register, training
from tests.unit.monitoring.test_monitor import Receiver

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


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    return settings_for(tmp_path / "home")


@dataclass
class Loop:
    """What happened while drifted traffic ran: the monitor's check, the traffic, the
    webhook's receiver."""

    check: Check
    traffic: Traffic
    receiver: Receiver


@contextmanager
def drifted_traffic_checked(settings: Settings, tmp_path: Path, floor: float) -> Iterator[Loop]:
    """v1 in production behind a real `conveyor serve`; labelled drifted data for retraining;
    a monitor whose gate asks for accuracy >= ``floor``. Clients send the drifted rows until
    the block ends; the monitor is checked once they are in the prediction log."""
    register(settings)
    drifted = training(2000, shift=1.0, seed=11)
    drifted.to_csv(tmp_path / "new.csv", index=False)
    receiver = Receiver()
    try:
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
        with conveyor_serve(settings.home, "churn@production", "--poll-interval", "0.5") as server:
            traffic = Traffic(server.url, drifted)
            try:
                wait_until(
                    lambda: window("churn", "1h", settings=settings).height >= 200,
                    60,
                    "the prediction log was not flushed",
                )
                yield Loop(evaluate("churn-drift", settings=settings), traffic, receiver)
            finally:
                traffic.stop()
    finally:
        receiver.server.shutdown()


def test_drift_fires_retrains_promotes_and_the_server_swaps_without_a_failed_request(
    settings: Settings, tmp_path: Path
) -> None:
    with drifted_traffic_checked(settings, tmp_path, floor=0.7) as loop:
        check, traffic = loop.check, loop.traffic
        assert check.evaluation.status == "firing", check.evaluation.message
        assert [(a.kind, a.status) for a in check.actions] == [
            ("webhook", "succeeded"),
            ("retrain", "succeeded"),
            ("promote", "succeeded"),
        ], [a.detail for a in check.actions]
        (body,) = loop.receiver.bodies
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
    statuses = {status for status, _ in traffic.answers}
    assert statuses == {200}, f"failed requests: {sorted(statuses)}"
    assert traffic.versions_since(0) == {1, 2}
    assert traffic.versions_since(after) == {2}


def test_a_failing_gate_leaves_v1_serving_and_says_why(settings: Settings, tmp_path: Path) -> None:
    with drifted_traffic_checked(settings, tmp_path, floor=0.9999) as loop:
        traffic = loop.traffic
        promote = loop.check.actions[-1]
        assert promote.kind == "promote" and promote.status == "failed"
        assert "did not pass the gate" in str(promote.detail["error"])
        assert "accuracy" in str(promote.detail["error"])
        mark = len(traffic.answers)
        wait_until(lambda: len(traffic.answers) > mark + 100, 30, "no answers after")
    assert cv.models.aliases("churn", settings=settings) == {"production": 1}
    assert {status for status, _ in traffic.answers} == {200}
    assert traffic.versions_since(0) == {1}
    assert len(loop.receiver.bodies) == 1
