"""The batcher: concurrent requests share predict calls; a lone one is not held back; a bad
request fails alone."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

from conveyor.serving._batcher import Batcher, BatchStats, PredictionFailed
from conveyor.serving._models import LoadedVersion
from conveyor.serving._predictors import Predictor
from conveyor.serving._rows import Rows

SIGNATURE = {"format": "array", "inputs": [{"name": "0", "type": "float", "dtype": "float64"}]}


class Doubler:
    """Predicts twice its input; refuses negative values; records each call's row count."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[int] = []
        self.gate = gate

    def predict(self, data: Any) -> np.ndarray[Any, Any]:
        if self.gate is not None:
            self.gate.wait(10)
        values = np.asarray(data)[:, 0]
        self.calls.append(len(values))
        if (values < 0).any():
            raise ValueError("negative input")
        return values * 2


def loaded(model: object, version: int = 1) -> LoadedVersion:
    return LoadedVersion(
        name="m",
        version=version,
        flavor="python",
        predictor=Predictor(model, "python"),
        signature=SIGNATURE,
        load_seconds=0.0,
        problem_type="regression",
    )


def rows(*values: float) -> Rows:
    return Rows(("0",), [[v] for v in values], "data")


def test_a_lone_request_is_predicted_at_once() -> None:
    model = Doubler()
    stats: list[BatchStats] = []

    async def scenario() -> list[Any]:
        batcher = Batcher(
            "m", max_batch_size=64, max_latency_s=30.0, arriving=lambda: 0, on_batch=stats.append
        )
        # a 30 s latency budget would time the test out if a lone request waited for company
        result = await asyncio.wait_for(batcher.submit(loaded(model), rows(1.5, 2.0)), 10)
        await batcher.close()
        return result.outputs

    assert asyncio.run(scenario()) == [3.0, 4.0]
    assert model.calls == [2]
    assert stats[0].rows == 2 and stats[0].requests == 1


def test_requests_queued_during_a_predict_share_the_next_one() -> None:
    gate = threading.Event()
    model = Doubler(gate)

    version = loaded(model)

    async def scenario() -> list[list[Any]]:
        batcher = Batcher("m", max_batch_size=64, max_latency_s=0.0, arriving=lambda: 0)
        first = asyncio.ensure_future(batcher.submit(version, rows(0.0)))
        await asyncio.sleep(0.05)  # the first predict is now running, held by the gate
        others = [
            asyncio.ensure_future(batcher.submit(loaded(model), rows(i))) for i in range(1, 11)
        ]
        await asyncio.sleep(0.05)
        gate.set()
        answers = await asyncio.gather(first, *others)
        await batcher.close()
        return [a.outputs for a in answers]

    outputs = asyncio.run(scenario())
    assert outputs == [[2.0 * i] for i in range(11)]
    assert model.calls == [1, 10]


def test_a_batch_never_exceeds_the_maximum() -> None:
    gate = threading.Event()
    model = Doubler(gate)

    async def scenario() -> None:
        batcher = Batcher("m", max_batch_size=4, max_latency_s=0.0, arriving=lambda: 0)
        jobs = [asyncio.ensure_future(batcher.submit(loaded(model), rows(i))) for i in range(10)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(*jobs)
        await batcher.close()

    asyncio.run(scenario())
    assert sum(model.calls) == 10
    assert max(model.calls) <= 4


def test_a_request_waits_for_others_still_being_read() -> None:
    model = Doubler()
    version = loaded(model)
    arriving = {"count": 1}

    async def scenario() -> list[Any]:
        batcher = Batcher(
            "m", max_batch_size=64, max_latency_s=5.0, arriving=lambda: arriving["count"]
        )
        first = asyncio.ensure_future(batcher.submit(version, rows(1.0)))
        await asyncio.sleep(0.05)
        assert model.calls == []  # held: another request is on its way
        arriving["count"] = 0
        second = await batcher.submit(version, rows(2.0))
        answers = [await first, second]
        await batcher.close()
        return [a.outputs for a in answers]

    assert asyncio.run(scenario()) == [[2.0], [4.0]]
    assert model.calls == [2]


def test_one_bad_request_fails_alone() -> None:
    gate = threading.Event()
    model = Doubler(gate)

    async def scenario() -> list[Any]:
        batcher = Batcher("m", max_batch_size=64, max_latency_s=0.0, arriving=lambda: 0)
        warm = asyncio.ensure_future(batcher.submit(loaded(model), rows(0.0)))
        await asyncio.sleep(0.05)
        jobs = [
            asyncio.ensure_future(batcher.submit(loaded(model), rows(v))) for v in (1.0, -1.0, 2.0)
        ]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(warm, *jobs, return_exceptions=True)
        await batcher.close()
        return results

    _warm, good, bad, also_good = asyncio.run(scenario())
    assert good.outputs == [2.0] and also_good.outputs == [4.0]
    assert isinstance(bad, PredictionFailed)
    assert "negative input" in str(bad)


def test_versions_in_one_batch_are_predicted_apart() -> None:
    gate = threading.Event()
    old, new = Doubler(gate), Doubler()

    async def scenario() -> list[int]:
        batcher = Batcher("m", max_batch_size=64, max_latency_s=0.0, arriving=lambda: 0)
        first = asyncio.ensure_future(batcher.submit(loaded(old, 1), rows(0.0)))
        await asyncio.sleep(0.05)
        a = asyncio.ensure_future(batcher.submit(loaded(old, 1), rows(1.0)))
        b = asyncio.ensure_future(batcher.submit(loaded(new, 2), rows(1.0)))
        await asyncio.sleep(0.05)
        gate.set()
        answers = await asyncio.gather(first, a, b)
        await batcher.close()
        return [x.version for x in answers]

    assert asyncio.run(scenario()) == [1, 1, 2]
    assert new.calls == [1]


@pytest.mark.parametrize("proba", [True])
def test_probabilities_come_with_the_classes(proba: bool) -> None:
    class Classifier:
        classes_ = np.array(["no", "yes"])

        def predict(self, data: Any) -> np.ndarray[Any, Any]:
            return np.where(np.asarray(data)[:, 0] > 0, "yes", "no")

        def predict_proba(self, data: Any) -> np.ndarray[Any, Any]:
            p = (np.asarray(data)[:, 0] > 0).astype(float)
            return np.column_stack([1 - p, p])

    version = LoadedVersion(
        name="m",
        version=1,
        flavor="python",
        predictor=Predictor(Classifier(), "python"),
        signature=SIGNATURE,
        load_seconds=0.0,
        problem_type="classification",
        classes=("no", "yes"),
    )

    async def scenario() -> Any:
        batcher = Batcher("m", max_batch_size=64, max_latency_s=0.0, arriving=lambda: 0)
        answer = await batcher.submit(version, rows(1.0, -1.0), proba=proba)
        await batcher.close()
        return answer

    answer = asyncio.run(scenario())
    assert answer.outputs == ["yes", "no"]
    assert answer.probabilities == [[0.0, 1.0], [1.0, 0.0]]
    assert answer.classes == ("no", "yes")
