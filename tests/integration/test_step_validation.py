"""``@cv.step(validate_inputs=..., validate_output=...)`` in pipeline runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import conveyor as cv
from conveyor.engine import Workspace
from conveyor.errors import PipelineDefinitionError
from conveyor.testing import settings_for

ORDERS = cv.Schema(
    columns={
        "id": cv.Column(dtype="int64", nullable=False, unique=True),
        "amount": cv.Column(dtype="float64", nullable=False, min=0, max=1000),
    },
    name="orders",
)


@cv.step
def make(bad: bool) -> pd.DataFrame:
    amounts = [5.0, -3.0, 1200.5] if bad else [5.0, 3.0, 12.5]
    return pd.DataFrame({"id": [1, 2, 3], "amount": amounts})


@cv.step(validate_inputs={"orders": ORDERS})
def total(orders: pd.DataFrame) -> float:
    return float(orders["amount"].sum())


@cv.step(validate_output=ORDERS)
def produce(bad: bool) -> pd.DataFrame:
    return (
        pd.DataFrame({"id": [1, 1], "amount": [1.0, 2.0]})
        if bad
        else pd.DataFrame({"id": [1, 2], "amount": [1.0, 2.0]})
    )


@cv.pipeline
def checked_input(bad: bool = False) -> None:
    total(make(bad))


@cv.pipeline
def checked_output(bad: bool = False) -> None:
    produce(bad)


def test_valid_input_passes_and_the_step_runs(tmp_path: Path) -> None:
    run = checked_input.run(settings=settings_for(tmp_path), executor="threads")
    assert run.status == "succeeded"
    assert run.outputs["total"] == 20.5


def test_invalid_input_fails_the_step_naming_column_check_count_and_examples(
    tmp_path: Path,
) -> None:
    run = checked_input.run(bad=True, settings=settings_for(tmp_path), executor="threads")
    assert run.status == "failed"
    step = next(s for s in run.steps if s.name == "total")
    assert step.status == "failed"
    assert step.error is not None
    assert step.error.startswith("DataValidationError: step 'total', input 'orders'")
    assert "column 'amount' range [0, 1000]: 2 rows fail" in step.error
    assert "-3.0" in step.error and "1200.5" in step.error


def test_invalid_output_fails_the_step_and_stores_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run = checked_output.run(bad=True, settings=settings, executor="threads")
    step = run.steps[0]
    assert step.status == "failed"
    assert "step 'produce', output" in (step.error or "")
    assert "column 'id' unique" in (step.error or "")
    with Workspace.open(settings) as workspace:
        (recorded,) = workspace.metadata.step_runs(run.id)
    assert recorded.status == "failed"
    assert recorded.outputs == ()


def _pipeline_checked_by(schema: cv.Schema) -> cv.Pipeline:
    @cv.step(validate_output=schema, name="produce")
    def produce(bad: bool) -> pd.DataFrame:
        return pd.DataFrame({"id": [1, 2], "amount": [1.0, 2.0]})

    @cv.pipeline(name="schema_changes")
    def pipe(bad: bool = False) -> None:
        produce(bad)

    return pipe


def test_a_changed_schema_reruns_the_step(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = _pipeline_checked_by(ORDERS).run(settings=settings, executor="threads")
    assert first.steps[0].status == "succeeded"
    same = _pipeline_checked_by(ORDERS).run(settings=settings, executor="threads")
    assert same.steps[0].status == "cached"

    looser = ORDERS.with_column("amount", max=5000)
    run = _pipeline_checked_by(looser).run(settings=settings, executor="threads")
    assert run.steps[0].status == "succeeded"
    assert run.steps[0].reason == "validation schemas changed"


def test_mapped_step_validates_each_partition(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": list(range(10)), "amount": [float(i) for i in range(10)]})
    frame = frame.with_columns(
        pl.when(pl.col("id") == 7).then(-1.0).otherwise(pl.col("amount")).alias("amount")
    )

    @cv.step(validate_inputs={"part": ORDERS})
    def double(part: pl.DataFrame) -> pl.DataFrame:
        return part.with_columns(pl.col("amount") * 2)

    @cv.step
    def source() -> cv.Dataset:
        return cv.Dataset.from_table(frame, partitions=2)

    @cv.pipeline
    def mapped() -> None:
        cv.map(double, source())

    run = mapped.run(settings=settings_for(tmp_path), executor="threads")
    step = next(s for s in run.steps if s.name == "double")
    assert step.status == "failed"
    assert "column 'amount' range [0, 1000]: 1 row fails, e.g. -1.0" in (step.error or "")
    assert "partition 1" in (step.error or "")


def test_validate_inputs_must_name_parameters() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"validate_inputs names 'nope'"):

        @cv.step(validate_inputs={"nope": ORDERS})
        def f(orders: pd.DataFrame) -> int:
            return 1


def test_validate_output_must_be_a_schema() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"validate_output must be a cv\.Schema"):

        @cv.step(validate_output={"id": "int64"})
        def f() -> int:
            return 1
