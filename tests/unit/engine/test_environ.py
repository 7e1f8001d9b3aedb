from __future__ import annotations

import os

import pytest

from conveyor.engine.executors._environ import Changes, changes_noted, restore

ADDED, CHANGED = "CONVEYOR_TEST_ADDED", "CONVEYOR_TEST_CHANGED"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDED, raising=False)
    monkeypatch.setenv(CHANGED, "before")


def test_what_a_block_changed_is_noted_and_put_back_on_request() -> None:
    with changes_noted() as changes:
        os.environ[ADDED] = "1"
        os.environ[CHANGED] = "after"
    assert changes == {ADDED: (None, "1"), CHANGED: ("before", "after")}
    assert os.environ[ADDED] == "1"  # kept until restored: what was started may need it
    restore(changes)
    assert ADDED not in os.environ and os.environ[CHANGED] == "before"


def failing_start(noted: list[Changes]) -> None:
    with changes_noted() as changes:
        noted.append(changes)  # filled in as the block ends
        os.environ[ADDED] = "1"
        os.environ[CHANGED] = "after"
        raise RuntimeError("no cluster")


def test_a_block_that_raises_puts_the_environment_back_at_once() -> None:
    noted: list[Changes] = []
    with pytest.raises(RuntimeError, match="no cluster"):
        failing_start(noted)
    assert noted[0] == {ADDED: (None, "1"), CHANGED: ("before", "after")}
    assert ADDED not in os.environ and os.environ[CHANGED] == "before"


def test_a_variable_changed_again_since_is_left_as_it_is() -> None:
    with changes_noted() as changes:
        os.environ[CHANGED] = "after"
    os.environ[CHANGED] = "someone else's"
    restore(changes)
    assert os.environ[CHANGED] == "someone else's"
