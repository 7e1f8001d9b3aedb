"""The TrackingStore contract (params, metrics, tags, logged artifacts, run search), run against
every adapter: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor.core import content_address
from conveyor.errors import ConveyorError, RunNotFound, StoreError
from conveyor.store import (
    ArtifactRecord,
    Condition,
    LoggedArtifact,
    MemoryMetadataStore,
    MetadataStore,
    MetricPoint,
    Ordering,
    RunData,
    RunQuery,
    RunRecord,
    TrackingBatch,
    WriteBatch,
    open_metadata_store,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(run_id: str = "run-1", pipeline: str = "churn", **changes: Any) -> RunRecord:
    record = RunRecord(id=run_id, pipeline=pipeline, status="running", started_at=T0)
    return dataclasses.replace(record, **changes)


def artifact(data: bytes) -> ArtifactRecord:
    return ArtifactRecord(content_address(data), "json", "builtins.dict", len(data), T0)


def point(key: str, value: float, step: int = 0, timestamp: float = 0.0) -> MetricPoint:
    return MetricPoint(key, value, step, timestamp, "train")


def log(store: MetadataStore, run_id: str = "run-1", **fields: Any) -> None:
    store.log_batch(TrackingBatch(run_id, **fields))


def same(left: float, right: float) -> bool:
    return left == right or (math.isnan(left) and math.isnan(right))


# -- runs: the new fields ---------------------------------------------------------------------


def test_runs_keep_who_ran_them_and_where(store: MetadataStore) -> None:
    record = run(
        parent_id="run-study",
        user="ana",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        git_dirty=True,
        environment={"python": "3.11.9", "packages": {"numpy": "2.0"}, "cpus": 8},
    )
    store.create_run(record)
    store.create_run(run("run-2", started_at=at(1), git_dirty=False))
    assert store.get_run("run-1") == record
    assert store.list_runs()[1] == record
    second = store.get_run("run-2")
    assert (second.parent_id, second.user, second.git_commit, second.git_dirty) == (
        None,
        "",
        None,
        False,
    )
    assert second.environment == {}


def test_returned_environments_are_copies(store: MetadataStore) -> None:
    store.create_run(run(environment={"packages": {"numpy": "2.0"}}))
    store.get_run("run-1").environment["packages"]["numpy"] = "1.0"  # type: ignore[index]
    assert store.get_run("run-1").environment == {"packages": {"numpy": "2.0"}}


def test_child_runs_oldest_first(store: MetadataStore) -> None:
    store.create_run(run("run-study"))
    for run_id, second in (("run-t2", 2), ("run-t1", 1), ("run-t3", 3), ("run-t0", 1)):
        store.create_run(run(run_id, parent_id="run-study", started_at=at(second)))
    store.create_run(run("run-other", parent_id="run-else"))
    children = store.child_runs("run-study")
    assert [r.id for r in children] == ["run-t0", "run-t1", "run-t2", "run-t3"]
    assert all(r.parent_id == "run-study" for r in children)
    assert store.child_runs("run-t1") == []


# -- params and tags --------------------------------------------------------------------------


def test_pipeline_parameters_are_stored_as_params(store: MetadataStore) -> None:
    store.create_run(run(params={"n": 300, "model": "rf", "cfg": {"b": [1, 2], "a": None}}))
    data = store.run_data(["run-1"])["run-1"]
    assert data.params == {"cfg": '{"a":null,"b":[1,2]}', "model": '"rf"', "n": "300"}
    assert (data.metrics, data.tags) == ({}, {})


def test_params_and_tags_round_trip_and_a_later_value_wins(store: MetadataStore) -> None:
    store.create_run(run(params={"n": 100}))
    log(store, params=(("lr", "0.1"), ("opt", '"adam"')), tags=(("team", '"core"'),))
    log(store, params=(("n", "300"), ("lr", "0.01")), tags=(("team", '"data"'), ("x", "[1, 2]")))
    log(store, params=(("opt", '"sgd"'), ("opt", '"rmsprop"')))  # in one batch, the last wins
    data = store.run_data(["run-1"])["run-1"]
    assert data.params == {"lr": "0.01", "n": "300", "opt": '"rmsprop"'}
    assert data.tags == {"team": '"data"', "x": "[1, 2]"}
    assert list(data.params) == ["lr", "n", "opt"]  # by key


def test_values_keep_their_json_text_exactly(store: MetadataStore) -> None:
    store.create_run(run())
    texts = ["1.0", "1e300", "NaN", "Infinity", "true", "null", '"ü ✓"', '{"b": 1, "a": 2}']
    log(store, params=tuple((f"p{i}", t) for i, t in enumerate(texts)))
    params = store.run_data(["run-1"])["run-1"].params
    assert [params[f"p{i}"] for i in range(len(texts))] == texts


def test_run_data_reads_many_runs_at_once(store: MetadataStore) -> None:
    ids = [f"run-{i:04d}" for i in range(520)]  # more than one chunk of ids
    for i, run_id in enumerate(ids):
        store.create_run(run(run_id, params={"i": i}))
    log(store, "run-0519", metrics=(point("acc", 0.5),), tags=(("t", '"x"'),))
    data = store.run_data([*ids, "run-0519", "run-missing"])
    assert set(data) == {*ids, "run-missing"}
    assert data["run-0007"].params == {"i": "7"}
    assert data["run-0519"].metrics == {"acc": point("acc", 0.5)}
    assert data["run-0519"].tags == {"t": '"x"'}
    assert data["run-missing"] == RunData()
    assert store.run_data([]) == {}


# -- metrics ----------------------------------------------------------------------------------


def test_history_is_by_step_then_time_then_logging_order(store: MetadataStore) -> None:
    store.create_run(run())
    log(
        store,
        metrics=(
            MetricPoint("loss", 0.5, 2, 10.0, "train"),
            MetricPoint("loss", 0.9, 0, 30.0, "train"),
            MetricPoint("loss", 0.7, 1, 20.0, "train"),
            MetricPoint("loss", 0.6, 1, 20.0, "eval"),  # a tie: logged later, listed later
            MetricPoint("acc", 0.1, 0, 1.0, "train"),
        ),
    )
    log(store, metrics=(MetricPoint("loss", 0.8, 1, 5.0, "train"),))
    history = store.metric_history("run-1", "loss")
    assert [(p.value, p.step, p.timestamp, p.step_name) for p in history] == [
        (0.9, 0, 30.0, "train"),
        (0.8, 1, 5.0, "train"),
        (0.7, 1, 20.0, "train"),
        (0.6, 1, 20.0, "eval"),
        (0.5, 2, 10.0, "train"),
    ]
    assert store.metric_history("run-1", "acc") == [MetricPoint("acc", 0.1, 0, 1.0, "train")]
    assert store.metric_history("run-1", "nope") == []
    assert store.metric_history("run-missing", "loss") == []


def test_nan_and_infinities_round_trip(store: MetadataStore) -> None:
    store.create_run(run())
    values = [NAN, INF, -INF, 0.0, -0.5, 1e-300, 1.7976931348623157e308]
    log(store, metrics=tuple(point("m", v, step) for step, v in enumerate(values)))
    history = [p.value for p in store.metric_history("run-1", "m")]
    assert all(same(got, want) for got, want in zip(history, values, strict=True))
    log(store, metrics=(point("n", NAN), point("i", -INF)))
    latest = store.run_data(["run-1"])["run-1"].metrics
    assert math.isnan(latest["n"].value)
    assert latest["i"].value == -INF
    assert latest["m"].value == values[-1]


def test_integer_values_and_timestamps_are_stored_as_floats(store: MetadataStore) -> None:
    store.create_run(run())
    log(store, metrics=(MetricPoint("count", 3, 1, 100, ""),))  # type: ignore[arg-type]
    (stored,) = store.metric_history("run-1", "count")
    assert stored == MetricPoint("count", 3.0, 1, 100.0, "")
    assert type(stored.value) is float and type(stored.timestamp) is float


def test_the_latest_point_has_the_highest_step_then_is_newest(store: MetadataStore) -> None:
    store.create_run(run())
    log(store, metrics=(point("a", 1.0, step=5, timestamp=1.0), point("a", 2.0, 3, 9.0)))
    log(store, metrics=(point("a", 3.0, step=4, timestamp=99.0),))  # a lower step: not latest
    log(store, metrics=(point("b", 1.0, 0, 5.0), point("b", 2.0, 0, 4.0)))  # newest wins
    log(store, metrics=(point("c", 1.0, 0, 5.0), point("c", 2.0, 0, 5.0)))  # tie: later wins
    log(store, metrics=(point("d", 1.0, 2, 5.0),))
    log(store, metrics=(point("d", 2.0, 2, 5.0),))  # tie across batches: the later write
    log(store, metrics=(point("d", 3.0, 2, 4.0),))  # older at the same step: not latest
    log(store, metrics=(point("e", 1.0, 1, 1.0),))
    log(store, metrics=(point("e", 2.0, 2, 0.5),))  # a higher step wins even if older
    latest = store.run_data(["run-1"])["run-1"].metrics
    assert {k: (p.value, p.step) for k, p in latest.items()} == {
        "a": (1.0, 5),
        "b": (1.0, 0),
        "c": (2.0, 0),
        "d": (2.0, 2),
        "e": (2.0, 2),
    }
    assert latest["a"] == MetricPoint("a", 1.0, 5, 1.0, "train")


def test_a_big_batch_is_stored_whole(store: MetadataStore) -> None:
    store.create_run(run())
    points = tuple(point(f"k{i % 7}", i / 3, i // 7, 1000.0 + i) for i in range(5000))
    log(store, metrics=points)
    history = store.metric_history("run-1", "k3")
    assert [p.value for p in history] == [i / 3 for i in range(3, 5000, 7)]
    latest = store.run_data(["run-1"])["run-1"].metrics
    assert {k: p.step for k, p in latest.items()} == {
        f"k{i}": 714 if i < 2 else 713 for i in range(7)
    }


# -- logged artifacts -------------------------------------------------------------------------


def test_logged_artifacts_by_name_a_later_log_replacing(store: MetadataStore) -> None:
    first, second = artifact(b"1"), artifact(b"2")
    store.create_run(run())
    store.commit(WriteBatch(artifacts=(first, second)))
    log(
        store,
        artifacts=(
            LoggedArtifact("run-1", "z.png", first.id, "plot", 5.0),
            LoggedArtifact("run-1", "a.csv", first.id, "", 6.0),
        ),
    )
    log(store, artifacts=(LoggedArtifact("run-1", "z.png", second.id, "plot", 7.0),))
    assert store.logged_artifacts("run-1") == [
        LoggedArtifact("run-1", "a.csv", first.id, "", 6.0),
        LoggedArtifact("run-1", "z.png", second.id, "plot", 7.0),
    ]
    assert store.logged_artifacts("run-missing") == []


def test_a_logged_artifact_must_be_stored_first(store: MetadataStore) -> None:
    stored, missing = artifact(b"stored"), artifact(b"missing")
    store.create_run(run())
    store.commit(WriteBatch(artifacts=(stored,)))
    batch = TrackingBatch(
        "run-1",
        params=(("p", "1"),),
        metrics=(point("m", 1.0),),
        artifacts=(
            LoggedArtifact("run-1", "ok", stored.id),
            LoggedArtifact("run-1", "gone", missing.id),
        ),
    )
    with pytest.raises(StoreError, match="commit their records first") as info:
        store.log_batch(batch)
    assert info.value.details["missing_artifacts"] == [missing.id]
    assert store.logged_artifacts("run-1") == []
    assert store.run_data(["run-1"])["run-1"] == RunData()  # nothing of the batch was written


def test_a_logged_artifact_must_belong_to_the_batch_run(store: MetadataStore) -> None:
    stored = artifact(b"x")
    store.create_run(run())
    store.commit(WriteBatch(artifacts=(stored,)))
    with pytest.raises(StoreError, match="belongs to run run-2"):
        log(store, artifacts=(LoggedArtifact("run-2", "x", stored.id),))
    with pytest.raises(StoreError, match="artifact address"):
        log(store, artifacts=(LoggedArtifact("run-1", "x", "sha256:nope"),))
    assert store.logged_artifacts("run-1") == []


# -- refusals ---------------------------------------------------------------------------------


def test_an_unknown_run_is_run_not_found(store: MetadataStore) -> None:
    with pytest.raises(RunNotFound):
        log(store, "run-missing", metrics=(point("m", 1.0),))
    assert store.metric_history("run-missing", "m") == []  # nothing written for it
    with pytest.raises(RunNotFound):
        log(store, "run-missing")
    store.create_run(run())
    with pytest.raises(RunNotFound):
        log(store, "run", params=(("p", "1"),))  # an id is exact here, never a prefix
    assert store.run_data(["run-1", "run-missing"])["run-missing"] == RunData()


BAD_KEYS = ["", "x" * 251, "a\nb", "tab\there", "nul\x00", "\x7f", "c1\x85"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_naming_them(store: MetadataStore, key: str) -> None:
    store.create_run(run())
    stored = artifact(b"a")
    store.commit(WriteBatch(artifacts=(stored,)))
    batches = [
        TrackingBatch("run-1", params=(("ok", "1"), (key, "1"))),
        TrackingBatch("run-1", tags=((key, '"x"'),)),
        TrackingBatch("run-1", metrics=(point("ok", 1.0), point(key, 1.0))),
        TrackingBatch("run-1", artifacts=(LoggedArtifact("run-1", key, stored.id),)),
    ]
    for batch in batches:
        with pytest.raises(ConveyorError, match="1 to 250 characters") as info:
            store.log_batch(batch)
        assert repr(key)[:40] in str(info.value)
    assert store.run_data(["run-1"])["run-1"] == RunData()
    assert store.metric_history("run-1", "ok") == []


def test_keys_of_250_characters_and_any_script_are_accepted(store: MetadataStore) -> None:
    store.create_run(run())
    keys = ["x" * 250, "ü/ß.模型 key", "a.b-c_d:e"]
    log(store, params=tuple((k, "1") for k in keys), metrics=tuple(point(k, 1.0) for k in keys))
    data = store.run_data(["run-1"])["run-1"]
    assert set(data.params) == set(data.metrics) == set(keys)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (TrackingBatch("run-1", metrics=(point("m", "0.5"),)), "value must be a number"),  # type: ignore[arg-type]
        (TrackingBatch("run-1", metrics=(point("m", True),)), "value must be a number"),
        (TrackingBatch("run-1", metrics=(point("m", 1.0, 1.5),)), "step must be a whole"),  # type: ignore[arg-type]
        (TrackingBatch("run-1", metrics=(point("m", 1.0, 2**63),)), "step must be a whole"),
        (TrackingBatch("run-1", metrics=(point("m", 1.0, 0, NAN),)), "timestamp must be finite"),
        (
            TrackingBatch("run-1", metrics=(MetricPoint("m", 1.0, 0, 0.0, "s" * 256),)),
            "step_name must be a string of at most 255",
        ),
        (TrackingBatch("run-1", params=(("p", "{nope"),)), "not JSON text"),
        (TrackingBatch("run-1", tags=(("t", 3),)), "must be JSON text"),  # type: ignore[arg-type]
    ],
)
def test_bad_values_are_refused_before_anything_is_written(
    store: MetadataStore, batch: TrackingBatch, message: str
) -> None:
    store.create_run(run())
    with pytest.raises(ConveyorError, match=message):
        store.log_batch(batch)
    assert store.run_data(["run-1"])["run-1"] == RunData()


def test_bad_pipeline_parameter_names_are_refused(store: MetadataStore) -> None:
    with pytest.raises(ConveyorError, match="parameter name"):
        store.create_run(run(params={"x" * 251: 1}))
    with pytest.raises(RunNotFound):
        store.get_run("run-1")


# -- search -----------------------------------------------------------------------------------


def fill(store: MetadataStore) -> MetadataStore:
    """Four runs with known values; see each test's expectations."""
    store.create_run(
        run("run-a", started_at=at(1), finished_at=at(10), status="succeeded", user="ana",
            params={"n": 100})
    )  # fmt: skip
    store.create_run(
        run("run-b", started_at=at(2), finished_at=at(20), status="failed", user="bo",
            params={"n": 300})
    )  # fmt: skip
    store.create_run(run("run-c", "fraud", started_at=at(3), params={"n": "many"}))
    store.create_run(
        run("run-d", "fraud", started_at=at(4), finished_at=at(5), status="succeeded",
            user="ana", params={"flag": True})
    )  # fmt: skip
    log(store, "run-a", params=(("model", '"rf"'),), tags=(("team", '"Core"'),),
        metrics=(point("acc", 0.9), point("loss", 0.5)))  # fmt: skip
    log(store, "run-b", params=(("model", '"gb"'),), tags=(("team", '"core"'), ("stage", '"dev"')),
        metrics=(point("acc", 0.8), point("loss", NAN)))  # fmt: skip
    log(store, "run-c", params=(("model", '"rf"'),), tags=(("team", '"data*[x]?"'),),
        metrics=(point("acc", INF),))  # fmt: skip
    return store


