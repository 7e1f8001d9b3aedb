"""The web UI's monitor pages (drift per feature over time, alerts) and an artifact's page
(schema, profile, who produced and who read it, its lineage graph)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

import conveyor as cv
from conveyor.core import content_address
from conveyor.server._app import create_server_app
from conveyor.store import (
    ArtifactLink,
    ArtifactRecord,
    MemoryArtifactStore,
    MemoryMetadataStore,
    MetadataStore,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
    RunRecord,
    StepRunRecord,
    WriteBatch,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def check(token: str) -> tuple[str, str]:
    if token != "tok-viewer":
        raise ValueError("no such token")
    return "vera", "viewer"


def drift(amount_psi: float, share: float) -> dict[str, object]:
    features = {
        "amount": {"psi": amount_psi, "js": 0.1, "p_value": 0.2, "drifted": amount_psi >= 0.2},
        "country": {"psi": 0.01, "js": 0.01, "p_value": 0.9, "drifted": False},
    }
    return {
        "drift": {"method": "psi", "threshold": 0.2, "share_drifted": share, "features": features}
    }


def watched(store: MetadataStore) -> None:
    store.put_monitor(MonitorRecord("churn-drift", "churn@production", {"window": "1h"}, T0, T0))
    for hour, psi in enumerate((0.05, 0.1, 0.4)):
        evaluation = MonitorEvaluation(
            "churn-drift", "churn", 1, T0 + timedelta(hours=hour), None, None, 500,
            "firing" if psi >= 0.2 else "ok", drift(psi, 0.5 if psi >= 0.2 else 0.0),
        )  # fmt: skip
        alerts = ()
        if psi >= 0.2:
            alerts = (MonitorAlert(0, "churn-drift", "drift", "amount drifted: PSI 0.4", T0),)
        store.record_evaluation(evaluation, alerts)


def lineage(store: MetadataStore) -> str:
    """raw (a table with a profile) made by ``load``, read by ``train``; returns raw's id."""
    frame = pd.DataFrame({"amount": [1.0, 2.0, 4.0], "country": ["fr", "fr", "<de>"]})
    meta = {
        "columns": ["amount", "country"],
        "dtypes": {"amount": "float64", "country": "string"},
        "profile": cv.profile(frame).to_dict(),
    }
    raw = ArtifactRecord(
        content_address(b"raw"), "parquet", "pandas.DataFrame", 3, T0, 3, meta=meta
    )
    model = ArtifactRecord(content_address(b"model"), "skops", "Forest", 5, T0)
    store.create_run(RunRecord("run-1", "churn", "running", T0))
    load = StepRunRecord(
        "s-load", "run-1", "load", "succeeded", T0, T0, outputs=(ArtifactLink("out", raw.id),)
    )
    train = StepRunRecord(
        "s-train", "run-1", "train", "succeeded", T0, T0 + timedelta(seconds=1),
        inputs=(ArtifactLink("data", raw.id),), outputs=(ArtifactLink("out", model.id),),
    )  # fmt: skip
    store.commit(WriteBatch(artifacts=(raw, model), step_runs=(load, train)))
    return raw.id


@pytest.fixture
def viewer(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    store = MemoryMetadataStore()
    watched(store)
    raw = lineage(store)
    app = create_server_app(store, MemoryArtifactStore(), check, uploads=tmp_path / "uploads")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/ui/login", data={"token": "tok-viewer"}).status_code == 200
        yield client, raw


def test_the_monitors_page_shows_each_monitor_with_its_newest_evaluation(
    viewer: tuple[TestClient, str],
) -> None:
    html = viewer[0].get("/ui/monitors").text
    assert '<a href="/ui/monitors/churn-drift">churn-drift</a>' in html
    assert '<span class="pill firing">firing</span>' in html and ">50%<" in html


def test_a_monitor_shows_drift_per_feature_over_time_and_its_alerts(
    viewer: tuple[TestClient, str],
) -> None:
    html = viewer[0].get("/ui/monitors/churn-drift").text
    assert 'data-chart="amount: psi"' in html and 'data-chart="country: psi"' in html
    amount = html[html.index('data-chart="amount: psi"') :]
    amount = amount[: amount.index("</figure>")]
    assert amount.count('<circle class="dot s0"') == 3  # one point per evaluation
    assert '<line class="threshold"' in amount  # the rule's 0.2
    row = re.search(r"<tr><td>amount</td>(.*?)</tr>", html)
    assert (
        row is not None and row[1].count("cell steady") == 2 and row[1].count("cell drifted") == 1
    )
    assert "amount drifted: PSI 0.4" in html


def test_an_artifact_shows_its_schema_profile_producers_and_readers(
    viewer: tuple[TestClient, str],
) -> None:
    client, raw = viewer
    page = client.get(f"/ui/artifacts/{raw}")
    html = page.text
    assert page.status_code == 200
    assert '<td>amount</td><td class="mono">float64</td>' in html
    assert "&lt;de&gt;" in html and "<de>" not in html  # a top value, escaped
    produced = html[html.index('id="producers"') : html.index('id="consumers"')]
    assert ">load</a>" in produced and ">train</a>" not in produced
    read = html[html.index('id="consumers"') : html.index('id="schema"')]
    assert ">train</a>" in read and "data" in read
    assert 'class="node root"' in html and 'class="node succeeded"' in html
    assert len(re.findall(r'<path class="edge"', html)) == 3  # load → raw → train → model


def test_an_artifact_prefix_finds_it_and_unknown_ids_are_404_pages(
    viewer: tuple[TestClient, str],
) -> None:
    client, raw = viewer
    assert client.get(f"/ui/artifacts/{raw[:16]}").status_code == 200
    assert client.get("/ui/artifacts/sha256:" + "0" * 64).status_code == 404
    assert client.get("/ui/monitors/nope").status_code == 404
