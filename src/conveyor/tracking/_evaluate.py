"""Standard metrics of a fitted model on held-out data, and k-fold cross-validation.

Both work inside a step and outside runs alike: inside, the scores (and a confusion-matrix
figure) are logged to the run; outside, nothing is logged and nothing warns. numpy, scikit-learn,
joblib and matplotlib are imported on first call, so importing ``conveyor.tracking`` stays light.

Not here: tuning, storing or registering models (``registry``), or drift (``monitoring``).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from typing import TYPE_CHECKING, Any

from conveyor.core import active_run
from conveyor.data._scores import Task, as_targets, check_rows, require, resolve_task, score, take
from conveyor.errors import ConveyorError, ConveyorWarning
from conveyor.tracking._log import log_figure, log_metric, log_metrics

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["cross_validate", "evaluate"]

# Beyond this many classes the cells are too small for their counts to be legible.
_MAX_ANNOTATED_CLASSES = 20


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    task: Task | None = None,
    *,
    prefix: str = "",
    log: bool = True,
) -> dict[str, float]:
    """Score a fitted model on ``X`` against the true targets ``y``.

    Classification gives ``accuracy``, ``precision``, ``recall`` and ``f1`` (of the positive
    class when there are two classes, the second of the sorted classes as in scikit-learn's
    ``predict_proba(X)[:, 1]``; unweighted means over classes, "macro", when there are more),
    ``roc_auc`` (from ``predict_proba`` or else ``decision_function``; one-vs-rest macro for
    several classes; left out when the model has neither or when a class is missing from ``y``)
    and ``log_loss`` (only with ``predict_proba``). Inside a run a confusion-matrix figure is
    logged too, as ``<prefix>confusion_matrix.png``, if matplotlib is installed.

    Regression gives ``rmse``, ``mae`` and ``r2``.

    Args:
        model: anything with ``predict(X)``; scikit-learn-compatible models work as they are.
        X: features: a pandas or polars DataFrame, a numpy array or a list of rows.
        y: true targets: a Series, an array or a list, one per row of ``X``.
        task: "classification" or "regression". When None it is inferred: from the model if it
            is a scikit-learn classifier or regressor, else from ``y``: booleans, text and
            categories are classes, integers with at most 20 distinct values are classes, and
            any other numbers are a regression target.
        prefix: put before every metric name, e.g. ``"test_"``.
        log: log the metrics (and the figure) to the current run, if there is one.

    Returns:
        The metrics under their prefixed names, as plain floats: the same names they are
        logged under.

    Raises:
        ConveyorError: the model cannot predict, ``X`` and ``y`` are empty or differ in length,
            ``y`` has missing values, or ``y`` does not fit the task (text for a regression,
            continuous numbers for a classification).
    """
    scores, classes, matrix = score(model, X, y, task)
    named = {prefix + key: value for key, value in scores.items()}
    if log and _in_run():
        log_metrics(named)
        if matrix is not None and classes is not None:
            figure = _confusion_figure(matrix, classes)
            if figure is not None:
                # The name is a file name, so a prefix such as "val/" must not make a folder.
                log_figure(figure, name=f"{prefix}confusion_matrix.png".replace("/", "_"))
    return named


def cross_validate(
    model: Any,
    X: Any,
    y: Any,
    *,
    cv: int = 5,
    task: Task | None = None,
    parallelism: int | None = None,
    log: bool = True,
    random_state: int | None = 0,
) -> dict[str, float]:
    """Fit a fresh copy of ``model`` on each of ``cv`` folds and score it on the rest.

    Folds are stratified by class for classification (``StratifiedKFold``) and plain for
    regression (``KFold``); rows are shuffled first in both cases, with ``random_state``
    (None: a different shuffle each call). Each fold fits a clone of the model
    (``sklearn.base.clone``, or a deep copy for other models), on threads: scikit-learn releases
    the GIL while it fits. Fold scores are those of :func:`evaluate`.

    Args:
        model: an unfitted model with ``fit(X, y)`` and ``predict(X)``; it is not modified.
        X, y, task: as for :func:`evaluate`; the task is resolved once, on all of ``y``.
        cv: the number of folds, at least 2.
        parallelism: how many folds are fitted at once (joblib ``n_jobs``, -1 for every
            core); defaults to ``min(cv, number of CPUs)``.
        log: inside a run, log each fold's scores as series (``cv_accuracy`` at steps 0, 1, …)
            and the means and standard deviations.
        random_state: the seed of the shuffle.

    Returns:
        ``<metric>_mean`` and ``<metric>_std`` (population standard deviation across folds) for
        every metric that all folds produced, and ``folds``: the number of folds.

    Raises:
        ConveyorError: as for :func:`evaluate`; also when the model cannot be fitted, ``cv`` is
            not an integer from 2 to the number of rows, or a class has too few rows for
            ``cv`` stratified folds.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import KFold, StratifiedKFold
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # via sklearn

    require(model, "fit", "cross_validate")
    require(model, "predict", "cross_validate")
    truth = as_targets(y, "y")
    rows = check_rows(X, truth)
    if isinstance(cv, bool) or not isinstance(cv, int) or not 2 <= cv <= rows:
        raise ConveyorError(
            f"cv must be a number of folds from 2 to the number of rows ({rows}), got {cv!r}",
            cv=cv,
            rows=rows,
        )
    task = resolve_task(model, truth, task)
    splitter_type = StratifiedKFold if task == "classification" else KFold
    splitter = splitter_type(n_splits=cv, shuffle=True, random_state=random_state)
    try:
        folds = list(splitter.split(truth, truth))
    except ValueError as exc:
        raise ConveyorError(f"cannot split y into {cv} folds: {exc}", cv=cv) from exc
    if parallelism == 0:
        raise ConveyorError("parallelism must be a number of folds at once (or -1 for every core)")
    cpus = os.cpu_count() or 1
    jobs = parallelism if parallelism is not None else min(cv, cpus)
    # Folds on threads each calling a multi-threaded BLAS oversubscribe the cores, which made
    # fitting several times slower, so BLAS gets the cores left per fold while folds run.
    blas_threads = max(1, cpus // jobs) if jobs > 0 else 1
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        results: list[dict[str, float]] = Parallel(n_jobs=jobs, prefer="threads")(
            delayed(_fit_and_score)(model, X, truth, train, test, task, index)
            for index, (train, test) in enumerate(folds)
        )
    keys = [key for key in results[0] if all(key in scores for scores in results)]
    summary: dict[str, float] = {}
    for key in keys:
        values = [scores[key] for scores in results]
        mean = math.fsum(values) / len(values)
        summary[f"{key}_mean"] = mean
        summary[f"{key}_std"] = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    if log and _in_run():
        for key in keys:
            for index, scores in enumerate(results):
                log_metric(f"cv_{key}", scores[key], step=index)
        log_metrics(summary)
    summary["folds"] = float(cv)
    return summary


def _fit_and_score(
    model: Any,
    X: Any,
    truth: NDArray[Any],
    train: NDArray[Any],
    test: NDArray[Any],
    task: Task,
    fold: int,
) -> dict[str, float]:
    from sklearn.base import clone

    fitted = clone(model, safe=False)
    try:
        fitted.fit(take(X, train), truth[train])
    except Exception as exc:
        raise ConveyorError(
            f"fold {fold}: {type(model).__name__}.fit() failed: {type(exc).__name__}: {exc}",
            fold=fold,
        ) from exc
    return evaluate(fitted, take(X, test), truth[test], task, log=False)


# -- logging ----------------------------------------------------------------------------------


def _in_run() -> bool:
    # Checked up front because the log_* facade warns outside a run, and evaluate is as useful
    # in a notebook as in a step.
    ctx = active_run()
    return ctx is not None and ctx.tracker is not None


def _confusion_figure(matrix: NDArray[Any], classes: NDArray[Any]) -> Any:
    figure_type = _figure_type()
    if figure_type is None:
        return None
    count = len(classes)
    names = [str(label) for label in classes]
    side = min(3.0 + 0.5 * count, 12.0)
    # A bare Figure renders with Agg when saved and never touches pyplot's GUI backends.
    figure = figure_type(figsize=(side + 1.0, side))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set(
        xticks=range(count),
        yticks=range(count),
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="true",
        title="Confusion matrix",
    )
    if count <= _MAX_ANNOTATED_CLASSES:
        threshold = matrix.max() / 2
        for row in range(count):
            for column in range(count):
                value = int(matrix[row, column])
                colour = "white" if value > threshold else "black"
                axes.text(column, row, str(value), ha="center", va="center", color=colour)
    return figure


@functools.cache  # warn once per process, not once per fold or per call
def _figure_type() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(
            "evaluate() skips the confusion-matrix figure because matplotlib is not installed; "
            "`pip install matplotlib` to get it",
            ConveyorWarning,
            stacklevel=4,
        )
        return None
    return Figure
