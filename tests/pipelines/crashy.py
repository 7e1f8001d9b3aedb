"""A chain whose third step blocks while a marker file exists, for crash and resume tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

import conveyor as cv


@cv.step
def first() -> int:
    return 1


@cv.step
def second(x: int) -> int:
    return x + 1


@cv.step
def third(x: int) -> int:
    block = Path(os.environ["CRASHY_DIR"]) / "block"
    (Path(os.environ["CRASHY_DIR"]) / "third-started").touch()
    while block.exists():
        time.sleep(0.05)
    return x + 1


@cv.pipeline
def crashy() -> None:
    third(second(first()))


@cv.step
def inc(x: int) -> int:
    return x + 1


@cv.pipeline
def long_chain(n: int = 60) -> None:
    x = inc(0)
    for _ in range(n - 1):
        x = inc(x)
