"""Per-step capture of printed output and log records, safe with steps running in threads.

``sys.stdout``/``sys.stderr`` are wrapped once by a proxy that writes to the buffer of the step
running in the current thread (a ContextVar), and through to the real stream otherwise; a
logging handler does the same for log records. Nothing here knows about stores or runs.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_MAX_CHARS = 1_000_000  # a step's stored log keeps its last million characters

_buffer: ContextVar[io.StringIO | None] = ContextVar("conveyor_step_log", default=None)
_install_lock = threading.Lock()
_installed = False


class _RoutingStream(io.TextIOBase):
    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if buffer is None:
            return self.real.write(text)
        return buffer.write(text)

    def flush(self) -> None:
        if _buffer.get() is None:
            self.real.flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")


class _RoutingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _buffer.get()
        if buffer is not None:
            buffer.write(self.format(record) + "\n")


def install() -> None:
    """Wrap the standard streams (again, if something replaced them) and the root logger."""
    global _installed
    if (
        _installed
        and isinstance(sys.stdout, _RoutingStream)
        and isinstance(sys.stderr, _RoutingStream)
    ):
        return
    with _install_lock:
        if not isinstance(sys.stdout, _RoutingStream):
            sys.stdout = _RoutingStream(sys.stdout)
        if not isinstance(sys.stderr, _RoutingStream):
            sys.stderr = _RoutingStream(sys.stderr)
        if not _installed:
            logging.getLogger().addHandler(_RoutingHandler())
            _installed = True


@contextmanager
def captured() -> Iterator[io.StringIO]:
    """Collect what the current thread prints and logs until the block ends."""
    buffer = io.StringIO()
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)


def storable(text: str) -> str:
    """``text`` as every metadata store takes it: no store keeps a NUL character in text."""
    return text.replace("\x00", "\ufffd")


def tail(text: str) -> str:
    text = storable(text)
    if len(text) <= _MAX_CHARS:
        return text
    return f"[... {len(text) - _MAX_CHARS} earlier characters dropped]\n" + text[-_MAX_CHARS:]
