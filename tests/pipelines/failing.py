"""Two pipelines: one whose step raises, one that is fine."""

from __future__ import annotations

import conveyor as cv


@cv.step
def start() -> int:
    return 1


@cv.step
def explode(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


@cv.step
def after(x: int) -> int:
    return x


@cv.pipeline
def broken() -> None:
    after(explode(start()))


@cv.pipeline
def fine() -> None:
    after(start())
