"""The MetadataStore contract, run against every adapter: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from conveyor.core import content_address
from conveyor.errors import ArtifactNotFound, RunNotFound, StoreError
from conveyor.store import (
    ArtifactLink,
    ArtifactRecord,
    AttemptRecord,
    MetadataStore,
    RunRecord,
    StepRunRecord,
    WriteBatch,
)
from tests._threads import run_on_threads

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(run_id: str = "run-0001", pipeline: str = "churn", **changes: Any) -> RunRecord:
    record = RunRecord(id=run_id, pipeline=pipeline, status="running", started_at=T0)
    return dataclasses.replace(record, **changes)


def artifact(data: bytes, **changes: Any) -> ArtifactRecord:
    record = ArtifactRecord(
        id=content_address(data),
        materializer="json",
        type_name="builtins.dict",
        size=len(data),
        created_at=T0,
        inline=data,
    )
    return dataclasses.replace(record, **changes)


def step_run(
    step_run_id: str,
    *,
    run_id: str = "run-0001",
    step: str = "train",
    finished: float = 1.0,
    **changes: Any,
) -> StepRunRecord:
    record = StepRunRecord(
        id=step_run_id,
        run_id=run_id,
        step=step,
        status="succeeded",
        started_at=at(0),
        finished_at=at(finished),
    )
    return dataclasses.replace(record, **changes)


def links(*artifacts: ArtifactRecord, names: tuple[str, ...] = ()) -> tuple[ArtifactLink, ...]:
    names = names or tuple(str(i) for i in range(len(artifacts)))
    return tuple(ArtifactLink(n, a.id) for n, a in zip(names, artifacts, strict=True))


# -- runs -----------------------------------------------------------------------------------


def test_run_round_trips_every_field(store: MetadataStore) -> None:
    record = run(
        params={"n_estimators": 300, "nested": {"list": [1, 2.5, "x", None, True]}, "é": "ü"},
        source="pipeline.py",
        targets=("evaluate", "train"),
        finished_at=at(10),
        heartbeat_at=at(5),
        host="laptop",
        pid=4242,
        error="boom",
    )
    store.create_run(record)
    assert store.get_run(record.id) == record


def test_run_ids_are_unique(store: MetadataStore) -> None:
    store.create_run(run())
    with pytest.raises(StoreError, match="already exists"):
        store.create_run(run(pipeline="other"))
    assert store.get_run("run-0001").pipeline == "churn"


def test_get_run_accepts_a_unique_prefix(store: MetadataStore) -> None:
    store.create_run(run("run-abc123"))
    store.create_run(run("run-abd456"))
    assert store.get_run("run-abc").id == "run-abc123"
    assert store.get_run("run-abd456").id == "run-abd456"


def test_ambiguous_run_prefix_names_the_candidates(store: MetadataStore) -> None:
    store.create_run(run("run-abc123"))
    store.create_run(run("run-abd456"))
    with pytest.raises(StoreError) as info:
        store.get_run("run-ab")
    assert not isinstance(info.value, RunNotFound)
    assert info.value.details["candidates"] == ["run-abc123", "run-abd456"]
    assert "run-abc123" in str(info.value)


def test_an_exact_id_wins_over_longer_ids_it_prefixes(store: MetadataStore) -> None:
    store.create_run(run("run-1"))
    store.create_run(run("run-10"))
    assert store.get_run("run-1").id == "run-1"


def test_many_candidates_are_cut_to_the_first_ten(store: MetadataStore) -> None:
    for i in range(12):
        store.create_run(run(f"run-{i:02d}"))
    with pytest.raises(StoreError, match="…") as info:
        store.get_run("run-")
    assert info.value.details["candidates"] == [f"run-{i:02d}" for i in range(10)]


@pytest.mark.parametrize("ref", ["", "run-x", "RUN-ABC", "run_abc", "run-a%", "un-abc"])
def test_unknown_run_raises_run_not_found(store: MetadataStore, ref: str) -> None:
    store.create_run(run("run-abc123"))
    with pytest.raises(RunNotFound):
        store.get_run(ref)


def test_list_runs_newest_first_with_filters_and_limit(store: MetadataStore) -> None:
    store.create_run(run("run-1", started_at=at(1)))
    store.create_run(run("run-3", started_at=at(3), pipeline="other"))
    store.create_run(run("run-2", started_at=at(2), status="succeeded"))
    assert [r.id for r in store.list_runs()] == ["run-3", "run-2", "run-1"]
    assert [r.id for r in store.list_runs(pipeline="churn")] == ["run-2", "run-1"]
    assert [r.id for r in store.list_runs(status="succeeded")] == ["run-2"]
    assert [r.id for r in store.list_runs(pipeline="churn", status="running")] == ["run-1"]
    assert [r.id for r in store.list_runs(limit=2)] == ["run-3", "run-2"]
    assert store.list_runs(limit=0) == []
    assert store.list_runs(pipeline="nope") == []


def test_list_runs_breaks_ties_by_id(store: MetadataStore) -> None:
    for run_id in ("run-b", "run-a", "run-c"):
        store.create_run(run(run_id))
    assert [r.id for r in store.list_runs()] == ["run-c", "run-b", "run-a"]


def test_heartbeat(store: MetadataStore) -> None:
    store.create_run(run())
    store.heartbeat("run-0001", at(7))
    assert store.get_run("run-0001").heartbeat_at == at(7)
    store.heartbeat("run-0001", at(9))
    assert store.get_run("run-0001").heartbeat_at == at(9)
    with pytest.raises(RunNotFound):
        store.heartbeat("run-missing", at(9))


def test_finish_run(store: MetadataStore) -> None:
    store.create_run(run())
    store.finish_run("run-0001", "failed", at(20), error="step train failed")
    finished = store.get_run("run-0001")
    assert (finished.status, finished.finished_at, finished.error) == (
        "failed",
        at(20),
        "step train failed",
    )
    store.create_run(run("run-0002"))
    store.finish_run("run-0002", "succeeded", at(21))
    assert store.get_run("run-0002").error is None
    with pytest.raises(RunNotFound):
        store.finish_run("run-missing", "crashed", at(22))


def test_unknown_statuses_are_refused(store: MetadataStore) -> None:
    with pytest.raises(StoreError):
        store.create_run(run(status="done"))
    store.create_run(run())
    with pytest.raises(StoreError):
        store.finish_run("run-0001", "done", at(1))  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.commit(WriteBatch(step_runs=(step_run("sr-1", status="ok"),)))
    assert store.step_runs("run-0001") == []


# -- time and JSON --------------------------------------------------------------------------


def test_datetimes_come_back_aware_in_utc(store: MetadataStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    started = datetime(2025, 3, 1, 21, 0, 0, 999999, tzinfo=tokyo)
    store.create_run(run(started_at=started))
    back = store.get_run("run-0001").started_at
    assert back == started
    assert back.utcoffset() == timedelta(0)
    assert back == datetime(2025, 3, 1, 12, 0, 0, 999999, tzinfo=UTC)


def test_naive_datetimes_are_refused(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="timezone-aware"):
        store.create_run(run(started_at=datetime(2025, 1, 1)))
    store.create_run(run())
    with pytest.raises(StoreError, match="timezone-aware"):
        store.heartbeat("run-0001", datetime(2025, 1, 1))
    with pytest.raises(StoreError, match="timezone-aware"):
        store.commit(WriteBatch(step_runs=(step_run("sr-1", finished_at=datetime(2025, 1, 1)),)))


def test_json_values_round_trip_as_json_does(store: MetadataStore) -> None:
    store.create_run(run(params={"t": (1, 2), "f": 0.1, "big": 2**53, "s": "ünï", "n": None}))
    assert store.get_run("run-0001").params == {
        "t": [1, 2],
        "f": 0.1,
        "big": 2**53,
        "s": "ünï",
        "n": None,
    }


@pytest.mark.parametrize("bad", [{"x": {1, 2}}, {"x": float("nan")}, {"x": object()}])
def test_values_that_are_not_json_are_refused(store: MetadataStore, bad: dict[str, Any]) -> None:
    with pytest.raises(StoreError, match="JSON"):
        store.create_run(run(params=bad))
    store.create_run(run())
    with pytest.raises(StoreError, match="JSON"):
        store.commit(WriteBatch(artifacts=(artifact(b"x", meta=bad),)))
    with pytest.raises(ArtifactNotFound):
        store.get_artifact(content_address(b"x"))


def test_returned_records_are_copies(store: MetadataStore) -> None:
    store.create_run(run(params={"a": [1]}))
    first = store.get_run("run-0001")
    first.params["a"].append(2)  # type: ignore[attr-defined]
    assert store.get_run("run-0001").params == {"a": [1]}


# -- artifacts ------------------------------------------------------------------------------


def test_artifact_round_trips_every_field(store: MetadataStore) -> None:
    record = artifact(
        b'{"auc": 0.91}',
        materializer="parquet",
        type_name="pandas.DataFrame",
        rows=1000,
        meta={"columns": [{"name": "x", "dtype": "float64"}], "profile": {"nulls": 0}},
    )
    blobless = artifact(b"stored as a file", inline=None)
    store.commit(WriteBatch(artifacts=(record, blobless)))
    assert store.get_artifact(record.id) == record
    assert store.get_artifact(blobless.id) == blobless


def test_artifacts_are_inserted_only_if_absent(store: MetadataStore) -> None:
    first = artifact(b"same bytes", type_name="first")
    store.commit(WriteBatch(artifacts=(first,)))
    store.commit(WriteBatch(artifacts=(artifact(b"same bytes", type_name="second"), first)))
    assert store.get_artifact(first.id) == first


def test_get_artifact_prefixes(store: MetadataStore) -> None:
    a, b = artifact(b"a"), artifact(b"b")
    store.commit(WriteBatch(artifacts=(a, b)))
    assert store.get_artifact(a.id[:20]) == a
    with pytest.raises(StoreError) as info:
        store.get_artifact("sha256:")
    assert info.value.details["candidates"] == sorted([a.id, b.id])
    for missing in ("sha256:zzz", "", "SHA256:"):
        with pytest.raises(ArtifactNotFound):
            store.get_artifact(missing)


# -- step runs ------------------------------------------------------------------------------


def test_commit_and_read_back_step_runs_with_ordered_links(store: MetadataStore) -> None:
    store.create_run(run())
    raw, model, x, y = artifact(b"raw"), artifact(b"model"), artifact(b"x"), artifact(b"y")
    full = step_run(
        "sr-train",
        status="succeeded",
        cache_key="k" * 64,
        key_parts={"code": "c1", "params": "p1", "inputs": "i1"},
        reason="code changed",
        attempts=2,
        attempt_log=(
            AttemptRecord(1, "tcp://10.0.0.7:40121", "worker lost", 0.75, "WorkerLost: killed"),
            AttemptRecord(2, "tcp://10.0.0.8:38555", "succeeded", 1.5),
        ),
        duration=1.5,
        cpu_seconds=1.25,
        peak_rss_bytes=2**40,
        rows_in=10,
        rows_out=5,
        bytes_in=100,
        bytes_out=2**33,
        logs="line 1\nline 2",
        # Inputs keep the given order, not alphabetical order.
        inputs=links(y, raw, x, names=("train_df", "raw", "extra")),
        outputs=links(model, x),
    )
    failed = step_run(
        "sr-eval",
        step="evaluate",
        status="failed",
        finished=2,
        error="ValueError: x",
        traceback="Traceback…",
    )
    store.commit(WriteBatch(artifacts=(raw, model, x, y), step_runs=(full, failed)))
    assert store.step_runs("run-0001") == [full, failed]
    assert store.step_runs("run-missing") == []


def test_step_runs_in_the_order_they_finished_then_insertion(store: MetadataStore) -> None:
    store.create_run(run())
    store.create_run(run("run-other"))
    store.commit(WriteBatch(step_runs=(step_run("sr-c", finished=3), step_run("sr-a", finished=1))))
    store.commit(WriteBatch(step_runs=(step_run("sr-z", finished=2), step_run("sr-b", finished=2))))
    store.commit(WriteBatch(step_runs=(step_run("sr-y", finished=2),)))
    store.commit(WriteBatch(step_runs=(step_run("sr-o", run_id="run-other"),)))
    assert [s.id for s in store.step_runs("run-0001")] == ["sr-a", "sr-z", "sr-b", "sr-y", "sr-c"]


def test_commit_is_all_or_nothing(store: MetadataStore) -> None:
    store.create_run(run())
    good, unknown = artifact(b"good"), artifact(b"never stored")
    batch = WriteBatch(
        artifacts=(good,),
        step_runs=(
            step_run("sr-1", outputs=links(good)),
            step_run("sr-2", inputs=links(unknown)),
        ),
    )
    with pytest.raises(StoreError) as info:
        store.commit(batch)
    assert info.value.details["missing_artifacts"] == [unknown.id]
    assert store.step_runs("run-0001") == []
    with pytest.raises(ArtifactNotFound):
        store.get_artifact(good.id)


def test_commit_refuses_unknown_runs_and_repeated_step_runs(store: MetadataStore) -> None:
    with pytest.raises(StoreError) as info:
        store.commit(WriteBatch(step_runs=(step_run("sr-1", run_id="run-missing"),)))
    assert info.value.details["missing_runs"] == ["run-missing"]
    store.create_run(run())
    store.commit(WriteBatch(step_runs=(step_run("sr-1"),)))
    with pytest.raises(StoreError) as info:
        store.commit(WriteBatch(step_runs=(step_run("sr-1", finished=5),)))
    assert info.value.details["duplicate_step_runs"] == ["sr-1"]
    with pytest.raises(StoreError) as info:
        store.commit(WriteBatch(step_runs=(step_run("sr-2"), step_run("sr-2"))))
    assert info.value.details["duplicate_step_runs"] == ["sr-2"]
    assert [s.id for s in store.step_runs("run-0001")] == ["sr-1"]


@pytest.mark.parametrize(
    "log",
    [
        (AttemptRecord(1, "w", "exploded", 1.0),),  # not a status
        (AttemptRecord(1, "w\x00", "failed", 1.0),),
        (AttemptRecord(1, "w", "failed", float("nan")),),
    ],
    ids=["status", "nul", "nan"],
)
def test_commit_refuses_a_malformed_attempt_log(store: MetadataStore, log: Any) -> None:
    store.create_run(run())
    with pytest.raises(StoreError, match=r"(?i)attempt"):
        store.commit(WriteBatch(step_runs=(step_run("sr-1", attempt_log=log),)))
    assert store.step_runs("run-0001") == []


def test_an_empty_batch_is_fine(store: MetadataStore) -> None:
    store.commit(WriteBatch())


def test_find_cached_returns_the_newest_succeeded_step_run(store: MetadataStore) -> None:
    store.create_run(run())
    out_old, out_new = artifact(b"old"), artifact(b"new")
    key = "f" * 64
    store.commit(
        WriteBatch(
            artifacts=(out_old, out_new),
            step_runs=(
                step_run("sr-old", cache_key=key, finished=1, outputs=links(out_old)),
                step_run("sr-new", cache_key=key, finished=2, outputs=links(out_new)),
                step_run("sr-failed", cache_key=key, finished=3, status="failed"),
                step_run("sr-cached", cache_key=key, finished=4, status="cached"),
                step_run("sr-skipped", cache_key=key, finished=5, status="skipped"),
                step_run("sr-other", cache_key="0" * 64, finished=6),
            ),
        )
    )
    found = store.find_cached(key)
    assert found is not None
    assert found.id == "sr-new"
    assert found.outputs == (ArtifactLink("0", out_new.id),)
    assert store.find_cached("1" * 64) is None


def test_find_cached_breaks_ties_by_insertion(store: MetadataStore) -> None:
    store.create_run(run())
    key = "e" * 64
    store.commit(WriteBatch(step_runs=(step_run("sr-b", cache_key=key),)))
    store.commit(WriteBatch(step_runs=(step_run("sr-a", cache_key=key),)))
    found = store.find_cached(key)
    assert found is not None
    assert found.id == "sr-a"


def test_last_step_run(store: MetadataStore) -> None:
    store.create_run(run("run-1"))
    store.create_run(run("run-2", pipeline="other"))
    data = artifact(b"data")
    store.commit(
        WriteBatch(
            artifacts=(data,),
            step_runs=(
                step_run("sr-1", run_id="run-1", cache_key="a" * 64, finished=1),
                step_run(
                    "sr-2",
                    run_id="run-1",
                    cache_key="b" * 64,
                    finished=2,
                    status="failed",
                    inputs=links(data),
                ),
                step_run("sr-3", run_id="run-1", cache_key="c" * 64, finished=3, status="cached"),
                step_run("sr-4", run_id="run-1", finished=4),  # no key: not comparable
                step_run("sr-5", run_id="run-1", cache_key="d" * 64, finished=5, step="other"),
                step_run("sr-6", run_id="run-2", cache_key="e" * 64, finished=6),
            ),
        )
    )
    last = store.last_step_run("churn", "train")
    assert last is not None
    assert (last.id, last.inputs) == ("sr-2", links(data))
    assert store.last_step_run("churn", "nope") is None
    assert store.last_step_run("nope", "train") is None
    other = store.last_step_run("other", "train")
    assert other is not None
    assert other.id == "sr-6"


def test_producers_are_succeeded_or_cached_outputs_oldest_first(store: MetadataStore) -> None:
    store.create_run(run())
    made, used = artifact(b"made"), artifact(b"used")
    store.commit(
        WriteBatch(
            artifacts=(made, used),
            step_runs=(
                step_run("sr-cached", finished=3, status="cached", outputs=links(made)),
                step_run("sr-first", finished=1, inputs=links(used), outputs=links(used, made)),
                step_run("sr-failed", finished=2, status="failed", outputs=links(made)),
                step_run("sr-reader", finished=4, inputs=links(made)),
            ),
        )
    )
    producers = store.producers(made.id)
    assert [p.id for p in producers] == ["sr-first", "sr-cached"]
    assert producers[0].inputs == links(used)
    assert producers[0].outputs == links(used, made)
    assert [p.id for p in store.producers(used.id)] == ["sr-first"]
    assert store.producers("sha256:" + "0" * 64) == []


def test_concurrent_commits_from_threads(store: MetadataStore) -> None:
    store.create_run(run())
    shared = artifact(b"shared by every thread")

    def work(worker: int) -> None:
        for i in range(15):
            own = artifact(f"{worker}-{i}".encode())
            store.commit(
                WriteBatch(
                    artifacts=(shared, own),
                    step_runs=(
                        step_run(
                            f"sr-{worker}-{i}",
                            cache_key=f"{worker:032x}{i:032x}",
                            inputs=links(shared),
                            outputs=links(own),
                        ),
                    ),
                )
            )
            assert store.find_cached(f"{worker:032x}{i:032x}") is not None

    assert run_on_threads(work, 6) == []
    assert len(store.step_runs("run-0001")) == 90
    assert len(store.producers(shared.id)) == 0
    assert store.get_artifact(shared.id) == shared
