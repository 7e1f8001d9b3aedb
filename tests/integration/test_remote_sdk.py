"""The ordinary SDK and CLI against a real ``conveyor server``, chosen by CONVEYOR_TRACKING_URI
and CONVEYOR_TOKEN alone: a pipeline run, its metrics, artifacts and lineage, a registered and
promoted model, all kept by the server and nothing in the client's folder; and the same refusals
a local store gives (roles, unknown names, a bad token) reaching the client as clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conveyor.core import load_settings
from conveyor.engine import Workspace
from conveyor.errors import AuthenticationFailed
from conveyor.store.http import HttpMetadataStore
from tests.integration.test_team_server import start_server, token_for
from tests.serving._servers import conveyor_command, free_port, stop_process

pytestmark = pytest.mark.slow

PIPELINE = textwrap.dedent(
    """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import conveyor as cv


    @cv.step
    def data(n: int) -> pd.DataFrame:
        return pd.DataFrame({"x": [float(i) for i in range(n)], "y": [i % 2 for i in range(n)]})


    @cv.step
    def train(df: pd.DataFrame) -> LogisticRegression:
        model = LogisticRegression().fit(df[["x"]], df["y"])
        cv.log_param("solver", "lbfgs")
        for i, loss in enumerate([0.9, 0.5, 0.3]):
            cv.log_metric("loss", loss, step=i)
        cv.log_artifact(b"trained on the server's store", name="notes.txt")
        cv.register_model("remote-model", model, metrics={"accuracy": 0.75})
        return model


    @cv.pipeline
    def remote(n: int = 40) -> None:
        train(data(n))
    """
)


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    home = tmp_path / "server" / ".conveyor"
    home.parent.mkdir()
    tokens = {"editor": token_for(home, "ed", "editor"), "viewer": token_for(home, "vi", "viewer")}
    tokens["admin"] = token_for(home, "ada", "admin")
    started = start_server(home, free_port())
    try:
        yield started.url, tokens
    finally:
        stop_process(started)


def client_env(url: str, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {"CONVEYOR_TRACKING_URI": url, "CONVEYOR_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    return env


def client(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return conveyor_command(env, folder, *args)


def test_the_sdk_and_cli_use_the_server_named_by_the_environment(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, tokens = server
    folder = tmp_path / "client"
    folder.mkdir()
    (folder / "pipeline.py").write_text(PIPELINE)
    editor = client_env(url, tokens["editor"])

    ran = client(folder, editor, "run", "pipeline.py", "-p", "n=40")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert not (folder / ".conveyor").exists(), "a client keeps nothing of its own"

    store = HttpMetadataStore(url, tokens["viewer"])
    (run,) = store.list_runs(pipeline="remote")
    assert run.status == "succeeded"
    assert [p.value for p in store.metric_history(run.id, "loss")] == [0.9, 0.5, 0.3]
    (notes,) = [a for a in store.logged_artifacts(run.id) if a.name == "notes.txt"]
    remote = Workspace.open(load_settings(client_env(url, tokens["viewer"]), folder))
    assert remote.values.load(store.get_artifact(notes.artifact_id)) == (
        b"trained on the server's store"
    )
    remote.close()
    version = store.get_model_version("remote-model")
    assert version.version == 1

    # the CLI reads back what the SDK wrote, through the same server
    listed = client(folder, editor, "runs", "list", "--pipeline", "remote")
    assert listed.returncode == 0 and run.id[:8] in listed.stdout, listed.stdout + listed.stderr
    lineage = client(folder, editor, "lineage", run.id)
    assert lineage.returncode == 0 and "train" in lineage.stdout, lineage.stdout + lineage.stderr

    # a second run of the same code is served from the server's cache
    again = client(folder, editor, "run", "pipeline.py", "-p", "n=40")
    assert again.returncode == 0, again.stdout + again.stderr
    newest = store.list_runs(pipeline="remote")[0]
    assert {s.step: s.status for s in store.step_runs(newest.id)} == {
        "data": "cached",
        "train": "cached",
    }

    # the model loads in another process from the server's artifacts, and an admin promotes it
    load = (
        "import conveyor as cv, json; m = cv.models.load('remote-model');"
        "print(json.dumps(m.predict([[1.0], [38.0]]).tolist()))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", load],
        env=editor,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert len(json.loads(loaded.stdout)) == 2
    refused = client(folder, editor, "models", "promote", "remote-model", "1", "-a", "production")
    assert refused.returncode != 0
    assert "needs the admin role" in refused.stderr and "Traceback" not in refused.stderr
    promoted = client(
        folder,
        client_env(url, tokens["admin"]),
        "models",
        "promote",
        "remote-model",
        "1",
        "-a",
        "production",
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert store.aliases("remote-model") == {"production": 1}
    assert [m.actor for m in store.alias_history("remote-model", "production")] == ["ada"]

    admin = client_env(url, tokens["admin"])
    added = client(folder, admin, "users", "add", "bo", "--role", "viewer")
    assert added.returncode == 0, added.stdout + added.stderr
    made = client(folder, admin, "tokens", "create", "--user", "bo")
    assert made.returncode == 0, made.stderr
    (bo_token,) = [w for w in made.stdout.split() if w.startswith("cvt_")]
    assert HttpMetadataStore(url, bo_token).session().user == "bo"
    denied = client(folder, editor, "users", "list")
    assert denied.returncode != 0 and "admin role" in denied.stderr, denied.stderr

    audit = client(folder, client_env(url, tokens["admin"]), "audit", "--json")
    assert audit.returncode == 0, audit.stderr
    assert '"actor": "ada"' in audit.stdout and "remote-model" in audit.stdout


def test_a_viewer_reads_but_cannot_run(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, tokens = server
    folder = tmp_path / "viewer"
    folder.mkdir()
    (folder / "pipeline.py").write_text(PIPELINE)
    ran = client(folder, client_env(url, tokens["viewer"]), "run", "pipeline.py")
    assert ran.returncode != 0
    assert "editor role" in ran.stderr and "Traceback" not in ran.stderr


def test_a_refused_token_fails_when_the_workspace_opens(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, _ = server
    settings = load_settings(
        {"CONVEYOR_TRACKING_URI": url, "CONVEYOR_TOKEN": "cvt_not-a-real-token"}, tmp_path
    )
    with pytest.raises(AuthenticationFailed, match="token refused"):
        Workspace.open(settings)
