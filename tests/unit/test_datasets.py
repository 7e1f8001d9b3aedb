"""Named dataset versions: register, get, versions, and the references the CLI resolves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import conveyor as cv
from conveyor.core import Settings
from conveyor.engine import Workspace
from conveyor.engine._datasets import (
    DatasetVersion,
    get,
    profile_of,
    register,
    resolve_ref,
    versions,
)
from conveyor.errors import ConveyorError, DatasetNotFound, StoreError
from conveyor.store import WriteBatch
from conveyor.testing import memory_workspace, settings_for
from tests._threads import run_on_threads

FRAME = pd.DataFrame(
    {"id": [1, 2, 3, 4], "city": ["Oslo", "Rome", None, "Oslo"], "amount": [1.5, 2.5, 3.5, None]}
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@pytest.fixture
def ws() -> Workspace:
    return memory_workspace(inline_limit=0)


def test_register_numbers_versions_and_keeps_schema_and_profile(ws: Workspace) -> None:
    first = register("sales", FRAME, description="raw export", workspace=ws)
    assert isinstance(first, DatasetVersion)
    assert (first.name, first.version, first.ref, first.rows) == ("sales", 1, "sales@1", 4)
    assert first.description == "raw export"
    assert first.run_id is None  # registered outside a pipeline
    assert first.columns == ["id", "city", "amount"]
    assert first.dtypes == {"id": "int64", "city": "string", "amount": "float64"}
    profile = first.profile
    assert profile is not None
    assert profile.rows == 4
    assert profile.columns["city"].nulls == 1
    assert profile.columns["amount"].mean == pytest.approx(2.5)
    assert dict(profile.columns["city"].top) == {"Oslo": 2, "Rome": 1}

    second = register("sales", FRAME.head(2), workspace=ws)
    assert (second.version, second.rows) == (2, 2)
    assert [v.ref for v in versions("sales", workspace=ws)] == ["sales@1", "sales@2"]
    assert versions("nothing", workspace=ws) == []


def test_get_by_number_latest_and_ref(ws: Workspace) -> None:
    register("sales", FRAME, workspace=ws)
    register("sales", FRAME.head(1), workspace=ws)
    assert get("sales", workspace=ws).num_rows == 1
    assert get("sales", "latest", workspace=ws).num_rows == 1
    assert get("sales@latest", workspace=ws).num_rows == 1
    assert get("sales", 1, workspace=ws).num_rows == 4
    assert get("sales@1", workspace=ws).num_rows == 4
    back = get("sales", 1, workspace=ws).to_pandas()
    pd.testing.assert_frame_equal(back, FRAME)


def test_polars_and_arrow_tables_are_registered_too(ws: Workspace) -> None:
    register("t", pl.DataFrame({"x": [1, 2, 3]}), workspace=ws)
    register("t", pa.table({"x": [4, 5]}), workspace=ws)
    assert get("t", 1, workspace=ws).to_polars()["x"].to_list() == [1, 2, 3]
    assert get("t", 2, workspace=ws).to_arrow().column("x").to_pylist() == [4, 5]


def test_a_version_does_not_change_when_its_source_file_does(settings: Settings, tmp_path: Path):
    source = tmp_path / "sales.csv"
    source.write_text("id,amount\n1,10.0\n2,20.0\n")
    version = register("sales", cv.read_csv(source), settings=settings)
    source.write_text("id,amount\n7,70.0\n")  # edited after registering
    loaded = get("sales", version.version, settings=settings)
    assert loaded.to_pandas().to_dict("list") == {"id": [1, 2], "amount": [10.0, 20.0]}
    source.unlink()  # and even gone
    assert get("sales", settings=settings).num_rows == 2
    manifest = loaded.describe()
    assert manifest is not None
    assert {p["kind"] for p in manifest["partitions"]} == {"artifact"}  # type: ignore[index]


def test_every_partition_is_copied_one_part_each(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_text("x,y\n" + "".join(f"{i},{i % 7}\n" for i in range(3000)))
    dataset = cv.read_csv(source).split(3)
    assert len(dataset.partitions) == 3
    version = register("big", dataset, settings=settings)
    assert version.rows == 3000
    assert version.meta["partitions"] == 3
    loaded = get("big", settings=settings)
    assert [p.describe()["kind"] for p in loaded.partitions] == ["artifact"] * 3  # type: ignore[index]
    assert loaded.to_polars()["x"].sum() == sum(range(3000))


def test_stored_parts_are_reused_not_rewritten(ws: Workspace) -> None:
    register("a", FRAME, workspace=ws)
    stored = get("a", workspace=ws)
    again = register("b", stored, workspace=ws)
    assert again.artifact_id == versions("a", workspace=ws)[0].artifact_id  # the same manifest


def test_a_bad_name_is_refused_before_anything_is_copied(ws: Workspace) -> None:
    with pytest.raises(ConveyorError, match="cannot name a dataset"):
        register("sales@2", FRAME, workspace=ws)
    with pytest.raises(ConveyorError, match="expected a table"):
        register("sales", [1, 2, 3], workspace=ws)
    assert versions(workspace=ws) == []


def test_dataset_not_found_names_the_versions_there_are(ws: Workspace) -> None:
    register("sales", FRAME, workspace=ws)
    with pytest.raises(DatasetNotFound, match=r"'sales' has no version 5; its versions are 1$"):
        get("sales", 5, workspace=ws)
    with pytest.raises(DatasetNotFound, match="no dataset named 'sale'"):
        get("sale", workspace=ws)
    with pytest.raises(ConveyorError, match="a version is a number or 'latest'"):
        get("sales@newest", workspace=ws)


def test_registering_in_a_step_records_the_run(settings: Settings) -> None:
    @cv.step
    def publish(n: int) -> int:
        return register("made", pd.DataFrame({"n": range(n)}), settings=settings).version

    @cv.pipeline
    def publishing(n: int = 3) -> None:
        publish(n)

    run = publishing.run(settings=settings, n=3)
    assert run.status == "succeeded"
    (version,) = versions("made", settings=settings)
    assert (version.run_id, version.rows) == (run.id, 3)


def test_concurrent_registrations_on_sqlite_get_distinct_numbers(settings: Settings) -> None:
    got: list[int] = []

    def work(worker: int) -> None:
        frame = pd.DataFrame({"worker": [worker] * 3})
        got.append(register("shared", frame, settings=settings).version)

    assert run_on_threads(work, 6) == []
    assert sorted(got) == [1, 2, 3, 4, 5, 6]
    workers = set()
    for version in versions("shared", settings=settings):
        rows = get("shared", version.version, settings=settings).to_pandas()["worker"]
        assert version.rows == 3 and rows.nunique() == 1  # each version holds one thread's rows
        workers.add(int(rows.iloc[0]))
    assert workers == set(range(6))


# -- references -------------------------------------------------------------------------------


def test_resolve_names_versions_and_artifact_ids(ws: Workspace) -> None:
    one = register("sales", FRAME, workspace=ws)
    two = register("sales", FRAME.head(2), workspace=ws)
    assert resolve_ref("sales@1", ws).version == one
    assert resolve_ref("sales@latest", ws).version == two
    assert resolve_ref("sales", ws).version == two  # a bare name: its newest version
    assert resolve_ref("sales@2", ws).label == "sales@2"
    by_id = resolve_ref(one.artifact_id, ws)
    assert (by_id.artifact.id, by_id.version) == (one.artifact_id, None)
    assert resolve_ref(one.artifact_id[:16], ws).artifact.id == one.artifact_id
    assert resolve_ref(one.artifact_id[7:20], ws).artifact.id == one.artifact_id  # hex only


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("sales@3", DatasetNotFound, "its versions are 1"),
        ("nope", DatasetNotFound, "names no dataset and no artifact"),
        ("sales@first", ConveyorError, "a version is a number"),
        ("sha256:" + "0" * 64, StoreError, "not in the artifact store"),
    ],
)
def test_resolving_a_bad_ref_says_what_is_wrong(
    ws: Workspace, ref: str, error: type[Exception], message: str
) -> None:
    register("sales", FRAME, workspace=ws)
    with pytest.raises(error, match=message):
        resolve_ref(ref, ws)


def test_profile_of_uses_the_stored_profile_or_computes_one(ws: Workspace) -> None:
    version = register("sales", FRAME, workspace=ws)
    stored = profile_of(resolve_ref("sales", ws), ws)
    assert stored == version.profile

    table = ws.values.save(FRAME)  # a parquet artifact, as a step's output is stored
    plain = dataclasses.replace(table, meta={k: v for k, v in table.meta.items() if k != "profile"})
    ws.metadata.commit(WriteBatch(artifacts=(plain,)))
    computed = profile_of(resolve_ref(plain.id, ws), ws)
    assert computed.rows == 4 and computed.columns["amount"].nulls == 1

    series = ws.values.save(FRAME["amount"])
    ws.metadata.commit(WriteBatch(artifacts=(series,)))
    assert list(profile_of(resolve_ref(series.id, ws), ws).columns) == ["amount"]

    not_a_table = ws.values.save({"auc": 0.9})
    ws.metadata.commit(WriteBatch(artifacts=(not_a_table,)))
    with pytest.raises(ConveyorError, match=r"is a dict \(json\), not a table"):
        profile_of(resolve_ref(not_a_table.id, ws), ws)
