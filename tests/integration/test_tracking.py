"""Tracking end to end: what steps log reaches the store (threads and worker processes), and
comes back through cv.get_run and cv.search_runs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

import conveyor as cv
from conveyor.core import Settings
from conveyor.errors import ConveyorError, NoActiveRunWarning
from conveyor.testing import settings_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@cv.step
def train(n_estimators: int = 10) -> float:
    cv.log_params({"n_estimators": n_estimators, "criterion": "gini"})
    for epoch in range(5):
        cv.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    cv.log_metrics({"accuracy": 0.5 + n_estimators / 1000, "nan_metric": math.nan})
    cv.set_tags({"team": "churn"})
    return 0.5 + n_estimators / 1000


@cv.pipeline
def experiment(n_estimators: int = 10) -> None:
    train(n_estimators)


@cv.step
def crash_after_logging() -> int:
    cv.log_metric("before_error", 1.0)
    raise RuntimeError("boom")


@cv.pipeline
def crashing() -> None:
    crash_after_logging()


@cv.step
def log_files(folder: str) -> int:
    path = Path(folder) / "notes.txt"
    path.write_text("hello")
    cv.log_artifact(str(path))
    cv.log_artifact({"a": 1}, name="config.json")
    return 1


@cv.pipeline
def with_files(folder: str) -> None:
    log_files(folder)


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_logged_values_reach_the_run(settings: Settings, executor: str) -> None:
    run = experiment.run(n_estimators=200, settings=settings, executor=executor)
    assert run.status == "succeeded"
    tracked = cv.get_run(run.id, settings=settings)
    assert tracked.params["n_estimators"] == 200  # the pipeline's parameter and the logged one
    assert tracked.params["criterion"] == "gini"
    assert tracked.metrics["accuracy"] == pytest.approx(0.7)
    assert math.isnan(tracked.metrics["nan_metric"])
    assert tracked.metrics["loss"] == pytest.approx(0.2)  # the point with the highest step
    assert tracked.tags["team"] == "churn"
    history = tracked.metric_history("loss")
    assert list(history["step"]) == [0, 1, 2, 3, 4]
    assert list(history["value"]) == pytest.approx([1, 0.5, 1 / 3, 0.25, 0.2])
    assert set(history["step_name"]) == {"train"}
    assert history["timestamp"].is_monotonic_increasing


def test_a_run_records_where_it_ran(settings: Settings) -> None:
    run = experiment.run(settings=settings)
    tracked = cv.get_run(run.id, settings=settings)
    assert tracked.environment["python"].count(".") == 2
    packages = tracked.environment["packages"]
    assert isinstance(packages, dict)
    assert "pandas" in packages
    assert tracked.host
    assert tracked.duration is not None and tracked.duration >= 0
    assert [s.name for s in tracked.steps] == ["train"]


def test_what_a_failing_step_logged_is_kept(settings: Settings) -> None:
    run = crashing.run(settings=settings)
    assert run.status == "failed"
    tracked = cv.get_run(run.id, settings=settings)
    assert tracked.metrics == {"before_error": 1.0}


def test_logged_artifacts_are_listed_with_the_run(settings: Settings, tmp_path: Path) -> None:
    run = with_files.run(folder=str(tmp_path), settings=settings)
    assert run.status == "succeeded"
    names = [a.name for a in cv.get_run(run.id, settings=settings).artifacts]
    assert names == ["config.json", "notes.txt"]


def test_search_runs_filters_and_orders(settings: Settings) -> None:
    ids = {n: experiment.run(n_estimators=n, settings=settings).id for n in (50, 150, 300)}
    found = cv.search_runs(
        pipeline="experiment",
        filter="metrics.accuracy > 0.6 and params.n_estimators >= 100",
        order_by=["metrics.accuracy desc"],
        settings=settings,
    )
    assert list(found["run_id"]) == [ids[300], ids[150]]
    assert list(found["params.n_estimators"]) == [300, 150]
    assert list(found["metrics.accuracy"]) == pytest.approx([0.8, 0.65])
    assert (found["tags.team"] == "churn").all()
    assert cv.search_runs(filter="params.criterion = 'entropy'", settings=settings).empty


def test_a_bad_filter_names_the_problem(settings: Settings) -> None:
    experiment.run(settings=settings)
    with pytest.raises(ConveyorError, match="accuracy"):
        cv.search_runs(filter="metrics.accuracy >>> 1", settings=settings)


def test_logging_outside_a_run_warns_and_does_nothing() -> None:
    with pytest.warns(NoActiveRunWarning, match="log_metric"):
        cv.log_metric("x", 1.0)
    with pytest.warns(NoActiveRunWarning):
        cv.log_params({"a": 1})


@cv.step
def bad_metric() -> int:
    cv.log_metric("accuracy", "high")  # type: ignore[arg-type]
    return 1


@cv.pipeline
def bad_logging() -> None:
    bad_metric()


def test_a_metric_that_is_not_a_number_fails_the_step_clearly(settings: Settings) -> None:
    run = bad_logging.run(settings=settings)
    assert run.status == "failed"
    error = run.steps[0].error or ""
    assert "log_metric('accuracy'" in error and "must be a number" in error


@cv.step
def many_points(n: int) -> int:
    for i in range(n):
        cv.log_metric("series", float(i), step=i)
    return n


@cv.pipeline
def long_series(n: int) -> None:
    many_points(n)


def test_a_long_series_is_stored_whole(settings: Settings) -> None:
    run = long_series.run(n=12_345, settings=settings)
    history = cv.get_run(run.id, settings=settings).metric_history("series")
    assert len(history) == 12_345
    assert history["value"].iloc[-1] == 12_344.0


def test_tune_runs_trials_as_child_runs(settings: Settings) -> None:
    def objective(trial: cv.Trial) -> float:
        x = trial["x"]
        cv.log_metric("square", x * x)
        return -((x - 2.0) ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("error", NoActiveRunWarning)
        result = cv.tune(
            objective,
            {"x": (-5.0, 5.0)},
            n_trials=12,
            parallelism=3,
            seed=1,
            settings=settings,
        )
    assert abs(result.best_params["x"] - 2.0) < 1.5
    trials = cv.search_runs(parent_id=result.run_id, settings=settings)
    assert len(trials) == 12
    assert set(trials["status"]) == {"succeeded"}
    best = cv.get_run(result.best_run_id or "", settings=settings)
    assert best.metrics["objective"] == pytest.approx(result.best_value)
    assert best.params["x"] == pytest.approx(result.best_params["x"])
    parent = cv.get_run(result.run_id, settings=settings)
    assert parent.metrics["best_value"] == pytest.approx(result.best_value)
    # a trial ran where its search did
    assert (best.parent_id, best.user, best.environment) == (
        parent.id,
        parent.user,
        parent.environment,
    )
    assert best.environment["packages"]


def test_tune_prunes_unpromising_trials(settings: Settings) -> None:
    import optuna

    def objective(trial: cv.Trial) -> float:
        for epoch in range(10):
            score = trial["lr"] * epoch
            trial.report(score, epoch)
            if trial.should_prune():
                trial.prune()
        return score

    result = cv.tune(
        objective,
        {"lr": {"low": 1e-4, "high": 1.0, "log": True}},
        n_trials=20,
        parallelism=1,
        seed=0,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
        settings=settings,
    )
    states = set(result.trials["state"])
    assert "pruned" in states and "complete" in states


def test_tune_rejects_a_bad_space(settings: Settings) -> None:
    with pytest.raises(ConveyorError, match=r"space\['x'\]"):
        cv.tune(lambda t: 0.0, {"x": (5, 1)}, n_trials=1, settings=settings)


def test_search_result_is_a_dataframe_even_when_empty(settings: Settings) -> None:
    found = cv.search_runs(pipeline="nothing-here", settings=settings)
    assert isinstance(found, pd.DataFrame) and found.empty
    assert "run_id" in found.columns


@cv.step(cache=False)
def visible_after_flush() -> float:
    cv.log_metric("progress", 0.5, step=1)
    context = cv.current_run()
    assert context is not None
    assert context.tracker is not None
    context.tracker.flush()  # stored now, while the step still runs
    seen = cv.get_run(context.run_id).metrics
    return seen.get("progress", -1.0)


@cv.pipeline
def flushing() -> None:
    visible_after_flush()


def test_a_flush_stores_what_was_logged_while_the_step_runs(settings: Settings) -> None:
    run = flushing.run(settings=settings)
    assert run.status == "succeeded", run.steps[0].error
    assert run.outputs["visible_after_flush"] == 0.5


def quadratic(trial: cv.Trial) -> float:
    """Module level, so that worker processes can import it."""
    cv.log_metric("x_seen", trial["x"])
    return -((trial["x"] - 1.0) ** 2)


def test_tune_runs_trials_in_worker_processes(settings: Settings) -> None:
    result = cv.tune(
        quadratic,
        {"x": (-3.0, 3.0)},
        n_trials=6,
        parallelism=2,
        seed=3,
        executor="processes",
        settings=settings,
    )
    trials = cv.search_runs(parent_id=result.run_id, settings=settings)
    assert len(trials) == 6
    assert set(trials["status"]) == {"succeeded"}
    assert (trials["metrics.x_seen"] == trials["params.x"]).all()  # logged inside the workers
    assert result.best_value == pytest.approx(max(trials["metrics.objective"]))
    with pytest.raises(ConveyorError, match="executor"):
        cv.tune(quadratic, {"x": (0.0, 1.0)}, n_trials=1, executor="spark", settings=settings)
