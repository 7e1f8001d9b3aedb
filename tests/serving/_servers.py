"""A real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
