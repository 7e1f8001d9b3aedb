"""``conveyor serve``: its checks before starting, --print-k8s, and a real server process
started, used and stopped gracefully."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

import conveyor as cv
from conveyor.testing import settings_for
from tests._cli import invoke
from tests.serving._servers import start_serve, wait_until
from tests.serving._slow_model import Slow


def _register(home: Path) -> np.ndarray:  # type: ignore[type-arg]
    settings = settings_for(home)
    x, y = load_breast_cancer(return_X_y=True)
    cv.models.register(
        "bc", DecisionTreeClassifier(random_state=0).fit(x, y), reference=x, settings=settings
    )
    cv.models.promote("bc", 1, "production", settings=settings)
    return x


def test_print_k8s_gives_three_manifests(cli: CliRunner) -> None:
    result = invoke(
        cli,
        "serve",
        "churn@production",
        "--print-k8s",
        "--port",
        "9000",
        "--image",
        "registry.local/conveyor:1.0",
        "--api-key-env",
        "CHURN_KEYS",
        "--no-logged-probabilities",
    )
    assert result.exit_code == 0, result.output
    deployment, service, autoscaler = yaml.safe_load_all(result.output)
    assert [d["kind"] for d in (deployment, service, autoscaler)] == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.local/conveyor:1.0"
    assert container["command"][:3] == ["conveyor", "serve", "churn@production"]
    assert "--api-key-env=CHURN_KEYS" in container["command"]
    assert "--no-logged-probabilities" in container["command"]
    assert "--no-prediction-log" not in container["command"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 9000}]
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"] == "churn"
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_an_unknown_alias_fails_before_starting(cli: CliRunner, tmp_path: Path) -> None:
    _register(tmp_path / "home")
    result = cli.invoke(cv_app(), ["serve", "bc@staging"])
    assert result.exit_code == 2
    assert "no alias 'staging'" in result.output and "production → 1" in result.output


def test_an_unset_key_variable_fails_before_starting(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(tmp_path / "home")
    monkeypatch.delenv("NO_SUCH_KEYS", raising=False)
    result = cli.invoke(cv_app(), ["serve", "bc@production", "--api-key-env", "NO_SUCH_KEYS"])
    assert result.exit_code == 2
    assert "NO_SUCH_KEYS is not set or empty" in result.output


def test_tls_needs_both_files(cli: CliRunner, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = cli.invoke(cv_app(), ["serve", "bc@production", "--ssl-certfile", str(cert)])
    assert result.exit_code == 2
    assert "needs both --ssl-certfile and --ssl-keyfile" in result.output


def cv_app() -> object:
    from conveyor.cli import app

    return app


@pytest.mark.slow
def test_two_workers_share_metrics(tmp_path: Path) -> None:
    home = tmp_path / "home"
    x = _register(home)
    # /readyz is answered by one worker; the other may still load
    server = start_serve(home, "bc@production", "--workers", "2")
    process, url = server.process, server.url
    try:
        body = {"data": x[:2].tolist()}
        streak = 0

        def both_ready() -> bool:
            nonlocal streak
            ok = httpx.post(f"{url}/predict", json=body, timeout=30).status_code == 200
            streak = streak + 1 if ok else 0
            return streak >= 20

        wait_until(both_ready, 120, "the two workers never both answered")
        before = _answered(url)
        for _ in range(10):
            answer = httpx.post(f"{url}/predict", json=body, timeout=30)
            assert answer.status_code == 200
        # both workers may have answered; /metrics sums them, whichever one serves it
        assert _answered(url) == before + 10
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def _answered(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("conveyor_requests_total{") and 'status="200"' in ln
    )
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.slow
def test_stopping_drains_requests_in_flight(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = settings_for(home)
    x, _ = load_breast_cancer(return_X_y=True)
    cv.models.register("slow", Slow(1.5), reference=x, flavor="python", settings=settings)
    server = start_serve(home, "slow", "--max-latency-ms", "0")
    process, url = server.process, server.url
    statuses: list[int] = []
    try:

        def call() -> None:
            answer = httpx.post(f"{url}/predict", json={"data": x[:1].tolist()}, timeout=60)
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the requests are now waiting on the slow predict
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join()
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    assert statuses == [200, 200, 200, 200]
