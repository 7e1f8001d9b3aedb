from __future__ import annotations

import math

import pytest

from conveyor.core import Resources
from conveyor.core._resources import Capacity, format_bytes, parse_bytes, unplaceable
from conveyor.errors import PipelineDefinitionError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (0, 0),
        (1234, 1234),
        ("4GB", 4 * 10**9),
        ("4 gb", 4 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5GiB", 3 * 2**29),
        ("100", 100),
    ],
)
def test_sizes_in_bytes_or_with_units(given: int | str, expected: int) -> None:
    assert parse_bytes(given) == expected


@pytest.mark.parametrize("given", ["", "4 parsecs", "-1GB", "GB", True, 2.5, -3])
def test_a_size_that_is_not_one_is_refused(given: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_bytes(given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (3 * 2**30, "3.0 GiB"),
        (2**42, "4096.0 GiB"),
    ],
)
def test_sizes_as_people_read_them(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_resources_keep_memory_in_bytes() -> None:
    need = Resources(cpus=2, memory="4GB", gpus=1)
    assert (need.cpus, need.memory, need.gpus) == (2, 4 * 10**9, 1)
    assert Resources() == Resources(cpus=1, memory=None, gpus=0)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"cpus": 0}, "cpus must be a number > 0, got 0"),
        ({"cpus": "2"}, "cpus must be a number > 0, got '2'"),
        ({"cpus": math.inf}, "cpus must be finite"),
        ({"gpus": -1}, "gpus must be a number >= 0, got -1"),
        ({"memory": "lots"}, "memory must be a size such as '512MB' or '4GiB', got 'lots'"),
    ],
)
def test_bad_resources_name_the_option(options: dict[str, object], problem: str) -> None:
    with pytest.raises(PipelineDefinitionError, match="Resources") as info:
        Resources(**options)  # type: ignore[arg-type]
    assert problem in str(info.value)


def test_a_step_fits_on_any_worker_with_enough_of_everything() -> None:
    small = Capacity("tcp://a:1", cpus=1, memory=2 * 10**9)
    big = Capacity("tcp://b:1", cpus=4, memory=16 * 10**9, gpus=1)
    assert unplaceable("train", Resources(cpus=4, memory="8GB", gpus=1), [small, big]) is None
    assert unplaceable("train", Resources(cpus=1, memory="1GB"), [small]) is None
    assert unplaceable("train", Resources(cpus=1), [Capacity("x", 1, memory=None)]) is None


def test_no_worker_big_enough_names_the_step_and_the_largest_worker() -> None:
    workers = [Capacity("tcp://a:1", 2, 4 * 2**30), Capacity("tcp://b:1", 1, 8 * 2**30)]
    reason = unplaceable("train", Resources(cpus=2, memory="8GiB"), workers)
    assert reason == (
        "step 'train' needs 2 CPUs, 8 GiB of memory, 0 GPUs, more than any worker has "
        "(the largest, tcp://a:1, has 2 CPUs, 4 GiB of memory, 0 GPUs)"
    )
    assert "no worker" in (unplaceable("train", Resources(), []) or "")


def test_step_options_take_resources() -> None:
    import conveyor as cv

    @cv.step(resources=cv.Resources(cpus=2))
    def fit() -> int:
        return 1

    assert fit.spec.resources == cv.Resources(cpus=2)
    assert fit.with_options(resources=None).spec.resources is None
    with pytest.raises(PipelineDefinitionError, match=r"resources must be a cv\.Resources"):
        fit.with_options(resources={"cpus": 2})