@pytest.fixture(
    scope="module",
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetadataStore]:
    """The four runs, stored once per adapter for the read-only search tests."""
    if request.param == "memory":
        yield fill(MemoryMetadataStore())
        return
    if request.param == "sqlite":
        opened = open_metadata_store(f"sqlite:///{tmp_path_factory.mktemp('search')}/c.db")
        yield fill(opened)
        opened.close()
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    opened = open_metadata_store(server.url(name))
    yield fill(opened)
    opened.close()
    server.drop_database(name)


def ids(store: MetadataStore, *conditions: Condition, **query: Any) -> list[str]:
    found = store.search_runs(RunQuery(conditions=conditions, **query))
    return [r.id.removeprefix("run-") for r in found]


def found(store: MetadataStore, condition: Condition) -> str:
    return "".join(sorted(ids(store, condition)))


def iso(seconds: float) -> str:
    return at(seconds).isoformat()


def epoch(seconds: float) -> float:
    return at(seconds).timestamp()


SEARCHES: list[tuple[Condition, str]] = [
    # metrics: latest values; NaN passes != and NOT IN only; run-d has none
    (Condition("metrics", "acc", "=", 0.9), "a"),
    (Condition("metrics", "acc", "!=", 0.9), "bc"),
    (Condition("metrics", "acc", ">", 0.85), "ac"),
    (Condition("metrics", "acc", ">=", 0.8), "abc"),
    (Condition("metrics", "acc", "<", 0.9), "b"),
    (Condition("metrics", "acc", "<=", 0.9), "ab"),
    (Condition("metrics", "acc", "in", (0.8, 0.9)), "ab"),
    (Condition("metrics", "acc", "not in", (0.8,)), "ac"),
    (Condition("metrics", "acc", "=", INF), "c"),
    (Condition("metrics", "loss", ">", 0.0), "a"),
    (Condition("metrics", "loss", "<=", 1.0), "a"),
    (Condition("metrics", "loss", "!=", 0.5), "b"),
    (Condition("metrics", "loss", "not in", (0.5, 1.0)), "b"),
    (Condition("metrics", "loss", "in", (0.5,)), "a"),
    (Condition("metrics", "acc", "=", 1), ""),
    # params: a number compares with numbers, a string with the text
    (Condition("params", "n", "=", 100), "a"),
    (Condition("params", "n", "!=", 100), "bc"),
    (Condition("params", "n", ">", 150), "b"),
    (Condition("params", "n", ">=", 100), "ab"),
    (Condition("params", "n", "<", 300), "a"),
    (Condition("params", "n", "<=", 300.0), "ab"),
    (Condition("params", "n", "=", "100"), "a"),
    (Condition("params", "n", "=", "many"), "c"),
    (Condition("params", "n", "like", "m%"), "c"),
    (Condition("params", "n", "like", "1__"), "a"),
    (Condition("params", "n", "ilike", "MANY"), "c"),
    (Condition("params", "n", "in", (300, "many")), "bc"),
    (Condition("params", "n", "not in", (300, "many")), "a"),
    (Condition("params", "n", "in", ()), ""),
    (Condition("params", "n", "not in", ()), "abc"),
    (Condition("params", "model", "=", "rf"), "ac"),
    (Condition("params", "model", "!=", "rf"), "b"),
    (Condition("params", "model", ">", "h"), "ac"),
    (Condition("params", "model", "<", "h"), "b"),
    (Condition("params", "model", ">=", "gb"), "abc"),
    (Condition("params", "model", "<=", "gb"), "b"),
    (Condition("params", "model", "like", "RF"), ""),
    (Condition("params", "model", "ilike", "RF"), "ac"),
    (Condition("params", "flag", "=", "true"), "d"),
    (Condition("params", "flag", "=", 1), ""),  # a bool is not a number
    (Condition("params", "flag", "!=", 1), "d"),
    # tags
    (Condition("tags", "team", "=", "core"), "b"),
    (Condition("tags", "team", "!=", "core"), "ac"),
    (Condition("tags", "team", ">=", "c"), "bc"),  # "C" sorts before "c"
    (Condition("tags", "team", "<", "c"), "a"),
    (Condition("tags", "team", "like", "core"), "b"),
    (Condition("tags", "team", "ilike", "core"), "ab"),
    (Condition("tags", "team", "like", "C%"), "a"),
    (Condition("tags", "team", "like", "%o%"), "ab"),
    (Condition("tags", "team", "like", "data*[x]?"), "c"),
    (Condition("tags", "team", "like", "data_[x]_"), "c"),
    (Condition("tags", "team", "like", "%[%"), "c"),
    (Condition("tags", "team", "like", "data*"), ""),
    (Condition("tags", "team", "like", "data\\*%"), "c"),
    (Condition("tags", "team", "like", "data\\_%"), ""),
    (Condition("tags", "team", "in", ("Core", "nope")), "a"),
    (Condition("tags", "team", "not in", ("Core",)), "bc"),
    (Condition("tags", "stage", "=", "dev"), "b"),
    (Condition("tags", "stage", "!=", "dev"), ""),
    # attributes
    (Condition("attributes", "pipeline", "=", "churn"), "ab"),
    (Condition("attributes", "pipeline", "!=", "churn"), "cd"),
    (Condition("attributes", "pipeline", "like", "fr%"), "cd"),
    (Condition("attributes", "pipeline", "like", "FR%"), ""),
    (Condition("attributes", "pipeline", "ilike", "CH%"), "ab"),
    (Condition("attributes", "pipeline", "in", ("churn", "x")), "ab"),
    (Condition("attributes", "pipeline", "not in", ("churn",)), "cd"),
    (Condition("attributes", "pipeline", ">", "d"), "cd"),
    (Condition("attributes", "status", "=", "running"), "c"),
    (Condition("attributes", "status", "in", ("failed", "running")), "bc"),
    (Condition("attributes", "user", "=", "ana"), "ad"),
    (Condition("attributes", "user", "=", ""), "c"),
    (Condition("attributes", "user", "<=", "b"), "acd"),
    (Condition("attributes", "run_id", "=", "run-a"), "a"),
    (Condition("attributes", "run_id", "like", "run-_"), "abcd"),
    (Condition("attributes", "run_id", "<", "run-c"), "ab"),
    (Condition("attributes", "started_at", ">", epoch(2.5)), "cd"),
    (Condition("attributes", "started_at", ">=", iso(2)), "bcd"),
    (Condition("attributes", "started_at", "<", iso(2)), "a"),
    (Condition("attributes", "started_at", "<=", "2025-03-01T12:00:02.123456"), "ab"),  # UTC
    (Condition("attributes", "started_at", "=", iso(3)), "c"),
    (Condition("attributes", "started_at", "=", "2025-03-01T13:00:03.123456+01:00"), "c"),
    (Condition("attributes", "started_at", "!=", iso(3)), "abd"),
    (Condition("attributes", "started_at", "in", (iso(1), iso(4))), "ad"),
    (Condition("attributes", "finished_at", "<", iso(15)), "ad"),
    (Condition("attributes", "finished_at", "!=", iso(10)), "bd"),  # run-c has not finished
    (Condition("attributes", "finished_at", "not in", (iso(10),)), "bd"),
    (Condition("attributes", "finished_at", ">", 0), "abd"),
]


