"""The web UI in a real browser: Debian's Chromium, driven by Playwright, against a real
``conveyor server`` process over a project with real runs of a small pipeline, a model with two
versions and an alias moved twice, and an admin and a viewer made with the CLI.

Screenshots of each page go to ``test-artifacts/ui/`` at the repository's root.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_team_server import cli as conveyor
from tests.integration.test_team_server import token_for
from tests.serving._servers import (
    REPO,
    Process,
    conveyor_env,
    free_port,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-artifacts" / "ui"

PIPELINE = '''
"""Iris with a forest whose size is a parameter; it logs a series and registers the model."""

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

import conveyor as cv


@cv.step
def load() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    print(f"loaded {len(frame)} rows")
    return frame


@cv.step
def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = frame.sample(frac=1.0, random_state=0)
    return shuffled.iloc[:105], shuffled.iloc[105:]


@cv.step
def train(train_df: pd.DataFrame, n_estimators: int = 10) -> RandomForestClassifier:
    cv.log_params({"n_estimators": n_estimators})
    x, y = train_df.drop(columns="target"), train_df["target"]
    model = RandomForestClassifier(random_state=0)
    for step in range(1, 6):
        model.set_params(n_estimators=max(1, n_estimators * step // 5)).fit(x, y)
        cv.log_metric("train_accuracy", float(model.score(x, y)) - 0.02 * (5 - step), step=step)
    return model


@cv.step
def evaluate(model: RandomForestClassifier, test_df: pd.DataFrame) -> dict[str, float]:
    scores = {"accuracy": float(model.score(test_df.drop(columns="target"), test_df["target"]))}
    cv.log_metrics(scores)
    return scores


@cv.pipeline
def iris(n_estimators: int = 10) -> None:
    train_df, test_df = split(load())
    model = train(train_df, n_estimators=n_estimators)
    cv.register_model("iris", model, metrics=evaluate(model, test_df), reference=train_df)
'''


@pytest.fixture(scope="module")
def team(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Process, Path, dict[str, str]]]:
    """The server, its home, and a token per role; version 2 of ``iris`` holds production,
    after version 1 did."""
    project = tmp_path_factory.mktemp("project")
    home = project / "home"
    (project / "pipeline.py").write_text(PIPELINE)
    for size in ("3", "40"):
        conveyor(home, "run", "pipeline.py:iris", "-p", f"n_estimators={size}")
    for version in ("1", "2"):
        conveyor(home, "models", "promote", "iris", version, "--alias", "production")
    tokens = {"admin": token_for(home, "ada", "admin"), "viewer": token_for(home, "vera", "viewer")}
    port = free_port()
    server = start_process(
        [sys.executable, "-m", "conveyor", "server", "--port", str(port)],
        f"http://127.0.0.1:{port}",
        project / "server.log",
        env=conveyor_env(home),
        cwd=project,
    )
    try:
        wait_until(lambda: server.answers("/healthz"), 120, "the server did not start")
        yield server, home, tokens
    finally:
        stop_process(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = "Debian's Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("dialog", lambda dialog: dialog.accept())  # the confirmations before a change
    yield opened
    context.close()
    assert problems == [], problems  # no script error on any page


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, server: Process, token: str, then: str = "/ui/runs") -> None:
    page.goto(server.url + then)
    assert "/ui/login" in page.url  # not signed in yet: sent to the login
    page.fill("textarea[name=token]", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"**{then}")


def test_an_admin_finds_a_run_reads_it_compares_and_moves_the_production_alias(
    team: tuple[Process, Path, dict[str, str]], page: Any
) -> None:
    server, home, tokens = team
    page.goto(server.url + "/ui/runs")
    shot(page, "01-login")
    sign_in(page, server, tokens["admin"])
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 2
    shot(page, "02-runs")

    page.fill("input[name=filter]", "params.n_estimators = 40")
    page.click("button:has-text('Apply')")
    page.wait_for_url("**filter=*")
    assert rows.count() == 1
    shot(page, "03-runs-filtered")

    rows.first.locator("td a.mono").click()
    page.wait_for_url("**/ui/runs/run-*")
    for name in ("load", "split", "train", "evaluate", "register_model"):
        assert page.locator(f'svg.dag a[data-node="{name}"]').count() == 1
    assert page.locator('svg.dag a.node.cached[data-node="load"]').count() == 1  # reused
    assert page.locator("svg.dag path.edge").count() >= 4
    chart = page.locator('figure[data-chart="train_accuracy"]')
    assert chart.is_visible() and chart.locator("circle.dot").count() == 5
    assert page.locator("svg rect.bar").count() == 5  # the timeline
    shot(page, "04-run")

    page.locator("table.artifacts a.mono").first.click()
    page.wait_for_url("**/ui/artifacts/sha256*")
    assert page.locator("svg.dag a.node.root").count() == 1
    assert page.locator("table.schema tbody tr").count() == 5  # iris: four measures, target
    shot(page, "05-artifact-lineage")

    page.goto(server.url + "/ui/runs")
    for box in page.locator("input[name=run]").all():
        box.check()
    page.click("button:has-text('Compare selected')")
    page.wait_for_url("**/ui/compare?run=*")
    assert page.locator('tr.differs[data-key="n_estimators"]').count() == 1
    assert page.locator('figure[data-chart="train_accuracy"] path.line').count() == 2
    shot(page, "06-compare")

    page.click("nav >> text=Models")
    page.click("text=iris")
    page.wait_for_url("**/ui/models/iris")
    shot(page, "07-model")
    page.fill('tr[data-alias="production"] input[name=reason]', "checking the old forest")
    page.click("button:has-text('Roll back to 1')")
    page.wait_for_url("**moved=production*")
    assert "production now points to version 1" in page.locator(".notice").inner_text()
    shot(page, "08-rolled-back")

    promote = page.locator("form[action$='/promote']")
    promote.locator("select[name=version]").select_option("2")
    promote.locator("input[name=alias]").fill("production")
    promote.locator("input[name=gate]").uncheck()  # version 2 is held to no gate
    promote.locator("button:has-text('Promote')").click()
    page.wait_for_url("**moved=production*")
    assert "production now points to version 2" in page.locator(".notice").inner_text()
    shot(page, "09-promoted")

    entries = json.loads(conveyor(home, "audit", "--target", "iris@production", "--json"))
    assert [e["actor"] for e in entries[:2]] == ["ada", "ada"]  # the signed-in user


def test_a_viewer_reads_the_model_but_is_refused_a_rollback(
    team: tuple[Process, Path, dict[str, str]], page: Any
) -> None:
    server, _, tokens = team
    sign_in(page, server, tokens["viewer"], "/ui/models/iris")
    assert page.locator("button:has-text('Roll back')").count() == 0
    assert "You are a viewer" in page.content()
    # the button is not shown; a form sent anyway (with the page's own token) is refused
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/ui/models/iris/rollback";
            const csrf = document.querySelector("meta[name=csrf-token]").content;
            for (const [name, value] of [["csrf", csrf], ["alias", "production"]]) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }"""
    )
    page.wait_for_url("**/ui/models/iris/rollback")
    assert "Not allowed" in page.locator("h1").inner_text()
    assert "needs the admin role; vera is a viewer" in page.locator(".problem").inner_text()
    shot(page, "10-viewer-refused")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/ui/login")
    page.goto(server.url + "/ui/models/iris")
    assert "/ui/login" in page.url
