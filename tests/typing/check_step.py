"""Checked by mypy, never run by pytest: decorators keep the signatures they wrap."""

from __future__ import annotations

from typing import assert_type

import conveyor as cv
from conveyor.authoring import Step


@cv.step
def clean(raw: list[int]) -> list[int]:
    return raw


@cv.step(retries=2, timeout=10.0)
def split(rows: list[int]) -> tuple[list[int], list[int]]:
    return rows[:1], rows[1:]


cleaning: Step[[list[int]], list[int]] = clean
splitting: Step[[list[int]], tuple[list[int], list[int]]] = split
assert_type(split([1, 2]), tuple[list[int], list[int]])
assert_type(clean([1]), list[int])
