"""The web UI's pipelines, runs, run and comparison pages: what each role sees, paging through
many runs without gaps, sorting, filtering, and a clear 4xx page for what a person got wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from conveyor.core import content_address
from conveyor.store import (
    ArtifactLink,
    ArtifactRecord,
    MemoryMetadataStore,
    MetadataStore,
    MetricPoint,
    RunRecord,
    StepRunRecord,
    TrackingBatch,
    WriteBatch,
    open_metadata_store,
)
from tests.server._ui_clients import T0, USERS, signed_in


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def artifact(value: bytes) -> ArtifactRecord:
    return ArtifactRecord(
        content_address(value), "json", "builtins.dict", len(value), T0, inline=value
    )


def step(
    run_id: str,
    name: str,
    start: float,
    end: float,
    ins: dict[str, str],
    outs: dict[str, str],
    **more: object,
) -> StepRunRecord:
    return StepRunRecord(
        id=f"step-{run_id}-{name}",
        run_id=run_id,
        step=name,
        status=more.pop("status", "succeeded"),  # type: ignore[arg-type]
        started_at=at(start),
        finished_at=at(end),
        duration=end - start,
        attempts=1,
        inputs=tuple(ArtifactLink(k, v) for k, v in ins.items()),
        outputs=tuple(ArtifactLink(k, v) for k, v in outs.items()),
        **more,  # type: ignore[arg-type]
    )


def trained(store: MetadataStore, run_id: str, n: int, accuracy: float, start: float) -> None:
    """A run of ``churn``: load → train → evaluate, with params, a loss series and logs."""
    store.create_run(RunRecord(run_id, "churn", "running", at(start), params={"n": n}, user="ana"))
    raw, model, scores = (artifact(f'{{"{k}": {n}}}'.encode()) for k in ("raw", "model", "scores"))
    steps = (
        step(run_id, "load", start, start + 1, {}, {"out": raw.id}, logs="read 10 rows\n"),
        step(
            run_id, "train", start + 1, start + 3, {"data": raw.id}, {"out": model.id},
            logs="fitting <forest>\n",
        ),
        step(run_id, "evaluate", start + 3, start + 4, {"model": model.id}, {"out": scores.id}),
    )  # fmt: skip
    store.commit(WriteBatch(artifacts=(raw, model, scores), step_runs=steps))
    losses = tuple(MetricPoint("loss", 1.0 / (s + 1), s, start + s, "train") for s in range(4))
    score = MetricPoint("accuracy", accuracy, 0, start, "evaluate")
    store.log_batch(
        TrackingBatch(run_id, params=(("model", '"forest"'),), metrics=(*losses, score))
    )
    store.finish_run(run_id, "succeeded", at(start + 4))


@pytest.fixture
def store() -> MetadataStore:
    found = MemoryMetadataStore()
    trained(found, "run-aaa1", 10, 0.81, 0)
    trained(found, "run-bbb2", 30, 0.92, 10)
    found.create_run(
        RunRecord("run-ccc3", "fraud", "running", at(20), params={"note": "<script>x</script>"})
    )
    return found


@pytest.fixture
def viewer(store: MetadataStore, tmp_path: Path) -> Iterator[TestClient]:
    with signed_in(store, tmp_path) as client:
        yield client


def run_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-run="([^"]+)"', html)


@pytest.mark.parametrize("token", sorted(USERS))
@pytest.mark.parametrize(
    "path",
    ["/ui/pipelines", "/ui/runs", "/ui/runs/run-aaa1", "/ui/compare?run=run-aaa1&run=run-bbb2"],
)
def test_every_role_sees_every_page_with_who_they_are(
    store: MetadataStore, tmp_path: Path, token: str, path: str
) -> None:
    name, role = USERS[token]
    with signed_in(store, tmp_path, token) as client:
        page = client.get(path)
    assert page.status_code == 200, page.text
    assert f'<span>{name} <span class="role">{role}</span>' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_the_pipelines_page_lists_each_pipeline_with_its_newest_run(viewer: TestClient) -> None:
    html = viewer.get("/ui/pipelines").text
    assert html.index(">churn</a>") < html.index(">fraud</a>")
    assert 'href="/ui/runs/run-bbb2"' in html and 'href="/ui/runs/run-aaa1"' not in html
    assert 'href="/ui/runs/run-ccc3"' in html


def test_runs_are_newest_first_with_their_params_and_metrics(viewer: TestClient) -> None:
    html = viewer.get("/ui/runs").text
    assert run_ids(html) == ["run-ccc3", "run-bbb2", "run-aaa1"]
    assert ">accuracy</a>" in html and ">loss</a>" in html and ">n</a>" in html
    assert "0.92" in html and "forest" in html


def test_filters_combine_pipeline_status_text_and_an_expression(viewer: TestClient) -> None:
    assert run_ids(viewer.get("/ui/runs?pipeline=churn").text) == ["run-bbb2", "run-aaa1"]
    assert run_ids(viewer.get("/ui/runs?status=running").text) == ["run-ccc3"]
    assert run_ids(viewer.get("/ui/runs?q=BB").text) == ["run-bbb2"]
    assert run_ids(viewer.get("/ui/runs?q=%25").text) == []  # a wildcard is matched as itself
    page = viewer.get("/ui/runs", params={"filter": "metrics.accuracy > 0.9 and params.n >= 20"})
    assert run_ids(page.text) == ["run-bbb2"]
    assert 'value="metrics.accuracy &gt; 0.9 and params.n &gt;= 20"' in page.text  # kept, escaped


def test_sorting_by_a_column_and_flipping_it(viewer: TestClient) -> None:
    ascending = viewer.get("/ui/runs?sort=metrics.accuracy&dir=asc").text
    assert run_ids(ascending) == ["run-aaa1", "run-bbb2", "run-ccc3"]  # without it: last
    assert "accuracy ▲" in ascending
    assert 'href="/ui/runs?sort=metrics.accuracy&amp;dir=desc"' in ascending  # the header flips
    descending = viewer.get("/ui/runs?sort=metrics.accuracy&dir=desc").text
    assert run_ids(descending) == ["run-bbb2", "run-aaa1", "run-ccc3"]
    assert run_ids(viewer.get("/ui/runs?sort=pipeline&dir=desc").text)[0] == "run-ccc3"


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("filter=metrics.accuracy+%3E", 400, "invalid filter"),
        ("filter=nonsense+%3D+1", 400, "unknown attribute"),
        ("page=0", 400, "page must be a whole number"),
        ("page=two", 400, "page must be a whole number"),
        ("page=%C2%B2", 400, "page must be a whole number"),
        ("per_page=7", 400, "per_page is one of"),
        ("status=done", 400, "unknown status"),
        ("sort=duration", 400, "cannot sort by"),
        ("sort=metrics.accuracy&dir=up", 400, "dir is asc or desc"),
        ("page=9", 404, "past the last run"),
    ],
)
def test_bad_runs_queries_get_a_page_saying_what_is_wrong(
    viewer: TestClient, query: str, status: int, says: str
) -> None:
    page = viewer.get(f"/ui/runs?{query}")
    assert page.status_code == status
    assert says in page.text and "Traceback" not in page.text


def test_many_runs_page_through_every_run_once_in_order(tmp_path: Path) -> None:
    store = open_metadata_store(f"sqlite:///{tmp_path}/c.db")
    for i in range(130):
        store.create_run(RunRecord(f"run-{i:04d}", "big", "succeeded", at(i // 2)))  # ties too
    expected = [r.id for r in store.list_runs(limit=1000)]
    seen: list[str] = []
    with signed_in(store, tmp_path) as client:
        url: str | None = "/ui/runs?per_page=25"
        pages = 0
        while url is not None:
            html = client.get(url).text
            ids = run_ids(html)
            assert len(ids) == 25 or (pages == 5 and len(ids) == 5)
            seen += ids
            pages += 1
            found = re.search(r'<a href="([^"]+)" rel="next">', html)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert f"page {pages}" in html
        assert 'rel="prev"' in html
    store.close()
    assert pages == 6 and seen == expected


def test_a_run_shows_its_graph_timeline_metrics_logs_and_artifacts(viewer: TestClient) -> None:
    page = viewer.get("/ui/runs/run-bbb2")
    html = page.text
    assert page.status_code == 200
    assert html.count('class="node succeeded"') == 3
    assert len(re.findall(r'<path class="edge"', html)) == 2  # load → train → evaluate
    assert html.count('<rect class="bar succeeded"') == 3
    assert 'data-chart="loss"' in html and html.count('<circle class="dot s0"') == 4
    assert "fitting &lt;forest&gt;" in html and "<forest>" not in html  # logs, escaped
    assert 'href="/ui/artifacts/sha256%3A' in html
    assert "parameter" in html and ">30<" in html


def test_a_run_id_prefix_finds_the_run_and_an_unknown_one_is_a_404(viewer: TestClient) -> None:
    assert "run-bbb2" in viewer.get("/ui/runs/run-bb").text
    missing = viewer.get("/ui/runs/run-nope")
    assert missing.status_code == 404 and "run-nope" in missing.text


def test_values_are_escaped_everywhere(viewer: TestClient) -> None:
    html = viewer.get("/ui/runs/run-ccc3").text
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html


def test_comparing_runs_marks_the_differences_and_overlays_the_series(viewer: TestClient) -> None:
    page = viewer.get("/ui/compare?run=run-aaa1&run=run-bbb2")
    html = page.text
    assert '<tr class="differs" data-key="n">' in html
    assert '<tr data-key="model">' in html  # the same in both: not marked
    assert '<tr class="differs" data-key="accuracy">' in html
    chart = html[html.index('data-chart="loss"') :]
    assert '<path class="line s0"' in chart and '<path class="line s1"' in chart


@pytest.mark.parametrize(
    ("query", "status"),
    [("run=run-aaa1", 400), ("", 400), ("run=run-aaa1&run=run-zzz9", 404)],
)
def test_comparing_fewer_than_two_or_unknown_runs_is_refused(
    viewer: TestClient, query: str, status: int
) -> None:
    assert viewer.get(f"/ui/compare?{query}").status_code == status
