"""A small pipeline with parameters and a fan-out, used by the CLI tests."""

from __future__ import annotations

import conveyor as cv

OFFSET = 1


def shift(x: int) -> int:
    return x + OFFSET


@cv.step
def numbers(n: int) -> list[int]:
    print(f"making {n} numbers")
    return [shift(i) for i in range(n)]


@cv.step
def square(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@cv.step
def negate(xs: list[int]) -> list[int]:
    return [-x for x in xs]


@cv.step
def report(squares: list[int], negatives: list[int], scale: float = 1.0) -> dict[str, float]:
    return {"sum_squares": sum(squares) * scale, "sum_negatives": sum(negatives) * scale}


@cv.pipeline
def basic(n: int = 3, scale: float = 1.0) -> None:
    xs = numbers(n)
    report(square(xs), negate(xs), scale=scale)
