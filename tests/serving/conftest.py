"""Models registered in a store of the test's own, and apps serving them.

``bc``: a RandomForestClassifier fitted on a numpy array (30 positional float columns, "0".."29").
``flowers``: a LogisticRegression fitted on a DataFrame with named float columns, promoted to
``production`` (version 1).
``prices``: a LinearRegression (a regressor) on named columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from starlette.testclient import TestClient

import conveyor as cv
from conveyor.core import Settings, load_settings
from conveyor.serving import create_app
from tests.serving._servers import wait_until


@dataclass(frozen=True)
class Registered:
    settings: Settings
    bc_X: np.ndarray[Any, Any]
    bc_model: RandomForestClassifier
    flowers_X: pd.DataFrame
    flowers_model: LogisticRegression
    prices_X: pd.DataFrame
    prices_model: LinearRegression


@pytest.fixture(scope="session")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """One store for the session, with the three models; tests must not move its aliases
    (use ``fresh_store`` for that)."""
    return _register(tmp_path_factory.mktemp("serving-store"))


@pytest.fixture
def fresh_store(tmp_path: Path) -> Registered:
    """A store of this test's own, for tests that register versions or move aliases."""
    return _register(tmp_path)


def _register(folder: Path) -> Registered:
    settings = load_settings({}, folder)
    bc_X, bc_y = load_breast_cancer(return_X_y=True)
    bc = RandomForestClassifier(n_estimators=10, random_state=0).fit(bc_X, bc_y)
    cv.models.register("bc", bc, reference=bc_X, settings=settings)
    cv.models.promote("bc", 1, "production", settings=settings)
    iris = load_iris(as_frame=True)
    flowers_X = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    flowers = LogisticRegression(max_iter=500).fit(flowers_X, iris.target)
    cv.models.register("flowers", flowers, reference=flowers_X, settings=settings)
    cv.models.promote("flowers", 1, "production", settings=settings)
    rng = np.random.default_rng(0)
    prices_X = pd.DataFrame({"rooms": rng.integers(1, 6, 200), "area": rng.uniform(20, 200, 200)})
    prices = LinearRegression().fit(prices_X, prices_X["area"] * 3000 + prices_X["rooms"] * 1e4)
    cv.models.register("prices", prices, reference=prices_X, settings=settings)
    cv.models.promote("prices", 1, "production", settings=settings)
    return Registered(settings, bc_X, bc, flowers_X, flowers, prices_X, prices)


@pytest.fixture
def client(registered: Registered) -> Iterator[TestClient]:
    """A client of an app serving ``bc@production``, with its model loaded."""
    app = create_app("bc@production", settings=registered.settings, log_predictions=False)
    with TestClient(app) as test_client:
        wait_loaded(test_client)
        yield test_client


MODELS = ["bc@production", "flowers@production", "prices@production"]


@pytest.fixture
def many(registered: Registered) -> Iterator[TestClient]:
    """A client of an app serving the three models."""
    app = create_app(MODELS, settings=registered.settings, log_predictions=False)
    with TestClient(app) as test_client:
        wait_loaded(test_client)
        yield test_client


def wait_loaded(client: TestClient, timeout: float = 60.0) -> None:
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout, "models not loaded")
