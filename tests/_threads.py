"""Running test code on several threads at once and collecting what they raised."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_on_threads(work: Callable[[int], None], workers: int) -> list[BaseException]:
    """Call ``work(i)`` for i in range(workers) on as many threads, started together."""
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def guarded(worker: int) -> None:
        start.wait()
        try:
            work(worker)
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
