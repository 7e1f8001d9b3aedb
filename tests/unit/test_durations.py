"""One reading of durations for monitor windows and intervals and schedule intervals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conveyor.core._durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        (" 1H 30M ", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations_are_read_in_any_unit_and_combination(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "10", "m10", "1y", "1h-5m", "-1h"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(hours=1), "1h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(days=14), "2w"),
        (timedelta(seconds=1.5), "1.5s"),
    ],
)
def test_a_duration_is_written_in_the_largest_unit_that_divides_it(
    span: timedelta, text: str
) -> None:
    assert format_duration(span) == text
    assert parse_duration(text) == span
