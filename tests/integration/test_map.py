"""``cv.map`` end to end: a step run once per partition of a dataset, each partition cached on
its own, the parts collected into a partitioned dataset. Runs use threads for speed; one test
uses the default worker processes."""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from pandas import DataFrame

import conveyor as cv
from conveyor.core._settings import Settings
from conveyor.engine import Run, Workspace
from conveyor.engine.executors import ThreadExecutor
from conveyor.errors import ConveyorError, PipelineDefinitionError
from conveyor.testing import settings_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three CSV files of four rows each: a = 0…11, b = a * 10."""
    path = tmp_path / "in"
    path.mkdir()
    for i in range(3):
        write_rows(path / f"{i}.csv", range(i * 4, i * 4 + 4))
    return path


def write_rows(path: Path, values: range, bad: str | None = None) -> Path:
    rows = "".join(f"{a},{a * 10}\n" for a in values)
    path.write_text("a,b\n" + rows + (f"{bad},0\n" if bad is not None else ""))
    return path


def run(pipe: cv.Pipeline, settings: Settings, **params: object) -> Run:
    return pipe.run(settings=settings, executor="threads", **params)


def step_runs(settings: Settings, result: Run) -> dict[str, str]:
    """Step name → status of every step run the run recorded, partitions included."""
    with Workspace.open(settings) as ws:
        return {r.step: r.status for r in ws.metadata.step_runs(result.id)}


def output(result: Run, step: str) -> pl.DataFrame:
    value = result.outputs[step]
    assert isinstance(value, cv.Dataset)
    return value.to_polars()


# -- steps and pipelines ---------------------------------------------------------------------


@cv.step
def double(part: pl.DataFrame, k: int = 2) -> pl.DataFrame:
    return part.with_columns(pl.col("b") * k)


@cv.step
def load(path: str) -> cv.Dataset:
    return cv.read_csv(path)


@cv.step
def total(ds: cv.Dataset) -> int:
    return int(ds.to_polars()["b"].sum())


@cv.pipeline
def doubled(path: str, k: int = 2, n: int = 4) -> None:
    total(cv.map(double, load(path), k=k, partitions=n))


@cv.pipeline
def doubled_folder(path: str, k: int = 2) -> None:
    cv.map(double, cv.read_csv(path), k=k)  # a dataset made in the body: a literal input


# -- results ---------------------------------------------------------------------------------


def test_a_mapped_step_gives_the_rows_of_the_plain_computation(
    tmp_path: Path, settings: Settings
) -> None:
    path = write_rows(tmp_path / "big.csv", range(1000))
    result = run(doubled, settings, path=str(path), k=3, n=4)
    assert result.status == "succeeded"
    expected = pl.read_csv(path).with_columns(pl.col("b") * 3)
    assert output(result, "double").equals(expected)
    assert result.outputs["total"] == int(expected["b"].sum())
    mapped = result.outputs["double"]
    assert isinstance(mapped, cv.Dataset) and len(mapped.partitions) == 4
    assert mapped.num_rows == 1000  # known from the stored parts, without reading
    assert step_runs(settings, result) == {
        "load": "succeeded",
        **{f"double[{i}]": "succeeded" for i in range(4)},
        "double": "succeeded",
        "total": "succeeded",
    }


def test_the_mapped_dataset_is_profiled_by_merging_its_parts_profiles(
    tmp_path: Path, settings: Settings
) -> None:
    from conveyor.engine._datasets import profile_of, resolve_ref

    path = write_rows(tmp_path / "big.csv", range(1000))
    result = run(doubled, settings, path=str(path), k=3, n=4)
    (artifact_id,) = result.outputs.artifact_ids("double")
    with Workspace.open(settings) as ws:
        table = resolve_ref(artifact_id, ws)
        stored = profile_of(table, ws)  # merged from the parts' records: no row is read
    whole = cv.profile(output(result, "double"))
    assert not stored.exact
    assert stored.rows == whole.rows == 1000
    for name in ("a", "b"):
        got, exact = stored[name], whole[name]
        assert (got.nulls, got.min, got.max) == (exact.nulls, exact.min, exact.max)
        assert got.mean == pytest.approx(exact.mean) and got.std == pytest.approx(exact.std)


def test_every_part_is_written_to_the_artifact_store_however_small(
    folder: Path, settings: Settings
) -> None:
    result = run(doubled_folder, settings, path=str(folder))
    with Workspace.open(settings) as ws:
        parts = [r for r in ws.metadata.step_runs(result.id) if r.step.startswith("double[")]
        records = ws.metadata.get_artifacts([link.artifact_id for r in parts for link in r.outputs])
        assert len(records) == 3  # one part per file, a few bytes each
        for record in records.values():
            assert record.inline is None and ws.values.artifacts.exists(record.id)


def kind_of(value: object) -> str:
    return f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"


@cv.step
def kind_polars(part: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"kind": [kind_of(part)], "rows": [len(part)]})


@cv.step
def kind_pandas(part: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"kind": [kind_of(part)], "rows": [len(part)]})


@cv.step
def kind_arrow(part: pa.Table) -> pa.Table:
    return pa.table({"kind": [kind_of(part)], "rows": [part.num_rows]})


@cv.step
def kind_dataset(part: cv.Dataset) -> pl.DataFrame:
    rows = part.to_polars().height
    return pl.DataFrame({"kind": [kind_of(part)], "rows": [rows]})


@cv.step
def kind_unannotated(part):  # type: ignore[no-untyped-def]
    return pl.DataFrame({"kind": [kind_of(part)], "rows": [part.num_rows]})


@cv.pipeline
def kinds(path: str, which: str) -> None:
    chosen = {
        "polars": kind_polars,
        "pandas": kind_pandas,
        "arrow": kind_arrow,
        "dataset": kind_dataset,
        "unannotated": kind_unannotated,
    }[which]
    cv.map(chosen, cv.read_csv(path))


@pytest.mark.parametrize(
    ("which", "module"),
    [
        ("polars", "polars.DataFrame"),
        ("pandas", "pandas.DataFrame"),
        ("arrow", "pyarrow.Table"),
        ("dataset", "conveyor.Dataset"),
        ("unannotated", "conveyor.Dataset"),
    ],
)
def test_the_step_gets_its_partition_as_its_first_parameter_is_annotated(
    folder: Path, settings: Settings, which: str, module: str
) -> None:
    result = run(kinds, settings, path=str(folder), which=which)
    assert result.status == "succeeded", result.failed_steps
    frame = output(result, f"kind_{which}")
    assert frame.to_dict(as_series=False) == {"kind": [module] * 3, "rows": [4, 4, 4]}


@cv.step
def offset_of(k: int) -> int:
    return k * 100


@cv.step
def shifted(part: pl.DataFrame, offset: int, scale: float, *, label: str = "") -> pl.DataFrame:
    return part.select((pl.col("a") * scale + offset).alias("v"), pl.lit(label).alias("label"))


@cv.pipeline
def with_extras(path: str, k: int = 1, label: str = "x") -> None:
    cv.map(shifted, cv.read_csv(path), offset_of(k), 0.5, label=label)


def test_extra_arguments_are_the_same_for_every_partition(folder: Path, settings: Settings) -> None:
    result = run(with_extras, settings, path=str(folder), k=2, label="two")
    frame = output(result, "shifted")
    assert frame["v"].to_list() == [a * 0.5 + 200 for a in range(12)]
    assert set(frame["label"]) == {"two"}
    again = run(with_extras, settings, path=str(folder), k=3, label="two")
    assert again.step("shifted").reason == "input offset changed"
    assert output(again, "shifted")["v"][0] == 300.0


def test_a_table_passed_in_the_body_is_mapped_too(settings: Settings) -> None:
    @cv.pipeline
    def from_frame() -> None:
        cv.map(double, pd.DataFrame({"a": [1, 2, 3], "b": [10, 20, 30]}))

    result = run(from_frame, settings)
    assert output(result, "double")["b"].to_list() == [20, 40, 60]


def test_rows_that_exist_only_in_memory_cannot_be_a_pipeline_literal(settings: Settings) -> None:
    @cv.pipeline
    def from_memory() -> None:
        cv.map(double, cv.Dataset.from_table(pd.DataFrame({"a": [1], "b": [2]})))

    with pytest.raises(ConveyorError, match="exist only in memory"):
        run(from_memory, settings)


# -- caching ---------------------------------------------------------------------------------


def test_an_unchanged_rerun_is_served_from_the_cache(folder: Path, settings: Settings) -> None:
    first = run(doubled, settings, path=str(folder), n=3)
    again = run(doubled, settings, path=str(folder), n=3)
    assert {s.name: s.status for s in again.steps} == {
        "load": "cached",
        "double": "cached",
        "total": "cached",
    }
    assert step_runs(settings, again) == {"load": "cached", "double": "cached", "total": "cached"}
    assert output(again, "double").equals(output(first, "double"))
    assert again.outputs["total"] == sum(a * 20 for a in range(12))


def test_changing_a_parameter_reruns_every_partition(folder: Path, settings: Settings) -> None:
    run(doubled_folder, settings, path=str(folder), k=2)
    again = run(doubled_folder, settings, path=str(folder), k=5)
    assert again.step("double").status == "succeeded"
    assert again.step("double").reason == "parameter k changed"  # no partition was cached
    recorded = step_runs(settings, again)
    assert sorted(n for n in recorded if n.startswith("double[")) == [
        f"double[{i}]" for i in range(3)
    ]
    assert output(again, "double")["b"].to_list() == [a * 50 for a in range(12)]


def test_a_new_file_runs_only_its_own_partition(folder: Path, settings: Settings) -> None:
    first = run(doubled_folder, settings, path=str(folder))
    assert first.step("double").reason == "first run of this step"
    write_rows(folder / "3.csv", range(12, 16))
    again = run(doubled_folder, settings, path=str(folder))
    assert again.status == "succeeded"
    assert again.step("double").reason is not None
    assert again.step("double").reason.endswith("1 of 4 partitions ran, 3 cached")
    assert step_runs(settings, again) == {"double[3]": "succeeded", "double": "succeeded"}
    assert output(again, "double")["b"].to_list() == [a * 20 for a in range(16)]


def test_a_changed_file_runs_only_its_own_partition(folder: Path, settings: Settings) -> None:
    run(doubled_folder, settings, path=str(folder))
    write_rows(folder / "1.csv", range(40, 45))
    again = run(doubled_folder, settings, path=str(folder))
    assert step_runs(settings, again) == {"double[1]": "succeeded", "double": "succeeded"}
    expected = [*range(4), *range(40, 45), *range(8, 12)]
    assert output(again, "double")["a"].to_list() == expected


@cv.step
def first_row(part: cv.Dataset) -> cv.Dataset:
    return cv.Dataset.from_table(part.head(1))  # rows made now: stored as a part


@cv.step
def unchanged(part: cv.Dataset) -> cv.Dataset:
    return part  # the file range itself: kept as a reference to the file


@cv.pipeline
def datasets_out(path: str) -> None:
    cv.map(first_row, cv.read_csv(path))
    cv.map(unchanged, cv.read_csv(path))


def test_a_step_may_return_a_dataset_for_its_partition(folder: Path, settings: Settings) -> None:
    result = run(datasets_out, settings, path=str(folder))
    assert result.status == "succeeded", result.failed_steps
    assert output(result, "first_row")["a"].to_list() == [0, 4, 8]
    kept = result.outputs["unchanged"]
    assert isinstance(kept, cv.Dataset)
    assert [Path(p.source).name for p in kept.partitions] == ["0.csv", "1.csv", "2.csv"]
    assert kept.to_polars().equals(pl.read_csv(folder / "*.csv"))


@cv.pipeline
def doubled_twice(path: str) -> None:
    cv.map(double, cv.map(double, cv.read_csv(path)))


def test_chained_maps_run_only_the_new_files_partitions(folder: Path, settings: Settings) -> None:
    run(doubled_twice, settings, path=str(folder))
    write_rows(folder / "3.csv", range(12, 16))
    again = run(doubled_twice, settings, path=str(folder))
    assert step_runs(settings, again) == {
        "double[3]": "succeeded",
        "double": "succeeded",
        "double_2[3]": "succeeded",
        "double_2": "succeeded",
    }
    assert again.step("double_2").reason == "input part changed; 1 of 4 partitions ran, 3 cached"
    assert output(again, "double_2")["b"].to_list() == [a * 40 for a in range(16)]


# -- failures --------------------------------------------------------------------------------


@cv.step
def strict(part: pl.DataFrame) -> pl.DataFrame:
    if part["a"].max() > 100:
        raise ValueError(f"a value too large: {part['a'].max()}")
    return part


@cv.pipeline
def strict_total(path: str) -> None:
    total(cv.map(strict, cv.read_csv(path)))


def test_a_failing_partition_fails_the_step_naming_its_source(
    folder: Path, settings: Settings
) -> None:
    bad = write_rows(folder / "1.csv", range(4, 8), bad="500")
    result = run(strict_total, settings, path=str(folder))
    assert result.status == "failed"
    failed = result.step("strict")
    assert failed.status == "failed"
    assert failed.error is not None
    assert "ValueError: a value too large: 500" in failed.error
    assert f"(partition 1: {bad})" in failed.error
    assert result.step("total").status == "skipped"
    with pytest.raises(KeyError):
        result.outputs["strict"]
    with Workspace.open(settings) as ws:
        records = ws.metadata.step_runs(result.id)
        (record,) = [r for r in records if r.step == "strict"]
        assert record.status == "failed" and record.outputs == ()
        produced = {link.artifact_id for r in records for link in r.outputs}
        kinds = {a.materializer for a in ws.metadata.get_artifacts(produced).values()}
        assert "dataset" not in kinds  # only the good partitions' parts, if any, were kept
        assert all(r.step.startswith("strict[") for r in records if r.outputs)


def test_an_unreadable_partition_fails_the_step_naming_the_file(
    folder: Path, settings: Settings
) -> None:
    bad = write_rows(folder / "2.csv", range(8, 12), bad="oops")
    result = run(strict_total, settings, path=str(folder))
    error = result.step("strict").error
    assert error is not None
    assert "DataSourceError" in error and str(bad) in error and "oops" in error
    assert result.step("total").status == "skipped"


@cv.step
def row_count(part: pl.DataFrame) -> int:
    return part.height


@cv.pipeline
def counts(path: str) -> None:
    cv.map(row_count, cv.read_csv(path))


def test_a_step_that_returns_no_table_fails_with_a_clear_error(
    folder: Path, settings: Settings
) -> None:
    result = run(counts, settings, path=str(folder))
    assert result.status == "failed"
    error = result.step("row_count").error
    assert error is not None
    assert "must return a table" in error and "returned int" in error


def test_a_file_gone_since_the_dataset_was_made_fails_its_partition(
    folder: Path, settings: Settings
) -> None:
    run(doubled, settings, path=str(folder), k=2, n=1)
    (folder / "1.csv").unlink()
    again = run(doubled, settings, path=str(folder), k=3, n=1)  # load: cached, lists 1.csv
    assert again.step("load").status == "cached"
    error = again.step("double").error
    assert error is not None
    assert f"DataSourceError: {folder / '1.csv'}: file not found" in error
    assert f"(partition 1: {folder / '1.csv'})" in error
    assert again.step("total").status == "skipped"


_flaky_lock = threading.Lock()


@cv.step(retries=1, retry_delay=0)
def flaky(part: pl.DataFrame, marker: str) -> pl.DataFrame:
    first = int(part["a"][0])
    path = Path(marker) / f"{first}.seen"
    with _flaky_lock:
        if not path.exists():  # every partition fails once, then succeeds
            path.touch()
            raise RuntimeError("transient")
    return part


@cv.pipeline
def flaky_map(path: str, marker: str) -> None:
    cv.map(flaky, cv.read_csv(path), marker)


def test_a_partition_is_retried_on_its_own(
    folder: Path, settings: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "marks"
    marker.mkdir()
    result = run(flaky_map, settings, path=str(folder), marker=str(marker))
    assert result.status == "succeeded", result.failed_steps
    assert sorted(os.listdir(marker)) == ["0.seen", "4.seen", "8.seen"]
    assert output(result, "flaky")["a"].to_list() == list(range(12))


# -- definitions -----------------------------------------------------------------------------


def test_outside_a_pipeline_map_is_a_lazy_map_partitions(folder: Path) -> None:
    calls: list[int] = []

    @cv.step
    def add(part: pl.DataFrame, k: int, *, extra: int = 0) -> pl.DataFrame:
        calls.append(part.height)
        return part.with_columns(pl.col("a") + k + extra)

    mapped = cv.map(add, cv.read_csv(folder), 1, extra=100)
    assert isinstance(mapped, cv.Dataset) and not calls
    assert mapped.to_polars()["a"].to_list() == [a + 101 for a in range(12)]
    assert calls == [4, 4, 4]


def test_map_takes_a_step(folder: Path) -> None:
    def plain(part: pl.DataFrame) -> pl.DataFrame:
        return part

    with pytest.raises(PipelineDefinitionError, match="takes a @step") as caught:
        cv.map(plain, cv.read_csv(folder))  # type: ignore[arg-type]
    assert caught.value.details == {"got": "function"}

    @cv.pipeline
    def inside() -> None:
        cv.map(plain, cv.read_csv(folder))  # type: ignore[arg-type]

    with pytest.raises(PipelineDefinitionError, match="takes a @step"):
        inside.build()


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_map_refuses_a_partition_count_below_one(folder: Path, bad: object) -> None:
    with pytest.raises(PipelineDefinitionError, match="partitions must be a whole number"):
        cv.map(double, cv.read_csv(folder), partitions=bad)  # type: ignore[arg-type]


def test_outside_a_pipeline_map_needs_a_dataset() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"takes a cv\.Dataset, got list"):
        cv.map(double, [1, 2])


def test_inside_a_pipeline_map_refuses_a_list(folder: Path) -> None:
    @cv.pipeline
    def over_list(path: str) -> None:
        cv.map(double, [load(path), load(path)])

    with pytest.raises(PipelineDefinitionError, match="not a list"):
        over_list.build(path=str(folder))


# -- worker processes ------------------------------------------------------------------------


@cv.step
def tagged(part: pl.DataFrame, k: int) -> pl.DataFrame:
    return part.with_columns(pl.col("b") * k, pl.lit(os.getpid()).alias("pid"))


@cv.pipeline
def tagged_total(path: str, k: int = 2) -> None:
    total(cv.map(tagged, load(path), k, partitions=3))


@pytest.mark.slow
def test_partitions_run_in_worker_processes_by_default(tmp_path: Path, settings: Settings) -> None:
    path = write_rows(tmp_path / "rows.csv", range(300))
    result = tagged_total.run(settings=settings, path=str(path), k=3)
    assert result.status == "succeeded", result.failed_steps
    frame = output(result, "tagged")
    assert frame["b"].to_list() == [a * 30 for a in range(300)]
    assert os.getpid() not in set(frame["pid"])
    assert result.outputs["total"] == sum(a * 30 for a in range(300))
    again = tagged_total.run(settings=settings, path=str(path), k=3)
    assert {s.status for s in again.steps} == {"cached"}


# -- known engine problems -------------------------------------------------------------------


_received: list[str] = []


@cv.step(retries=1, retry_delay=0)
def count_retried(part: pl.DataFrame) -> int:
    _received.append(type(part).__name__)
    return part.height


@cv.pipeline
def counts_retried(path: str) -> None:
    cv.map(count_retried, cv.read_csv(path))


def test_a_mapped_step_with_retries_is_never_called_with_the_whole_dataset(
    folder: Path, settings: Settings
) -> None:
    _received.clear()
    result = run(counts_retried, settings, path=str(folder))
    error = result.step("count_retried").error
    assert error is not None and error.startswith("ConveyorError: a step run by cv.map")
    assert set(_received) == {"DataFrame"}


@cv.step
def kind_bare(part: DataFrame) -> DataFrame:  # pandas' DataFrame, imported by its bare name
    return DataFrame({"kind": [kind_of(part)]})


@cv.pipeline
def bare_kind(path: str) -> None:
    cv.map(kind_bare, cv.read_csv(path))


def test_a_bare_pandas_dataframe_annotation_gets_pandas(folder: Path, settings: Settings) -> None:
    result = run(bare_kind, settings, path=str(folder))
    assert result.status == "succeeded", result.failed_steps
    assert set(output(result, "kind_bare")["kind"]) == {"pandas.DataFrame"}


def test_outside_a_pipeline_the_annotation_chooses_the_kind_too(folder: Path) -> None:
    mapped = cv.map(kind_pandas, cv.read_csv(folder))
    assert set(mapped.to_polars()["kind"]) == {"pandas.DataFrame"}


@cv.step
def frame_of(n: int) -> pd.DataFrame:
    return pd.DataFrame({"a": range(n), "b": range(n)})


@cv.pipeline
def frame_mapped(n: int = 12) -> None:
    cv.map(double, frame_of(n), partitions=3)


def test_a_table_output_is_cut_into_the_partitions_asked_for(settings: Settings) -> None:
    result = run(frame_mapped, settings, n=12)
    assert result.status == "succeeded"
    assert step_runs(settings, result).keys() >= {"double[0]", "double[1]", "double[2]"}
    assert output(result, "double")["b"].to_list() == [b * 2 for b in range(12)]


# -- a dataset mapped twice -----------------------------------------------------------------


@cv.step
def column_sum(part: pl.DataFrame) -> pl.DataFrame:
    return part.select(pl.col("b").sum())


@cv.step
def centred(part: pl.DataFrame, sums: cv.Dataset) -> pl.DataFrame:
    mean = sums.to_polars()["b"].sum() / 12
    return part.with_columns(pl.col("b") - mean)


@cv.pipeline
def fit_then_transform(path: str) -> None:
    data = load(path)
    cv.map(centred, data, cv.map(column_sum, data))


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The CSV files parsed during the test, once per parse (threads: the test's process)."""
    from conveyor.data._files import FilePartition

    files: list[str] = []
    parse = FilePartition._parse_csv

    def counted(self: FilePartition) -> pl.DataFrame:
        files.append(self.url)
        return parse(self)

    monkeypatch.setattr(FilePartition, "_parse_csv", counted)
    return files


