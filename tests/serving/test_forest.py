"""The forest fast path: the same answers as scikit-learn's own predict, or it stays off."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)

from conveyor.serving._forest import confirmed, forest_path


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris(as_frame=True)
    return data.data, data.target.map({0: "setosa", 1: "versicolor", 2: "virginica"})


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_classifiers_give_the_same_labels_and_probabilities(
    cls: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = iris
    model = cls(n_estimators=25, min_samples_leaf=3, random_state=0).fit(x, y)
    path = forest_path(model)
    assert path is not None
    assert np.array_equal(path.predict_proba(x), model.predict_proba(x))
    assert np.array_equal(path.predict(x), model.predict(x))
    assert confirmed(path, model, x)


@pytest.mark.parametrize("cls", [RandomForestRegressor, ExtraTreesRegressor])
def test_regressors_give_the_same_values(cls: Any) -> None:
    x, y = load_diabetes(return_X_y=True)
    model = cls(n_estimators=25, random_state=0).fit(x, y)
    path = forest_path(model)
    assert path is not None
    assert np.array_equal(path.predict(x), model.predict(x))
    assert confirmed(path, model, x)


def test_other_models_and_multi_output_forests_have_none(
    iris: tuple[pd.DataFrame, pd.Series],
) -> None:
    x, y = iris
    assert forest_path(GradientBoostingClassifier(n_estimators=5).fit(x, y)) is None
    two_outputs = RandomForestRegressor(n_estimators=3).fit(x, np.column_stack([y.index, y.index]))
    assert forest_path(two_outputs) is None
    assert forest_path(object()) is None


def test_a_model_whose_answers_differ_is_not_confirmed(
    iris: tuple[pd.DataFrame, pd.Series],
) -> None:
    x, y = iris
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    path = forest_path(model)
    assert path is not None

    class Shifted(RandomForestClassifier):  # type: ignore[misc]
        def predict_proba(self, data: Any) -> Any:
            return super().predict_proba(data) * 0.5

    shifted = Shifted(n_estimators=5, random_state=0).fit(x, y)
    assert not confirmed(path, shifted, x)
    assert not confirmed(path, model, x.iloc[:, :2])  # an input it cannot take
