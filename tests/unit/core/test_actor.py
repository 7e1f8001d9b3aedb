"""The actor context: who the audit log says made a change."""

from __future__ import annotations

import threading

import pytest

from conveyor.core import acting_as, current_actor
from conveyor.errors import ConveyorError


def test_outside_any_block_the_actor_is_the_local_os_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOGNAME", "ana")  # getpass reads LOGNAME first
    assert current_actor() == "local:ana"


def test_blocks_nest_and_restore_the_actor_on_the_way_out() -> None:
    outside = current_actor()
    with acting_as("ana") as name:
        assert name == "ana" and current_actor() == "ana"
        with acting_as("monitor:churn-drift"):
            assert current_actor() == "monitor:churn-drift"
        assert current_actor() == "ana"
    assert current_actor() == outside


def test_the_actor_is_restored_when_the_block_raises() -> None:
    outside = current_actor()
    with pytest.raises(RuntimeError), acting_as("ana"):
        raise RuntimeError("boom")
    assert current_actor() == outside


def test_each_thread_acts_for_itself() -> None:
    seen: list[str] = []
    with acting_as("ana"):
        thread = threading.Thread(target=lambda: seen.append(current_actor()))
        thread.start()
        thread.join()
    assert seen == [current_actor()]  # a new thread starts outside any block


@pytest.mark.parametrize("name", ["", "   ", None])
def test_an_actor_is_a_non_empty_name(name: object) -> None:
    with pytest.raises(ConveyorError, match="non-empty"), acting_as(name):  # type: ignore[arg-type]
        pass