def test_a_dataset_mapped_twice_is_parsed_once(
    folder: Path, settings: Settings, parsed: list[str]
) -> None:
    result = run(fit_then_transform, settings, path=str(folder))
    assert result.status == "succeeded"
    assert len(parsed) == 3  # three files, each parsed by the first map only
    assert output(result, "centred")["b"].to_list() == [a * 10 - 55 for a in range(12)]
    scratch = settings.home / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir())  # the copies went with the run


def test_a_dataset_mapped_once_leaves_no_copy(folder: Path, settings: Settings) -> None:
    assert run(doubled, settings, path=str(folder)).status == "succeeded"
    assert not (settings.home / "scratch").exists()


@cv.step
def slow_copy(part: pl.DataFrame) -> pl.DataFrame:
    time.sleep(0.05)
    return part


@cv.pipeline
def slowly(path: str) -> None:
    cv.map(slow_copy, cv.read_csv(path))


def test_a_queued_partition_starts_when_a_worker_takes_it(folder: Path, settings: Settings) -> None:
    result = slowly.run(settings=settings, executor="threads", workers=1, path=str(folder))
    assert result.status == "succeeded"
    with Workspace.open(settings) as ws:
        runs = {r.step: r for r in ws.metadata.step_runs(result.id)}
    spans = [
        (runs[f"slow_copy[{i}]"].started_at, runs[f"slow_copy[{i}]"].finished_at) for i in range(3)
    ]
    spans.sort()
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished - timedelta(milliseconds=5)  # one worker: one after another


