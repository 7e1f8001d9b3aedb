"""The quickstart's last act: serve production over HTTP, send it concurrent requests, then
promote a new version and watch the server swap to it without failing a request."""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import click

from conveyor.core import Settings

_CLIENTS = 16
_REQUESTS = 400


def serve_and_swap(
    records: Sequence[dict[str, Any]],
    settings: Settings,
    promote_next: Callable[[], int],
    then: Callable[[str], None] | None = None,
) -> None:
    """Serve production, load it, hot-swap it; then ``then(url)`` while it still serves."""
    import uvicorn

    from conveyor.serving import create_app

    click.secho("\n7. Serving production over HTTP (conveyor serve wine@production)", bold=True)
    app = create_app(
        "wine@production", settings=settings, poll_interval_s=0.2, prediction_log_flush_s=1.0
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    with _in_thread(server):
        url = f"http://127.0.0.1:{port}"
        wait(lambda: _get(f"{url}/readyz")[0] == 200)
        body = json.dumps({"records": [records[0]]}).encode()
        status, answer = post(f"{url}/predict", body)
        click.echo(f"   POST /predict {body.decode()[:70]}…")
        click.echo(f"   → {status} {answer}")

        answers = load(f"{url}/predict", records, _REQUESTS)
        latencies = [a[2] for a in answers]
        failed = sum(1 for a in answers if a[0] != 200)
        batch = _mean_batch(_get(f"{url}/metrics")[1])
        click.echo(
            f"   {_REQUESTS} requests from {_CLIENTS} concurrent clients: {failed} failed, "
            f"median latency {statistics.median(latencies) * 1000:.1f} ms; "
            f"the server predicted {batch:.1f} rows per call on average (adaptive batching)"
        )

        click.echo("   promoting the newest version while the clients keep sending:")
        answers = _until_swapped(f"{url}/predict", records, promote_next)
        versions = sorted({a[1] for a in answers if a[1] is not None})
        failed = sum(1 for a in answers if a[0] != 200)
        click.echo(
            f"   {len(answers)} requests answered by versions {versions}: {failed} failed "
            "(the server loaded the new version, tried it on its reference rows, then swapped)"
        )
        if then is not None:
            then(url)
        server.should_exit = True


def load(
    url: str, records: Sequence[dict[str, Any]], count: int
) -> list[tuple[int, int | None, float]]:
    bodies = [json.dumps({"records": [records[i % len(records)]]}).encode() for i in range(count)]

    def one(body: bytes) -> tuple[int, int | None, float]:
        started = time.perf_counter()
        status, answer = post(url, body)
        version = answer.get("version") if isinstance(answer, dict) else None
        return status, version, time.perf_counter() - started

    with ThreadPoolExecutor(_CLIENTS) as pool:
        futures = [pool.submit(one, b) for b in bodies]
        return [f.result() for f in futures]


def _until_swapped(
    url: str, records: Sequence[dict[str, Any]], promote: Callable[[], int]
) -> list[tuple[int, int | None, float]]:
    """Clients send requests until the promoted version has answered a hundred of them."""
    answers: list[tuple[int, int | None, float]] = []
    target: list[int] = []
    lock = threading.Lock()

    def swapped() -> bool:
        with lock:
            return bool(target) and sum(1 for a in answers if a[1] == target[0]) >= 100

    def client(offset: int) -> None:
        deadline = time.monotonic() + 120
        i = offset
        while not swapped() and time.monotonic() < deadline:
            body = json.dumps({"records": [records[i % len(records)]]}).encode()
            started = time.perf_counter()
            status, answer = post(url, body)
            version = answer.get("version") if isinstance(answer, dict) else None
            with lock:
                answers.append((status, version, time.perf_counter() - started))
            i += _CLIENTS

    threads = [threading.Thread(target=client, args=(n,)) for n in range(_CLIENTS)]
    for thread in threads:
        thread.start()
    wait(lambda: len(answers) >= 100)
    version = promote()
    with lock:
        target.append(version)
    for thread in threads:
        thread.join()
    return answers


def _mean_batch(metrics: str) -> float:
    figures = {}
    for line in metrics.splitlines():
        for key in ("conveyor_batch_size_sum", "conveyor_batch_size_count"):
            if line.startswith(key + "{"):
                figures[key] = float(line.rsplit(" ", 1)[1])
    count = figures.get("conveyor_batch_size_count", 0.0)
    return figures.get("conveyor_batch_size_sum", 0.0) / count if count else 0.0


def post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@contextmanager
def _in_thread(server: Any) -> Iterator[None]:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait(lambda: bool(server.started))
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def wait(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the quickstart's server did not start in time")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