@pytest.mark.parametrize(("condition", "expected"), SEARCHES, ids=str)
def test_every_operator_on_every_kind(
    runs: MetadataStore, condition: Condition, expected: str
) -> None:
    assert found(runs, condition) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("C:\\\\data\\\\50\\%", "1"),  # escaped backslashes and percent sign
        ("C:%50_", "1"),
        ("%50\\%", "1"),
        ("%51\\%", ""),
        ("%\\\\50%", "1"),
        ("dir\\", "2"),  # a trailing backslash is itself
        ("dir_", "2"),
        ("%i%", "2"),
        ("%", "12"),
        ("", ""),
    ],
)
def test_like_patterns_escape_with_a_backslash(
    store: MetadataStore, pattern: str, expected: str
) -> None:
    for run_id, path in (("run-1", "C:\\data\\50%"), ("run-2", "dir\\")):
        store.create_run(run(run_id, params={"path": path}))
    assert found(store, Condition("params", "path", "like", pattern)) == expected
    assert found(store, Condition("params", "path", "ilike", pattern.upper())) == expected


def test_a_missing_field_never_matches(runs: MetadataStore) -> None:
    for op in ("=", "!=", ">", "<", "in", "not in"):
        value: Any = (1.0,) if op in ("in", "not in") else 1.0
        assert found(runs, Condition("metrics", "nope", op, value)) == ""  # type: ignore[arg-type]
        assert found(runs, Condition("params", "nope", op, value)) == ""  # type: ignore[arg-type]
    assert found(runs, Condition("tags", "nope", "!=", "x")) == ""