class CountingExecutor(ThreadExecutor):
    """One thread; counts the attempts submitted to it and not yet finished."""

    in_process = False  # so that the partitions run here too, through the artifact store

    def __init__(self) -> None:
        super().__init__(1)
        self.in_flight = self.most = 0
        self._lock = threading.Lock()

    def submit(self, task: object) -> object:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        future = super().submit(task)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: object) -> None:
        with self._lock:
            self.in_flight -= 1


def test_each_worker_has_one_partition_queued_behind_it_unless_partitions_time_out(
    folder: Path, settings: Settings
) -> None:
    executor = CountingExecutor()
    result = slowly.run(settings=settings, executor=executor, path=str(folder))
    assert result.status == "succeeded"
    assert executor.most == 2  # one running, the next waiting in the executor's queue
    timed = CountingExecutor()
    result = patiently.run(settings=settings, executor=timed, path=str(folder))
    assert result.status == "succeeded"
    assert timed.most == 1  # its timeout counts from its start: it waits in the runner


@cv.pipeline
def fit_then_transform_in_the_body(path: str) -> None:
    data = cv.read_csv(path)
    cv.map(centred, data, cv.map(column_sum, data))


def test_a_dataset_made_in_the_body_and_mapped_twice_is_parsed_once(
    folder: Path, settings: Settings, parsed: list[str]
) -> None:
    result = run(fit_then_transform_in_the_body, settings, path=str(folder))
    assert result.status == "succeeded"
    assert len(parsed) == 3
    assert output(result, "centred")["b"].to_list() == [a * 10 - 55 for a in range(12)]


