"""The attempt tracker: checks on what is logged, and flushing through the run's recorder."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from conveyor.engine import _tracking
from conveyor.engine._recorder import Recorder
from conveyor.engine._tracking import AttemptTracker
from conveyor.errors import ConveyorError
from conveyor.store import ArtifactRecord, MemoryMetadataStore, RunRecord


def _no_save(value: object) -> ArtifactRecord:
    raise AssertionError("nothing is saved in these tests")


def test_values_logged_in_a_worker_process_travel_with_the_outcome() -> None:
    tracker = AttemptTracker("run-w", "step", _no_save)  # no writer connected: a worker
    tracker.metric("loss", 1, None)
    tracker.metrics({"acc": 0.5, "f1": 0.25}, 3)
    tracker.params({"lr": 0.1})
    tracker.tags({"team": "x"})
    taken = tracker.finish()
    assert taken is not None
    batch, records = taken
    assert [(p.key, p.value, p.step, p.step_name) for p in batch.metrics] == [
        ("loss", 1.0, 0, "step"),
        ("acc", 0.5, 3, "step"),
        ("f1", 0.25, 3, "step"),
    ]
    assert dict(batch.params) == {"lr": "0.1"}
    assert dict(batch.tags) == {"team": '"x"'}
    assert records == ()
    assert tracker.finish() is None  # nothing new since


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.metric("", 1.0, None), "cannot be a key"),
        (lambda t: t.metric("bad\tkey", 1.0, None), "control characters"),
        (lambda t: t.metric("x", "high", None), "must be a number"),
        (lambda t: t.metric("x", 1.0, 1.5), "integer index"),
        (lambda t: t.metrics([("x", 1.0)], None), "mapping"),
        (lambda t: t.params({1: "a"}), "cannot be a key"),
        (lambda t: t.tags({"a\nb": "x"}), "control characters"),
    ],
)
def test_bad_values_are_refused_when_logged(call: object, message: str) -> None:
    tracker = AttemptTracker("run-w", "step", _no_save)
    with pytest.raises(ConveyorError, match=message):
        call(tracker)  # type: ignore[operator]


def test_flush_returns_once_the_values_are_stored() -> None:
    store = MemoryMetadataStore()
    store.create_run(RunRecord("run-f", "p", "running", datetime.now(UTC)))
    recorder = Recorder(store, "run-f")
    _tracking.connect("run-f", recorder.track)
    try:
        tracker = AttemptTracker("run-f", "step", _no_save)
        tracker.metric("loss", 0.5, 1)
        tracker.flush()
        assert store.run_data(["run-f"])["run-f"].metrics["loss"].value == 0.5
    finally:
        _tracking.disconnect("run-f")
        recorder.close()


def test_a_flush_after_the_run_closed_does_not_wait_forever() -> None:
    store = MemoryMetadataStore()
    store.create_run(RunRecord("run-c", "p", "running", datetime.now(UTC)))
    recorder = Recorder(store, "run-c")
    _tracking.connect("run-c", recorder.track)
    tracker = AttemptTracker("run-c", "step", _no_save)  # an attempt that outlives its run
    _tracking.disconnect("run-c")
    recorder.close()
    tracker.metric("late", 1.0, None)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (tracker.flush(), done.set()), daemon=True)
    thread.start()
    assert done.wait(10), "flush blocked on a closed recorder"
    assert "late" not in store.run_data(["run-c"])["run-c"].metrics


def test_unnamed_artifacts_get_names_of_their_own() -> None:
    saved: list[object] = []

    def save(value: object) -> ArtifactRecord:
        saved.append(value)
        return ArtifactRecord(f"sha256:{len(saved):064x}", "json", "dict", 1, datetime.now(UTC))

    tracker = AttemptTracker("run-a", "train", save)
    names = [tracker.artifact({"i": i}, None) for i in range(3)]
    assert names == ["train-dict-1", "train-dict-2", "train-dict-3"]
