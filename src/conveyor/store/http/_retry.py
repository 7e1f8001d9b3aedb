"""Sending again what did not get through: one backoff for every request to a team server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TypeVar

import httpx

from conveyor.core._errors import StoreError

T = TypeVar("T")
BACKOFF_S: Final = (0.1, 0.25, 0.5, 1.0, 2.0)


class Backoff:
    """Pauses between attempts, growing to 2 s, until ``seconds`` have passed since the last
    ``reset``; then StoreError naming the server."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        self._attempt = 0
        self._deadline = time.monotonic() + self.seconds

    def pause(self, failure: Exception) -> None:
        pause = BACKOFF_S[min(self._attempt, len(BACKOFF_S) - 1)]
        if time.monotonic() + pause > self._deadline:
            raise StoreError(
                f"cannot reach the conveyor server at {self.url}: {failure}", url=self.url
            ) from failure
        time.sleep(pause)
        self._attempt += 1


def retrying(url: str, seconds: float, send: Callable[[], T]) -> T:
    """``send()``, repeated after a transport failure (refused, reset, timed out) with
    backoff for up to ``seconds``."""
    backoff = Backoff(url, seconds)
    while True:
        try:
            return send()
        except httpx.TransportError as exc:
            backoff.pause(exc)