def test_conditions_all_hold_and_filters_combine(runs: MetadataStore) -> None:
    both = (Condition("params", "model", "=", "rf"), Condition("metrics", "acc", "<", 1))
    assert ids(runs, *both) == ["a"]
    assert ids(runs, Condition("params", "model", "=", "rf"), pipelines=("fraud",)) == ["c"]
    assert ids(runs, pipelines=("fraud", "churn")) == ["d", "c", "b", "a"]
    assert ids(runs, pipelines=("nope",)) == []


def test_logged_params_replace_pipeline_parameters_in_searches(store: MetadataStore) -> None:
    fill(store)
    log(store, "run-a", params=(("n", "500"),))
    assert found(store, Condition("params", "n", ">", 400)) == "a"
    assert found(store, Condition("params", "n", "=", 100)) == ""


def test_search_sees_the_latest_metric_point(store: MetadataStore) -> None:
    fill(store)
    log(store, "run-b", metrics=(point("acc", 0.1, step=1), point("acc", 0.99, step=0)))
    assert found(store, Condition("metrics", "acc", "<", 0.5)) == "b"
    assert found(store, Condition("metrics", "loss", "!=", 0.5)) == "b"


ORDERS: list[tuple[tuple[Ordering, ...], str]] = [
    ((), "dcba"),  # newest first
    ((Ordering("metrics", "acc"),), "bacd"),
    ((Ordering("metrics", "acc", descending=True),), "cabd"),
    ((Ordering("metrics", "loss"),), "abdc"),  # NaN after numbers, missing last
    ((Ordering("metrics", "loss", descending=True),), "abdc"),
    ((Ordering("params", "n"),), "abcd"),  # numbers, then text, then missing
    ((Ordering("params", "n", descending=True),), "bacd"),
    ((Ordering("params", "model"),), "bcad"),
    ((Ordering("params", "model", descending=True),), "cabd"),
    ((Ordering("tags", "team"),), "abcd"),
    ((Ordering("tags", "team", descending=True),), "cbad"),
    ((Ordering("attributes", "finished_at"),), "dabc"),
    ((Ordering("attributes", "finished_at", descending=True),), "badc"),
    ((Ordering("attributes", "started_at"),), "abcd"),
    ((Ordering("attributes", "user"),), "cdab"),
    ((Ordering("attributes", "run_id", descending=True),), "dcba"),
    ((Ordering("attributes", "pipeline"), Ordering("metrics", "acc", descending=True)), "abcd"),
    ((Ordering("params", "model"), Ordering("attributes", "started_at")), "bacd"),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=str)
