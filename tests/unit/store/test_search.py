"""The pure rules of run searches: checking queries, LIKE patterns, and matching in Python."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from conveyor.store import Condition, Ordering, RunQuery
from conveyor.store._search import Check, check_query, holds, like_parts, like_regex, ordered


def test_like_parts_mark_wildcards_and_escapes() -> None:
    assert like_parts("a%_\\%\\_\\\\b\\") == [
        (False, "a"),
        (True, "%"),
        (True, "_"),
        (False, "%"),
        (False, "_"),
        (False, "\\"),
        (False, "b"),
        (False, "\\"),
    ]


def test_like_regex_matches_whole_strings_and_folds_ascii_only() -> None:
    assert like_regex("a%c", ignore_case=False).fullmatch("a\nbc") is not None
    assert like_regex("a.c", ignore_case=False).fullmatch("abc") is None  # "." is literal
    assert like_regex("ABC", ignore_case=True).fullmatch("abc") is not None
    assert like_regex("Ä", ignore_case=True).fullmatch("ä") is None
    assert like_regex("Ä", ignore_case=False).fullmatch("Ä") is not None


def test_check_query_normalises_operands() -> None:
    checked = check_query(
        RunQuery(
            conditions=(
                Condition("metrics", "acc", ">", 1),
                Condition("attributes", "started_at", ">", 0),
                Condition("attributes", "finished_at", "in", ("2025-01-01T00:00:00+02:00",)),
            ),
            max_results=-5,
        )
    )
    assert checked.checks[0].operands == (1.0,)
    assert type(checked.checks[0].operands[0]) is float
    assert checked.checks[1].operands == (datetime(1970, 1, 1, tzinfo=UTC),)
    assert checked.checks[2].operands == (datetime(2024, 12, 31, 22, tzinfo=UTC),)
    assert checked.limit == 0
    assert not checked.top_level_only
    assert check_query(RunQuery(include_children=False)).top_level_only
    assert not check_query(RunQuery(parent_id="run-1", include_children=False)).top_level_only


def test_max_results_must_be_a_whole_number() -> None:
    with pytest.raises(Exception, match="max_results"):
        check_query(RunQuery(max_results=1.5))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "operands", "expected"),
    [
        ("=", (1.0,), False),
        ("!=", (1.0,), True),
        (">", (0.0,), False),
        ("<", (0.0,), False),
        ("in", (1.0,), False),
        ("not in", (1.0,), True),
    ],
)
def test_nan_follows_ieee_comparisons(op: str, operands: tuple[float, ...], expected: bool) -> None:
    assert holds(Check("metrics", "m", op, operands), math.nan) is expected  # type: ignore[arg-type]
    assert holds(Check("metrics", "m", op, operands), None) is False


def test_ordered_puts_missing_values_last_both_ways() -> None:
    items = ["a", "b", "c", "d"]
    values = {"a": 2.0, "b": None, "c": math.nan, "d": 1.0}
    newest = {"a": 1, "b": 2, "c": 3, "d": 4}

    def value_of(item: str, kind: str, key: str) -> object:
        return values[item]

    def newest_key(item: str) -> tuple[datetime, str]:
        return (datetime.fromtimestamp(newest[item], UTC), item)

    up = ordered(items, (Ordering("metrics", "m"),), value_of, newest_key)
    down = ordered(items, (Ordering("metrics", "m", descending=True),), value_of, newest_key)
    assert (up, down) == (["d", "a", "c", "b"], ["a", "d", "c", "b"])