@cv.step(timeout=1.0)
def patient(part: pl.DataFrame) -> pl.DataFrame:
    time.sleep(0.4)
    return part


@cv.pipeline
def patiently(path: str) -> None:
    cv.map(patient, cv.read_csv(path))


def test_a_partition_timeout_counts_from_its_start_not_its_queueing(
    folder: Path, settings: Settings
) -> None:
    # one worker, three partitions of 0.4 s: the last starts at 0.8 s and ends at 1.2 s, past
    # the 1 s timeout if that counted from when the map began
    result = patiently.run(settings=settings, executor="threads", workers=1, path=str(folder))
    assert result.status == "succeeded", result.step("patient").error
    assert output(result, "patient").height == 12


def test_a_parts_unnamed_index_does_not_become_a_column(tmp_path: Path) -> None:
    """A part filtered in pandas keeps an index other than 0..n-1; the dataset of the parts
    has only the frame's columns, while a named index stays as data (pandas gets it back as
    the index)."""
    data = tmp_path / "in"
    data.mkdir()
    for i in range(2):
        pd.DataFrame({"x": [1, 1, 2, 3], "y": [5, 5, 6, 7 + i]}).to_csv(
            data / f"{i}.csv", index=False
        )

    @cv.step
    def dedupe(part: pd.DataFrame) -> pd.DataFrame:
        return part.drop_duplicates()  # index 0, 2, 3

    @cv.step
    def named(part: pd.DataFrame) -> pd.DataFrame:
        return part.set_index("x")

    @cv.step
    def columns(parts: cv.Dataset, keyed: cv.Dataset) -> list[list[str]]:
        return [
            list(parts.to_pandas().columns),
            list(parts.to_polars().columns),
            list(parts.schema.names),
            list(keyed.to_polars().columns),
        ]

    @cv.pipeline
    def p() -> None:
        source = cv.read_csv(str(data / "*.csv"))
        columns(cv.map(dedupe, source), cv.map(named, source))

    run = p.run(settings=settings_for(tmp_path / "home")).raise_for_status()
    plain, polars_names, schema, keyed = run.outputs["columns"]
    assert plain == polars_names == schema == ["x", "y"]
    assert sorted(keyed) == ["x", "y"]  # a named index is data: kept as a column