def test_orderings_put_runs_without_the_field_last(
    runs: MetadataStore, order_by: tuple[Ordering, ...], expected: str
) -> None:
    assert "".join(ids(runs, order_by=order_by)) == expected


def test_ties_go_newest_first_then_by_id(store: MetadataStore) -> None:
    for run_id in ("run-b", "run-c", "run-a"):
        store.create_run(run(run_id))
        log(store, run_id, metrics=(point("m", 1.0),))
    store.create_run(run("run-z", started_at=at(-1)))
    assert ids(store, order_by=(Ordering("metrics", "m"),)) == ["c", "b", "a", "z"]


def test_max_results(runs: MetadataStore) -> None:
    order = (Ordering("metrics", "acc"),)
    assert ids(runs, order_by=order, max_results=2) == ["b", "a"]
    assert ids(runs, order_by=order, max_results=10) == ["b", "a", "c", "d"]
    assert ids(runs, max_results=0) == []


def test_offset_pages_through_the_query_order_without_gaps_or_repeats(
    store: MetadataStore,
) -> None:
    for i in range(7):
        store.create_run(run(f"run-{i}", "fraud" if i == 3 else "churn", started_at=at(i % 3)))
        log(store, f"run-{i}", metrics=(point("acc", i / 10),))
    every = ids(store, max_results=100)
    assert every == ["5", "2", "4", "1", "6", "3", "0"]  # newest first, then by id
    pages = [ids(store, max_results=3, offset=start) for start in (0, 3, 6, 9)]
    assert pages == [every[0:3], every[3:6], every[6:], []]
    by_acc = (Ordering("metrics", "acc", descending=True),)
    assert ids(store, order_by=by_acc, max_results=2, offset=1) == ["5", "4"]
    churn = RunQuery(pipelines=("churn",), max_results=2, offset=5)  # run-3 is of fraud
    assert [r.id for r in store.search_runs(churn)] == ["run-0"]
    table = store.search_table(dataclasses.replace(churn, offset=3))
    assert [row[0] for row in table.runs] == ["run-1", "run-6"]
    assert sorted(r for r, _, _ in table.metrics) == ["run-1", "run-6"]
    with pytest.raises(ConveyorError, match="offset must be a whole number"):
        store.search_runs(RunQuery(offset=-1))


