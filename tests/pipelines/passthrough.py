"""A validation step that returns its input unchanged: its output shares the input's address."""

from __future__ import annotations

import conveyor as cv


@cv.step
def ingest() -> list[int]:
    return [3, 1, 2]


@cv.step
def validate(rows: list[int]) -> list[int]:
    if any(r < 0 for r in rows):
        raise ValueError("negative rows")
    return rows


@cv.step
def summarize(rows: list[int]) -> int:
    return sum(rows)


@cv.pipeline
def passthrough() -> None:
    summarize(validate(ingest()))
