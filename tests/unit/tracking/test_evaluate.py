from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn import metrics
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from conveyor.core import RunContext, activate
from conveyor.errors import ConveyorError, ConveyorWarning
from conveyor.tracking import _evaluate
from conveyor.tracking._evaluate import cross_validate, evaluate


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    # On a busy machine BLAS threads spinning for cores turned millisecond fits into seconds.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class FakeSink:
    """Records what a step logged, as the engine's sink would buffer it."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float, int | None]] = []
        self.artifacts: dict[str, object] = {}
        self.params_logged: list[Mapping[str, object]] = []

    def metric(self, key: str, value: float, step: int | None) -> None:
        self.points.append((key, value, step))

    def metrics(self, values: Mapping[str, float], step: int | None) -> None:
        self.points.extend((key, value, step) for key, value in values.items())

    def params(self, values: Mapping[str, object]) -> None:
        self.params_logged.append(values)

    def tags(self, values: Mapping[str, object]) -> None:
        raise AssertionError("evaluation sets no tags")

    def artifact(self, value: object, name: str | None) -> str:
        assert name is not None
        self.artifacts[name] = value
        return name

    def flush(self) -> None:
        pass

    def logged(self) -> dict[str, float]:
        return {key: value for key, value, _ in self.points}


@pytest.fixture
def sink() -> Iterator[FakeSink]:
    tracker = FakeSink()
    with activate(RunContext("r1", "churn", "evaluate", 1, tracker=tracker)):
        yield tracker


@pytest.fixture(scope="module")
def binary() -> tuple[LogisticRegression, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    return LogisticRegression().fit(X[:80], y[:80]), X[80:], y[80:]


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    return load_iris(return_X_y=True, as_frame=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def iris_model(iris: Any) -> LogisticRegression:
    return LogisticRegression(max_iter=300).fit(*iris)


class Threshold:
    """A model that only predicts: no probabilities, no decision function, not scikit-learn."""

    def predict(self, X: Any) -> np.ndarray[Any, Any]:
        return (np.asarray(X)[:, 0] > 0).astype(int)


def test_binary_scores_equal_scikit_learn_and_are_plain_floats(binary: Any) -> None:
    model, X, y = binary
    predicted, proba = model.predict(X), model.predict_proba(X)
    scores = evaluate(model, X, y)
    assert scores == pytest.approx(
        {
            "accuracy": metrics.accuracy_score(y, predicted),
            "precision": metrics.precision_score(y, predicted),
            "recall": metrics.recall_score(y, predicted),
            "f1": metrics.f1_score(y, predicted),
            "roc_auc": metrics.roc_auc_score(y, proba[:, 1]),
            "log_loss": metrics.log_loss(y, proba),
        },
        rel=1e-12,
    )
    assert all(type(value) is float for value in scores.values())


def test_text_labels_score_the_second_sorted_class_as_positive(binary: Any) -> None:
    _, X, y = binary
    words = np.where(y == 1, "yes", "no")
    fitted = LogisticRegression().fit(X, words)
    scores = evaluate(fitted, X, list(words))
    predicted = fitted.predict(X)
    assert scores["precision"] == pytest.approx(
        metrics.precision_score(words, predicted, pos_label="yes")
    )
    assert scores["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(words == "yes", fitted.predict_proba(X)[:, 1])
    )


def test_multiclass_scores_are_macro_averages(iris: Any, iris_model: Any) -> None:
    X, y = iris
    model = iris_model
    predicted, proba = model.predict(X), model.predict_proba(X)
    scores = evaluate(model, X, y)
    assert scores == pytest.approx(
        {
            "accuracy": metrics.accuracy_score(y, predicted),
            "precision": metrics.precision_score(y, predicted, average="macro"),
            "recall": metrics.recall_score(y, predicted, average="macro"),
            "f1": metrics.f1_score(y, predicted, average="macro"),
            "roc_auc": metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
            "log_loss": metrics.log_loss(y, proba),
        },
        rel=1e-12,
    )


def test_roc_auc_falls_back_to_the_decision_function(binary: Any, iris: Any) -> None:
    _, X, y = binary
    svm = LinearSVC().fit(X, y)
    scores = evaluate(svm, X, y)
    assert scores["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, svm.decision_function(X)))
    assert "log_loss" not in scores  # needs probabilities
    Xi, yi = iris
    multi = LinearSVC().fit(Xi, yi)
    decisions = multi.decision_function(Xi)
    expected = np.mean([metrics.roc_auc_score(yi == k, decisions[:, k]) for k in range(3)])
    assert evaluate(multi, Xi, yi)["roc_auc"] == pytest.approx(expected)


def test_a_model_that_only_predicts_gets_the_label_metrics() -> None:
    X = np.array([[-1.0], [2.0], [3.0], [-4.0], [5.0]])
    scores = evaluate(Threshold(), X, [0, 1, 0, 0, 1])
    assert set(scores) == {"accuracy", "precision", "recall", "f1"}
    assert scores["accuracy"] == pytest.approx(0.8)
    assert scores["precision"] == pytest.approx(2 / 3)


def test_roc_auc_is_left_out_when_a_class_is_missing_from_y(iris: Any, iris_model: Any) -> None:
    X, y = iris
    model = iris_model
    two_classes = y != 2
    scores = evaluate(model, X[two_classes], y[two_classes])
    assert "roc_auc" not in scores
    assert "log_loss" in scores  # still defined: the model's three classes are known


def test_regression_scores_equal_scikit_learn() -> None:
    X, y = make_regression(n_samples=60, n_features=3, noise=5.0, random_state=0)
    model = LinearRegression().fit(X[:40], y[:40])
    predicted = model.predict(X[40:])
    scores = evaluate(model, X[40:], y[40:])
    assert scores == pytest.approx(
        {
            "rmse": np.sqrt(metrics.mean_squared_error(y[40:], predicted)),
            "mae": metrics.mean_absolute_error(y[40:], predicted),
            "r2": metrics.r2_score(y[40:], predicted),
        },
        rel=1e-12,
    )


def test_pandas_polars_numpy_and_lists_give_the_same_scores(iris: Any) -> None:
    X, y = iris
    model = LogisticRegression(max_iter=300).fit(X.to_numpy(), y.to_numpy())
    expected = evaluate(model, X.to_numpy(), y.to_numpy())
    assert evaluate(model, X.to_numpy().tolist(), y.tolist()) == expected
    assert evaluate(model, pl.from_pandas(X).to_numpy(), pl.from_pandas(y)) == expected
    assert evaluate(model, X.to_numpy(), y.to_frame()) == expected  # a one-column frame


def test_the_prefix_names_returned_and_logged_metrics(binary: Any, sink: FakeSink) -> None:
    model, X, y = binary
    scores = evaluate(model, X, y, prefix="test_")
    assert set(scores) == {f"test_{k}" for k in evaluate(model, X, y, log=False)}
    assert sink.logged() == scores
    assert set(sink.artifacts) == {"test_confusion_matrix.png"}


@pytest.mark.parametrize(
    ("y", "task"),
    [
        ([0, 1, 1, 0, 1], "classification"),  # few distinct integers
        (["a", "b", "b", "a", "a"], "classification"),
        ([True, False, True, True, False], "classification"),
        ([0.5, 1.5, 2.0, 3.5, 1.0], "regression"),
        (list(range(0, 50, 2))[:5], "classification"),
    ],
)
def test_the_task_is_inferred_from_y_for_other_models(y: list[object], task: str) -> None:
    class Echo:
        def predict(self, X: Any) -> list[object]:
            return list(y)

    scores = evaluate(Echo(), [[0]] * 5, y)
    assert ("accuracy" in scores) == (task == "classification")
    assert ("rmse" in scores) == (task == "regression")


def test_many_distinct_integers_are_a_regression_target() -> None:
    y = list(range(30))

    class Echo:
        def predict(self, X: Any) -> list[int]:
            return y

    assert evaluate(Echo(), [[0]] * 30, y)["rmse"] == 0.0


def test_a_scikit_learn_regressor_decides_the_task_over_y() -> None:
    X = np.arange(10.0).reshape(-1, 1)
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    scores = evaluate(LinearRegression().fit(X, y), X, y)
    assert set(scores) == {"rmse", "mae", "r2"}
    with pytest.raises(ConveyorError, match="the model predicted continuous numbers"):
        evaluate(LinearRegression().fit(X, y + 0.5), X, y, task="classification")


def test_scores_and_a_png_confusion_matrix_are_logged_in_a_run(binary: Any, sink: FakeSink) -> None:
    model, X, y = binary
    pyplot_was_loaded = "matplotlib.pyplot" in sys.modules
    scores = evaluate(model, X, y)
    assert sink.logged() == scores
    assert all(step is None for _, _, step in sink.points)
    png = sink.artifacts["confusion_matrix.png"]
    assert isinstance(png, bytes)
    assert png.startswith(b"\x89PNG")
    if not pyplot_was_loaded:
        assert "matplotlib.pyplot" not in sys.modules  # no GUI backend was chosen


def test_nothing_is_logged_when_log_is_false(binary: Any, sink: FakeSink) -> None:
    model, X, y = binary
    evaluate(model, X, y, log=False)
    assert sink.points == []
    assert sink.artifacts == {}


def test_outside_a_run_evaluate_neither_logs_nor_warns(binary: Any) -> None:
    model, X, y = binary
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate(model, X, y)["accuracy"] > 0.5
        with activate(RunContext("r1", "churn", "evaluate", 1, tracker=None)):
            assert evaluate(model, X, y)["accuracy"] > 0.5


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    _evaluate._figure_type.cache_clear()
    yield
    _evaluate._figure_type.cache_clear()


@pytest.mark.usefixtures("without_matplotlib")
def test_without_matplotlib_the_figure_is_skipped_with_one_warning(
    binary: Any, sink: FakeSink
) -> None:
    model, X, y = binary
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so a second warning would be seen, not deduplicated
        evaluate(model, X, y)
        evaluate(model, X, y, prefix="again_")
    assert [w.category for w in caught] == [ConveyorWarning]
    assert "pip install matplotlib" in str(caught[0].message)
    assert sink.artifacts == {}
    assert "again_accuracy" in sink.logged()


@pytest.mark.parametrize(
    ("model", "X", "y", "message"),
    [
        (Threshold(), [[1.0], [2.0]], [1, 0, 1], "X has 2 rows but y has 3 targets"),
        (Threshold(), np.empty((0, 2)), [], "empty"),
        (object(), [[1.0]], [1], "needs a model with a predict() method; object has none"),
        (Threshold(), [[1.0], [2.0]], ["a", "b"], "regression metrics need numeric targets"),
        (Threshold(), [[1.0], [2.0]], [0.5, 1.25], "classification metrics need class labels"),
        (Threshold(), [[1.0], [2.0]], [1.0, float("nan")], "y has 1 missing value"),
        (Threshold(), [[1.0], [2.0]], pd.Series([1, None], dtype="Int64"), "missing value"),
        (Threshold(), [[1.0], [2.0]], [[1, 2], [3, 4]], "one column of targets"),
        (Threshold(), [[1.0], [2.0]], None, "y is None"),
        (Threshold(), 42, [1], "X must be a table of features"),
    ],
)
def test_bad_inputs_are_named(model: Any, X: Any, y: Any, message: str) -> None:
    task = {
        "regression metrics need numeric targets": "regression",
        "classification metrics need class labels": "classification",
    }.get(message)
    with pytest.raises(ConveyorError, match=re.escape(message)):
        evaluate(model, X, y, task)  # type: ignore[arg-type]


def test_an_unknown_task_and_a_failing_predict_are_reported(binary: Any) -> None:
    model, X, y = binary
    with pytest.raises(ConveyorError, match="task must be 'classification' or 'regression'"):
        evaluate(model, X, y, "ranking")  # type: ignore[arg-type]
    with pytest.raises(ConveyorError, match=r"LogisticRegression.predict\(\) failed: ValueError"):
        evaluate(model, X[:, :2], y)


def test_a_regressor_predicting_labels_is_reported() -> None:
    class Labeller:
        def predict(self, X: Any) -> list[str]:
            return ["a"] * len(X)

    with pytest.raises(ConveyorError, match="numeric predictions"):
        evaluate(Labeller(), [[1], [2]], [1.5, 2.5])


def test_cross_validation_matches_cross_val_score(iris: Any) -> None:
    X, y = iris
    model = LogisticRegression(max_iter=300)
    summary = cross_validate(model, X, y, cv=4, random_state=3)
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    expected = cross_val_score(model, X, y, cv=folds, scoring="accuracy")
    assert summary["accuracy_mean"] == pytest.approx(expected.mean())
    assert summary["accuracy_std"] == pytest.approx(expected.std())
    assert summary["folds"] == 4.0
    assert {"f1_mean", "roc_auc_std", "log_loss_mean"} <= set(summary)
    assert not hasattr(model, "coef_")  # the model passed in stays unfitted


def test_regression_folds_are_shuffled_kfold() -> None:
    X, y = make_regression(n_samples=40, n_features=2, noise=1.0, random_state=1)
    summary = cross_validate(LinearRegression(), X, y, cv=3, parallelism=1)
    folds = KFold(n_splits=3, shuffle=True, random_state=0)
    expected = cross_val_score(LinearRegression(), X, y, cv=folds, scoring="r2")
    assert summary["r2_mean"] == pytest.approx(expected.mean())
    assert set(summary) == {f"{m}_{s}" for m in ("rmse", "mae", "r2") for s in ("mean", "std")} | {
        "folds"
    }


def test_cross_validation_logs_fold_series_and_summaries(iris: Any, sink: FakeSink) -> None:
    X, y = iris
    summary = cross_validate(LogisticRegression(max_iter=300), X, y, cv=3)
    series = [(value, step) for key, value, step in sink.points if key == "cv_accuracy"]
    assert [step for _, step in series] == [0, 1, 2]
    assert np.mean([value for value, _ in series]) == pytest.approx(summary["accuracy_mean"])
    logged = sink.logged()
    assert logged["accuracy_mean"] == summary["accuracy_mean"]
    assert "folds" not in logged
    assert sink.artifacts == {}  # folds draw no figures


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cv": 1}, "cv must be a number of folds from 2 to the number of rows"),
        ({"cv": 200}, "from 2 to the number of rows \\(150\\)"),
        ({"cv": 2.5}, "cv must be"),
        ({"parallelism": 0}, "parallelism must be a number of folds at once"),
    ],
)
def test_bad_fold_counts_are_reported(iris: Any, kwargs: dict[str, Any], message: str) -> None:
    X, y = iris
    with pytest.raises(ConveyorError, match=message):
        cross_validate(LogisticRegression(), X, y, **kwargs)


def test_cross_validation_errors_name_the_problem() -> None:
    with pytest.raises(ConveyorError, match=re.escape("needs a model with a fit() method")):
        cross_validate(Threshold(), [[1]] * 4, [0, 1, 0, 1], cv=2)
    with pytest.raises(ConveyorError, match="cannot split y into 5 folds"):
        cross_validate(LogisticRegression(), [[i] for i in range(6)], [0, 0, 0, 0, 1, 1])

    class Broken(Threshold):
        def fit(self, X: Any, y: Any) -> Broken:
            raise RuntimeError("out of memory")

    with pytest.raises(
        ConveyorError, match=re.escape("Broken.fit() failed: RuntimeError: out of memory")
    ):
        cross_validate(Broken(), [[1]] * 4, [0, 1, 0, 1], cv=2)
