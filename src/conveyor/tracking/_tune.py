"""``cv.tune``: hyperparameter search on Optuna, trials in parallel, each trial a child run.

The study lives in this process; trials ask it for parameters, run the objective inside a run
of their own (so whatever the objective logs lands there, beside its parameters and value), and
tell it the result. Pruning works through ``trial.report`` / ``trial.should_prune`` as in
Optuna. Outside a run the search itself is recorded as a run, the parent of its trials.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from conveyor.core import RunContext, Settings, active_run
from conveyor.core._errors import ConveyorError
from conveyor.engine import Workspace
from conveyor.engine._child import child_run
from conveyor.engine.executors import create_executor
from conveyor.tracking._log import log_metric, log_metrics, log_params, set_tags

if TYPE_CHECKING:
    import optuna
    import pandas as pd

OBJECTIVE = "objective"  # the metric each trial's value is logged as


class TrialPruned(Exception):
    """Raise in an objective (or call ``trial.prune()``) to stop an unpromising trial."""


class Trial(Mapping[str, Any]):
    """The parameters of one trial (a read-only mapping), and its pruning hooks."""

    def __init__(
        self,
        params: Mapping[str, Any],
        number: int,
        run_id: str,
        trial: optuna.trial.Trial | None = None,
    ) -> None:
        self._trial = trial  # None in a worker process: nothing there can reach the study
        self._params = dict(params)
        self.number = number
        self.run_id = run_id

    def __getitem__(self, key: str) -> Any:
        try:
            return self._params[key]
        except KeyError:
            raise KeyError(
                f"{key!r} is not in the search space ({', '.join(self._params)})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def report(self, value: float, step: int) -> None:
        """An intermediate value (e.g. the validation score after an epoch), logged as the
        ``objective`` series of the trial's run and given to the pruner."""
        if self._trial is not None:
            self._trial.report(float(value), step)
        log_metric(OBJECTIVE, float(value), step=step)

    def should_prune(self) -> bool:
        """Whether the pruner would stop this trial now (never with executor="processes")."""
        return self._trial is not None and bool(self._trial.should_prune())

    def prune(self) -> None:
        raise TrialPruned(f"trial {self.number} pruned")


@dataclass(frozen=True)
class TuneResult:
    best_params: dict[str, Any]
    best_value: float
    best_run_id: str | None
    run_id: str  # the run the trials are children of
    trials: pd.DataFrame  # number, state, value, params.*, run_id
    study: optuna.Study


