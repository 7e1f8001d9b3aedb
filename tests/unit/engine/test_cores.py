"""Cores of their own for the workers of a pool that fills the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.engine.executors import _cores
from conveyor.engine.executors._cores import core_groups

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="the platform sets no CPU affinity"
)


def test_the_allowed_cores_are_split_evenly_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cores.os, "sched_getaffinity", lambda pid: {7, 1, 3, 5, 0, 2, 4, 6})
    assert core_groups(4) == (
        frozenset({0, 1}),
        frozenset({2, 3}),
        frozenset({4, 5}),
        frozenset({6, 7}),
    )
    assert core_groups(8) == tuple(frozenset({i}) for i in range(8))


@pytest.mark.parametrize("workers", [0, 1, 3, 16])
def test_no_groups_when_the_workers_do_not_split_the_cores(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cores.os, "sched_getaffinity", lambda pid: set(range(8)))
    assert core_groups(workers) is None


_CLAIM = """
import os, sys
from conveyor.engine.executors._cores import claim_cores
core = min(os.sched_getaffinity(0))
groups = [frozenset({core}), frozenset(os.sched_getaffinity(0))]
group = claim_cores(groups, sys.argv[1])
again = claim_cores(groups, sys.argv[1])
print(groups.index(group) if group else None, again, sorted(os.sched_getaffinity(0)), flush=True)
sys.stdin.read()  # holds its claim until told to end
"""


def _claimer(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CLAIM, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="this process may use one core")
def test_each_worker_claims_a_free_group_until_it_ends(tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    first, second, third = (_claimer(tmp_path) for _ in range(3))
    try:
        lines = []
        for process in (first, second, third):
            assert process.stdout is not None
            lines.append(process.stdout.readline().split(" ", 2))
        # the same process asking again gets nothing more; each is pinned to its group
        assert sorted(line[0] for line in lines) == ["0", "1", "None"]
        assert all(line[1] == "None" for line in lines)
        pinned = {line[0]: line[2].strip() for line in lines}
        assert pinned["0"] == f"[{allowed[0]}]"
        assert pinned["1"] == str(allowed)
        assert pinned["None"] == str(allowed)  # no group left: it runs where it may
        holder = next(
            p for p, line in zip((first, second, third), lines, strict=True) if line[0] == "0"
        )
        holder.communicate("")  # the holder of group 0 ends: its claim with it
        fourth = _claimer(tmp_path)
        out, _ = fourth.communicate("")
        assert out.split(" ", 1)[0] == "0"
    finally:
        for process in (first, second, third):
            if process.poll() is None:
                process.communicate("")


def test_a_claim_in_a_folder_that_is_gone_runs_unpinned(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CLAIM, str(tmp_path / "gone")],
        input="",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split(" ", 1)[0] == "None"