def test_children_and_top_level_runs(store: MetadataStore) -> None:
    store.create_run(run("run-study", started_at=at(0)))
    store.create_run(run("run-t1", parent_id="run-study", started_at=at(1)))
    store.create_run(run("run-t2", parent_id="run-study", started_at=at(2)))
    store.create_run(run("run-x", parent_id="run-other", started_at=at(3)))
    store.create_run(run("run-solo", started_at=at(4)))
    assert ids(store) == ["solo", "x", "t2", "t1", "study"]
    assert ids(store, parent_id="run-study") == ["t2", "t1"]
    assert ids(store, include_children=False) == ["solo", "study"]
    assert ids(store, parent_id="run-study", include_children=False) == ["t2", "t1"]
    assert ids(store, parent_id="run-nobody") == []


def test_search_returns_whole_run_records(runs: MetadataStore) -> None:
    (found_run,) = runs.search_runs(RunQuery(conditions=(Condition("metrics", "acc", "=", 0.9),)))
    assert found_run == runs.get_run("run-a")


BAD_QUERIES: list[tuple[Condition | Ordering, str]] = [
    (Condition("metric", "acc", "=", 1), "unknown field kind 'metric'"),  # type: ignore[arg-type]
    (Condition("attributes", "start_time", "=", 1), "unknown attribute 'start_time'"),
    (Condition("attributes", "params", "=", 1), "unknown attribute 'params'"),
    (Condition("metrics", "acc", "~", 1), "unknown operator '~'"),  # type: ignore[arg-type]
    (Condition("metrics", "acc", "like", "1%"), "metrics.acc cannot be compared with LIKE"),
    (Condition("metrics", "acc", ">", "high"), "metrics compare with numbers"),
    (Condition("metrics", "acc", "in", (1, "x")), "metrics compare with numbers"),
    (Condition("attributes", "started_at", "ilike", "2025%"), "started_at cannot be compared"),
    (Condition("attributes", "started_at", ">", "yesterday"), "compares with a time"),
    (Condition("attributes", "status", "=", 1), "status is text"),
    (Condition("params", "n", "like", 1), "LIKE needs a text pattern"),
    (Condition("params", "n", "=", (1, 2)), "takes one value"),
    (Condition("params", "n", "in", 1), "IN takes a tuple"),
    (Condition("params", "n", "=", NAN), "NaN"),
    (Condition("params", "n", "=", True), "numbers or strings"),  # type: ignore[arg-type]
    (Condition("params", "n", "=", None), "numbers or strings"),  # type: ignore[arg-type]
    (Condition("tags", "", "=", "x"), "cannot be a tag key"),
    (Condition("metrics", "a\nb", "=", 1), "cannot be a metric key"),
    (Ordering("attributes", "duration"), "unknown attribute 'duration'"),
    (Ordering("param", "n"), "unknown field kind 'param'"),  # type: ignore[arg-type]
    (Ordering("params", "x" * 251), "cannot be a param key"),
]


