"""Hot swaps: the server follows its alias, tries a new version before serving it, keeps the
old one when the new one fails, and drops no request meanwhile."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor.serving import create_app
from tests.serving._servers import running, wait_until
from tests.serving.conftest import Registered

pytestmark = pytest.mark.slow


class Broken:
    """A model that loads but cannot predict: it must never replace a working version."""

    def predict(self, data: Any) -> Any:
        raise RuntimeError("weights are corrupt")


def _served_version(url: str) -> int:
    (model,) = httpx.get(f"{url}/models").json()["models"]
    return int(model["version"])


def _second_flowers(store: Registered) -> None:
    model = LogisticRegression(C=0.001, max_iter=500).fit(
        store.flowers_X, np.arange(len(store.flowers_X)) % 2
    )
    cv.models.register("flowers", model, reference=store.flowers_X, settings=store.settings)


def test_a_moved_alias_is_swapped_in_without_failing_a_request(fresh_store: Registered) -> None:
    app = create_app(
        "flowers@production",
        settings=fresh_store.settings,
        poll_interval_s=0.1,
        log_predictions=False,
    )
    records = fresh_store.flowers_X.head(2).to_dict(orient="records")
    statuses: Counter[int] = Counter()
    versions: Counter[int] = Counter()
    stop = threading.Event()

    def hammer(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                answer = client.post("/predict", json={"records": records})
                statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    versions[answer.json()["version"]] += 1

    with running(app) as url:
        threads = [threading.Thread(target=hammer, args=(url,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        wait_until(lambda: versions[1] >= 20, 60, "no traffic on version 1")
        _second_flowers(fresh_store)
        cv.models.promote("flowers", 2, "production", settings=fresh_store.settings)
        wait_until(lambda: versions[2] >= 20, 60, "version 2 was never served")
        stop.set()
        for thread in threads:
            thread.join()
        metrics = httpx.get(f"{url}/metrics").text
    assert set(statuses) == {200}, statuses
    assert 'conveyor_model_swaps_total{model="flowers"} 1.0' in metrics
    assert (
        'model="flowers",ref="flowers@production",version="2"} 1.0'
        in metrics.split("conveyor_model_info{", 1)[-1]
    )
    assert 'version="1"} 1.0' not in metrics.split("conveyor_model_info")[-1]


def test_a_version_that_fails_keeps_the_old_one_serving(fresh_store: Registered) -> None:
    app = create_app(
        "bc@production",
        settings=fresh_store.settings,
        poll_interval_s=0.1,
        log_predictions=False,
    )
    with running(app) as url:
        cv.models.register(
            "bc",
            Broken(),
            reference=fresh_store.bc_X,
            flavor="python",
            settings=fresh_store.settings,
        )
        cv.models.promote("bc", 2, "production", settings=fresh_store.settings)
        wait_until(
            lambda: (
                'conveyor_model_load_failures_total{model="bc",version="2"} 1.0'
                in httpx.get(f"{url}/metrics").text
            ),
            60,
            "the failed load was not counted",
        )
        answer = httpx.post(f"{url}/predict", json={"data": fresh_store.bc_X[:1].tolist()})
        assert answer.status_code == 200
        assert answer.json()["version"] == 1
        assert httpx.get(f"{url}/readyz").status_code == 200
        (listed,) = httpx.get(f"{url}/models").json()["models"]
        assert "failed on its own reference rows" in listed["problem"]
        assert "weights are corrupt" in listed["problem"]
        forced = httpx.post(f"{url}/admin/reload")
        assert forced.status_code == 500
        assert forced.json()["models"][0]["version"] == 1
        assert "weights are corrupt" in forced.json()["models"][0]["error"]
        cv.models.promote("bc", 1, "production", settings=fresh_store.settings)
        assert httpx.post(f"{url}/admin/reload").status_code == 200


def test_admin_reload_swaps_at_once(fresh_store: Registered) -> None:
    app = create_app(
        "flowers@production",
        settings=fresh_store.settings,
        poll_interval_s=3600,
        log_predictions=False,
    )
    with running(app) as url:
        _second_flowers(fresh_store)
        cv.models.promote("flowers", 2, "production", settings=fresh_store.settings)
        assert _served_version(url) == 1  # the next poll is an hour away
        answer = httpx.post(f"{url}/admin/reload?model=flowers").json()
        assert answer["models"][0] == {
            "model": "flowers",
            "ref": "flowers@production",
            "version": 2,
            "swapped": True,
            "error": None,
        }
        assert _served_version(url) == 2
        unknown = httpx.post(f"{url}/admin/reload?model=nope")
        assert unknown.status_code == 404


def test_a_fixed_version_is_not_followed(fresh_store: Registered) -> None:
    app = create_app(
        "flowers@1", settings=fresh_store.settings, poll_interval_s=0.1, log_predictions=False
    )
    with running(app) as url:
        _second_flowers(fresh_store)
        cv.models.promote("flowers", 2, "production", settings=fresh_store.settings)
        httpx.post(f"{url}/admin/reload")
        assert _served_version(url) == 1


def test_latest_follows_new_versions(fresh_store: Registered) -> None:
    app = create_app(
        "flowers", settings=fresh_store.settings, poll_interval_s=0.1, log_predictions=False
    )
    with running(app) as url:
        _second_flowers(fresh_store)
        wait_until(lambda: _served_version(url) == 2, 60, "latest did not move to version 2")


def test_a_model_that_cannot_load_is_not_ready(fresh_store: Registered) -> None:
    cv.models.register(
        "broken",
        Broken(),
        reference=fresh_store.bc_X,
        flavor="python",
        settings=fresh_store.settings,
    )
    app = create_app("broken", settings=fresh_store.settings, log_predictions=False)
    with running(app, ready=False) as url:
        wait_until(
            lambda: httpx.get(f"{url}/readyz").json()["models"][0]["problem"] is not None,
            60,
            "the load failure was not reported",
        )
        assert httpx.get(f"{url}/readyz").status_code == 503
        answer = httpx.post(f"{url}/predict", json={"data": [[1.0] * 30]})
        assert answer.status_code == 503
        assert "weights are corrupt" in answer.json()["error"]["message"]
