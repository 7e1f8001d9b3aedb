"""Standard metrics of a fitted model on labelled data: what ``cv.evaluate`` logs and what
promotion gates compare. Pure computation: nothing is logged or stored here.

numpy and scikit-learn are imported on first call.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from conveyor.core._errors import ConveyorError

if TYPE_CHECKING:
    from numpy.typing import NDArray

Task = Literal["classification", "regression"]

# An integer target with this many distinct values or fewer is read as class labels.
_MAX_INTEGER_CLASSES = 20


def score(
    model: Any, X: Any, y: Any, task: Task | None = None
) -> tuple[dict[str, float], NDArray[Any] | None, NDArray[Any] | None]:
    """The metrics of ``model`` on ``X`` against ``y`` (see ``cv.evaluate`` for which), with
    the classes and the confusion matrix of a classification (None for a regression)."""
    require(model, "predict", "evaluate")
    truth = as_targets(y, "y")
    check_rows(X, truth)
    resolved = resolve_task(model, truth, task)
    predicted = predict(model, X, len(truth))
    if resolved == "classification":
        return classification(model, X, truth, predicted)
    return regression(truth, predicted), None, None


# -- inputs -----------------------------------------------------------------------------------


def require(model: Any, method: str, caller: str) -> None:
    if not callable(getattr(model, method, None)):
        raise ConveyorError(
            f"{caller}() needs a model with a {method}() method; {type(model).__name__} has none",
            model=type(model).__name__,
        )


def as_targets(values: Any, name: str) -> NDArray[Any]:
    """One flat array of targets, whatever container they came in."""
    import numpy as np

    if values is None:
        raise ConveyorError(f"{name} is None: pass the true targets, one per row of X")
    # pandas and polars Series and one-column frames all have to_numpy()
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.ndim != 1:
        raise ConveyorError(
            f"{name} must be one column of targets, got an array of shape {array.shape}",
            shape=list(array.shape),
        )
    missing = _missing(array)
    if missing:
        raise ConveyorError(
            f"{name} has {missing} missing value(s): drop those rows or fill them in first",
            missing=missing,
        )
    return array


def _missing(array: NDArray[Any]) -> int:
    import numpy as np

    if array.dtype.kind == "f":
        return int(np.isnan(array).sum())
    if array.dtype.kind == "O":
        return sum(1 for value in array if _is_missing(value))
    return 0


def _is_missing(value: object) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    # pandas.NA, from nullable columns; matched by name so pandas need not be imported
    return type(value).__name__ == "NAType"


def check_rows(X: Any, truth: NDArray[Any]) -> int:
    shape = getattr(X, "shape", None)
    try:
        rows = int(shape[0]) if shape else len(X)
    except TypeError:
        raise ConveyorError(
            "X must be a table of features (a DataFrame, an array or a list of rows), "
            f"got {type(X).__name__}"
        ) from None
    if rows == 0 or len(truth) == 0:
        raise ConveyorError("X and y are empty: there is nothing to evaluate", rows=rows)
    if rows != len(truth):
        raise ConveyorError(
            f"X has {rows} rows but y has {len(truth)} targets: they must describe the same "
            "examples, one target per row",
            rows=rows,
            targets=len(truth),
        )
    return rows


def resolve_task(model: Any, truth: NDArray[Any], task: str | None) -> Task:
    import numpy as np

    if task is None:
        resolved = _estimator_task(model) or _target_task(truth)
    elif task in ("classification", "regression"):
        resolved = "classification" if task == "classification" else "regression"
    else:
        raise ConveyorError(f"task must be 'classification' or 'regression', got {task!r}")
    if resolved == "regression" and not _is_numeric(truth):
        examples = ", ".join(repr(v) for v in list(dict.fromkeys(truth.tolist()))[:3])
        raise ConveyorError(
            f"regression metrics need numeric targets, but y holds labels such as {examples}; "
            "pass task='classification' if they are classes",
            task=resolved,
        )
    if (
        resolved == "classification"
        and truth.dtype.kind == "f"
        and not np.array_equal(truth, np.round(truth))
    ):
        raise ConveyorError(
            "classification metrics need class labels, but y holds continuous numbers such as "
            f"{truth[truth != np.round(truth)][0]!r}; pass task='regression'",
            task=resolved,
        )
    return resolved


def _estimator_task(model: Any) -> Task | None:
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    except (AttributeError, TypeError):  # recent scikit-learn raises for non-estimators
        pass
    return None


def _target_task(truth: NDArray[Any]) -> Task:
    import numpy as np

    kind = truth.dtype.kind
    if kind in "bOSUa":
        return "classification" if not _is_numeric(truth) else "regression"
    if kind in "iu" and len(np.unique(truth)) <= _MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def _is_numeric(array: NDArray[Any]) -> bool:
    kind = array.dtype.kind
    if kind in "iuf":
        return True
    if kind == "O":
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in array)
    return False


def predict(model: Any, X: Any, rows: int) -> NDArray[Any]:
    try:
        raw = model.predict(X)
    except Exception as exc:
        raise ConveyorError(
            f"{type(model).__name__}.predict() failed: {type(exc).__name__}: {exc}",
            model=type(model).__name__,
        ) from exc
    predicted = as_targets(raw, "the predictions")
    if len(predicted) != rows:
        raise ConveyorError(
            f"{type(model).__name__}.predict() returned {len(predicted)} predictions "
            f"for {rows} rows"
        )
    return predicted


def take(X: Any, index: NDArray[Any]) -> Any:
    if hasattr(X, "iloc"):  # pandas: by position, whatever the index labels are
        return X.iloc[index]
    if isinstance(X, list | tuple):
        return [X[i] for i in index]
    return X[index]  # numpy arrays, polars frames and scipy sparse matrices index by row


# -- metrics ----------------------------------------------------------------------------------


def classification(
    model: Any, X: Any, truth: NDArray[Any], predicted: NDArray[Any]
) -> tuple[dict[str, float], NDArray[Any], NDArray[Any]]:
    import numpy as np
    from sklearn import metrics

    if predicted.dtype.kind == "f" and not np.array_equal(predicted, np.round(predicted)):
        raise ConveyorError(
            "classification metrics need predicted class labels, but the model predicted "
            f"continuous numbers such as {predicted[predicted != np.round(predicted)][0]!r}; "
            "pass task='regression' if it is a regressor"
        )
    try:
        observed = np.unique(np.concatenate([truth, predicted]))
    except TypeError:
        raise ConveyorError(
            "y and the predictions mix label types (such as numbers and text) that cannot be "
            "compared"
        ) from None
    known = getattr(model, "classes_", None)
    # The model's own class order lines up with the columns of predict_proba.
    if known is not None and np.isin(observed, np.asarray(known)).all():
        classes = np.asarray(known)
    else:
        classes = observed
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[1]}
        if binary
        else {"average": "macro", "labels": classes}
    )
    scores = {
        "accuracy": float(metrics.accuracy_score(truth, predicted)),
        "precision": float(metrics.precision_score(truth, predicted, zero_division=0, **averaging)),
        "recall": float(metrics.recall_score(truth, predicted, zero_division=0, **averaging)),
        "f1": float(metrics.f1_score(truth, predicted, zero_division=0, **averaging)),
    }
    probabilities = _optional_call(model, "predict_proba", X)
    if probabilities is not None and probabilities.shape == (len(truth), len(classes)):
        if (auc := _roc_auc(truth, probabilities, classes)) is not None:
            scores["roc_auc"] = auc
        scores["log_loss"] = float(metrics.log_loss(truth, probabilities, labels=classes))
    elif (decisions := _optional_call(model, "decision_function", X)) is not None:
        expected = (len(truth),) if binary else (len(truth), len(classes))
        auc = _roc_auc(truth, decisions, classes) if decisions.shape == expected else None
        if auc is not None:
            scores["roc_auc"] = auc
    matrix = metrics.confusion_matrix(truth, predicted, labels=classes)
    return scores, classes, matrix


def _optional_call(model: Any, method: str, X: Any) -> NDArray[Any] | None:
    import numpy as np

    call = getattr(model, method, None)
    if not callable(call):
        return None
    try:
        return np.asarray(call(X), dtype=float)
    except (AttributeError, NotImplementedError):  # advertised but unavailable, e.g. SVC
        return None


def _roc_auc(truth: NDArray[Any], scores: NDArray[Any], classes: NDArray[Any]) -> float | None:
    """One-vs-rest macro AUC; None where it is undefined (a class with no rows, or all rows)."""
    from sklearn.metrics import roc_auc_score

    if scores.ndim == 1:  # a binary decision_function: the score of the positive class
        columns = [(classes[1], scores)]
    elif len(classes) == 2:
        columns = [(classes[1], scores[:, 1])]
    else:
        columns = [(label, scores[:, i]) for i, label in enumerate(classes)]
    values = []
    for label, column in columns:
        is_label = truth == label
        if is_label.all() or not is_label.any():
            return None
        values.append(float(roc_auc_score(is_label, column)))
    return math.fsum(values) / len(values)


def regression(truth: NDArray[Any], predicted: NDArray[Any]) -> dict[str, float]:
    from sklearn import metrics

    if not _is_numeric(predicted):
        raise ConveyorError(
            "regression metrics need numeric predictions, but the model predicted labels "
            f"such as {predicted[0]!r}; pass task='classification' if they are classes"
        )
    truth, predicted = truth.astype(float), predicted.astype(float)
    return {
        "rmse": math.sqrt(float(metrics.mean_squared_error(truth, predicted))),
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        # r2 of a single row is undefined; scikit-learn would warn and return NaN as well
        "r2": float(metrics.r2_score(truth, predicted)) if len(truth) > 1 else math.nan,
    }