@pytest.mark.parametrize(("item", "message"), BAD_QUERIES, ids=str)
def test_bad_queries_name_what_is_wrong(
    runs: MetadataStore, item: Condition | Ordering, message: str
) -> None:
    if isinstance(item, Condition):
        query = RunQuery(conditions=(item,))
    else:
        query = RunQuery(order_by=(item,))
    with pytest.raises(ConveyorError) as info:
        runs.search_runs(query)
    assert message in str(info.value)


def test_a_search_table_holds_what_search_runs_and_run_data_give(store: MetadataStore) -> None:
    for i, value in enumerate([0.2, 0.9, float("nan"), 0.6]):
        store.create_run(run(f"run-{i}", params={"n": i * 10}, started_at=at(i)))
        log(store, f"run-{i}", metrics=(point("acc", value), point("loss", 1 - i / 10)))
        log(store, f"run-{i}", tags=(("team", '"a"'),))
    query = RunQuery(
        conditions=(Condition("params", "n", ">=", 10.0),),
        order_by=(Ordering("metrics", "acc", descending=True),),
    )
    table = store.search_table(query)
    found = store.search_runs(query)
    assert [row[0] for row in table.runs] == [r.id for r in found] == ["run-1", "run-3", "run-2"]
    assert [row[1:4] for row in table.runs] == [(r.pipeline, r.status, r.started_at) for r in found]
    data = store.run_data([r.id for r in found])
    assert sorted(table.params) == sorted(
        (r, k, v) for r in data for k, v in data[r].params.items()
    )
    metrics = {(r, k): v for r, k, v in table.metrics}
    assert metrics[("run-1", "acc")] == 0.9 and math.isnan(metrics[("run-2", "acc")])
    assert len(metrics) == 6
    assert sorted(table.tags) == [(r, "team", '"a"') for r in ("run-1", "run-2", "run-3")]
    assert store.search_table(RunQuery(pipelines=("nothing",))).runs == []