def tune(
    objective: Callable[[Trial], float],
    space: Mapping[str, Any],
    n_trials: int,
    *,
    direction: Literal["maximize", "minimize"] = "maximize",
    parallelism: int | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    seed: int | None = None,
    name: str | None = None,
    executor: str | object = "threads",
    settings: Settings | None = None,
) -> TuneResult:
    """Search ``space`` for the parameters that maximize (or minimize) ``objective``.

    Args:
        objective: Takes the trial (a mapping of parameter → value, with ``report`` and
            ``should_prune`` for pruning) and returns the score.
        space: Parameter → range: ``(low, high)`` ints or floats, ``{"low":…, "high":…,
            "log": True, "step":…}``, a list of choices, or an Optuna distribution.
        n_trials: How many trials to run.
        direction: "maximize" or "minimize".
        parallelism: Trials at once (threads; default: the number of CPUs).
        pruner: An Optuna pruner (default MedianPruner) that stops unpromising trials.
        sampler: An Optuna sampler (default TPE, seeded with ``seed``).
        name: The name runs are recorded under (default: the objective's name).
        executor: "threads" (default) runs trials in this process, where pruning works;
            "processes" runs each in a worker process, for objectives that hold the GIL
            (pure Python); "dask" or "ray" (or a ``cv.DaskExecutor``/``cv.RayExecutor``)
            submits each trial to a cluster, as a Dask future or a Ray task. Outside
            "threads" the objective must be picklable, pruning is off, and the store must be
            reachable from the workers (trials record their own runs).

    Returns:
        The best parameters and value, the best trial's run id, and every trial.
    """
    import optuna

    distributions = {key: distribution(key, spec) for key, spec in space.items()}
    workers = _workers(n_trials, direction, parallelism, executor)
    label = name or str(getattr(objective, "__name__", "tune"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=direction,
        sampler=sampler or optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(),
    )
    ws = Workspace.for_api(settings)
    with (
        _parent(ws.settings, label, n_trials, direction) as parent,
        _processes(executor, workers) as processes,
    ):
        where = (parent.run_id, parent.pipeline, label, ws.settings)
        # a worker gets the objective pickled once, not once per trial
        pickled = b"" if processes is None else _pickled(objective)
        lock = threading.Lock()
        counter = iter(range(n_trials))
        run_ids: dict[int, str] = {}
        errors: list[BaseException] = []

        def work() -> None:
            while not errors:
                with lock:
                    if next(counter, None) is None:
                        return
                    trial = study.ask(distributions)
                try:
                    if processes is None:
                        outcome = _run_trial(objective, trial.params, trial.number, *where, trial)
                    else:
                        outcome = processes.submit(
                            _trial_in_worker, pickled, trial.params, trial.number, *where
                        ).result()
                    state, value, run_id = outcome
                except BaseException as exc:  # the objective's own error ends the search
                    with lock:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    errors.append(exc)
                    return
                with lock:
                    run_ids[trial.number] = run_id
                    if state == "pruned":
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    else:
                        study.tell(trial, value)

        with ThreadPoolExecutor(
            min(workers, n_trials), thread_name_prefix="conveyor-trial"
        ) as threads:
            for future in [threads.submit(work) for _ in range(min(workers, n_trials))]:
                future.result()
        if errors:
            raise ConveyorError(
                f"a trial of {label!r} failed: {type(errors[0]).__name__}: {errors[0]}",
                run_id=parent.run_id,
            ) from errors[0]
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            raise ConveyorError(f"every trial of {label!r} was pruned; nothing to choose from")
        best = study.best_trial
        best_value = float(best.value) if best.value is not None else math.nan
        _log_best(best.params, best_value, run_ids.get(best.number))
        return TuneResult(
            best_params=dict(best.params),
            best_value=best_value,
            best_run_id=run_ids.get(best.number),
            run_id=parent.run_id,
            trials=_trials_frame(study, run_ids),
            study=study,
        )


def _workers(n_trials: object, direction: object, parallelism: object, executor: object) -> int:
    """How many trials run at once, once the arguments are checked."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConveyorError(f"n_trials must be a positive integer, got {n_trials!r}")
    if direction not in ("maximize", "minimize"):
        raise ConveyorError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    workers = (os.cpu_count() or 1) if parallelism is None else parallelism
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConveyorError(f"parallelism must be a positive integer, got {parallelism!r}")
    if executor not in ("threads", "processes", "dask", "ray") and not callable(
        getattr(executor, "pool", None)
    ):
        raise ConveyorError(
            "executor must be 'threads', 'processes', 'dask', 'ray' or a cv.DaskExecutor or "
            f"cv.RayExecutor, got {executor!r}"
        )
    return workers


def distribution(key: str, spec: Any) -> optuna.distributions.BaseDistribution:
    """An Optuna distribution from a space entry (see ``tune``)."""
    from optuna import distributions as d

    if isinstance(spec, d.BaseDistribution):
        return spec
    if isinstance(spec, list) and spec:
        return d.CategoricalDistribution(spec)
    if isinstance(spec, tuple) and len(spec) == 2:
        spec = {"low": spec[0], "high": spec[1]}
    if isinstance(spec, Mapping) and {"low", "high"} <= set(spec):
        low, high = spec["low"], spec["high"]
        extra = set(spec) - {"low", "high", "log", "step"}
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not extra and numbers and low < high:
            log, step = bool(spec.get("log", False)), spec.get("step")
            if isinstance(low, int) and isinstance(high, int) and not isinstance(step, float):
                return d.IntDistribution(low, high, log=log, step=step or 1)
            return d.FloatDistribution(float(low), float(high), log=log, step=step)
    raise ConveyorError(
        f"space[{key!r}] = {spec!r} is not a range: use (low, high) with low < high, "
        "{'low': ..., 'high': ..., 'log': True}, a non-empty list of choices, or an Optuna "
        "distribution",
        parameter=key,
    )


TrialOutcome = tuple[str, float, str]  # "complete" | "pruned", the value, the trial's run


def _run_trial(
    objective: Callable[[Trial], float],
    params: Mapping[str, Any],
    number: int,
    parent_id: str,
    pipeline: str,
    label: str,
    settings: Settings,
    trial: optuna.trial.Trial | None = None,
) -> TrialOutcome:
    with child_run(
        settings, pipeline, f"{label}-trial-{number}", parent_id=parent_id, params=params
    ) as ctx:
        set_tags({"trial": number})
        try:
            value = objective(Trial(params, number, ctx.run_id, trial))
        except TrialPruned:
            set_tags({"state": "pruned"})
            return "pruned", math.nan, ctx.run_id
        try:
            number_value = float(value)
        except (TypeError, ValueError):
            raise ConveyorError(
                f"the objective must return a number, returned {type(value).__name__}"
            ) from None
        log_metric(OBJECTIVE, number_value)
        set_tags({"state": "complete"})
        return "complete", number_value, ctx.run_id


@contextmanager
def _processes(executor: str | object, workers: int) -> Iterator[FuturesExecutor | None]:
    """Where trials run outside this process: worker processes for "processes", a cluster's
    futures for Dask or Ray; None runs them on the calling threads."""
    if executor == "threads":
        yield None
        return
    if executor == "processes":
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # as the engine's process pool, and why
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield pool
        return
    if not isinstance(executor, str):  # the caller's executor, open for more work after this
        yield cast(Any, executor).pool()
        return
    cluster: Any = create_executor(executor, None)
    try:
        yield cluster.pool()
    finally:
        cluster.shutdown()


def _pickled(objective: Callable[[Trial], float]) -> bytes:
    import cloudpickle

    data: bytes = cloudpickle.dumps(objective)
    return data


def _trial_in_worker(
    pickled: bytes,
    params: Mapping[str, Any],
    number: int,
    parent_id: str,
    pipeline: str,
    label: str,
    settings: Settings,
) -> TrialOutcome:
    import cloudpickle

    objective = cloudpickle.loads(pickled)
    return _run_trial(objective, params, number, parent_id, pipeline, label, settings)


@contextmanager
def _parent(settings: Settings, label: str, n_trials: int, direction: str) -> Iterator[RunContext]:
    """The run the trials belong to: the calling step's, or a run of the search itself."""
    ctx = active_run()
    if ctx is not None and ctx.tracker is not None:
        yield ctx
        return
    with child_run(
        settings, label, "tune", params={"n_trials": n_trials, "direction": direction}
    ) as own:
        yield own


def _log_best(params: Mapping[str, Any], value: float, run_id: str | None) -> None:
    # on the calling thread, where the parent run is the current one
    log_params({f"best.{k}": v for k, v in params.items()})
    log_metrics({"best_value": value})
    if run_id is not None:
        set_tags({"best_run_id": run_id})


def _trials_frame(study: optuna.Study, run_ids: Mapping[int, str]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for t in study.trials:
        row: dict[str, object] = {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "run_id": run_ids.get(t.number),
        }
        row.update({f"params.{k}": v for k, v in t.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)
