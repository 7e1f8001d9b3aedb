"""``conveyor server`` as a real process: users and tokens made with the CLI on the server's
machine, the SDK's HTTP stores talking to it, roles enforced, changes audited under the user,
and a restart of the server in the middle of a client's work losing nothing."""

from __future__ import annotations

import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.core._ids import new_id
from conveyor.errors import PermissionDenied
from conveyor.store import (
    AliasMove,
    MetricPoint,
    ModelVersionRecord,
    RunRecord,
    TrackingBatch,
    WriteBatch,
)
from conveyor.store.http import HttpMetadataStore
from conveyor.store.http._artifacts import HttpArtifactStore
from tests.serving._servers import (
    Process,
    conveyor_env,
    conveyor_output,
    free_port,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.slow


def cli(home: Path, *args: str) -> str:
    return conveyor_output(conveyor_env(home), home.parent, *args)


def token_for(home: Path, user: str, role: str) -> str:
    cli(home, "users", "add", user, "--role", role)
    out = cli(home, "tokens", "create", "--user", user)
    (token,) = [w for w in out.split() if w.startswith("cvt_")]
    return token


def start_server(home: Path, port: int) -> Process:
    command = [sys.executable, "-m", "conveyor", "server", "--port", str(port)]
    started = start_process(
        command,
        f"http://127.0.0.1:{port}",
        home.parent / f"server-{port}-{os.urandom(2).hex()}.log",
        env=conveyor_env(home),
        cwd=home.parent,
    )
    wait_until(lambda: started.answers("/healthz"), 120, "the server did not start")
    return started


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, int, dict[str, str]]:
    home = tmp_path / "home"
    tokens = {
        role: token_for(home, name, role)
        for name, role in (("vera", "viewer"), ("ed", "editor"), ("ada", "admin"))
    }
    port = free_port()
    return home, port, tokens


def test_roles_and_the_audit_log_through_a_real_server(
    team: tuple[Path, int, dict[str, str]],
) -> None:
    home, port, tokens = team
    server = start_server(home, port)
    try:
        url = server.url
        editor = HttpMetadataStore(url, tokens["editor"])
        blobs = HttpArtifactStore(url, tokens["editor"])
        address = blobs.put(b"model bytes")
        assert HttpArtifactStore(url, tokens["viewer"]).get(address) == b"model bytes"
        now = datetime.now(UTC)
        editor.commit(WriteBatch(artifacts=(artifact(address, now),)))
        version = editor.register_model_version(
            ModelVersionRecord("churn", 0, address, "sklearn", now)
        ).version
        editor.move_alias(AliasMove("churn", "staging", version, None, "promote", now))
        with pytest.raises(PermissionDenied, match="needs the admin role; ed is an editor"):
            editor.move_alias(AliasMove("churn", "production", version, None, "promote", now))
        HttpMetadataStore(url, tokens["admin"]).move_alias(
            AliasMove("churn", "production", version, None, "promote", now, actor="someone else")
        )
        with pytest.raises(PermissionDenied):
            HttpMetadataStore(url, tokens["viewer"]).move_alias(
                AliasMove("churn", "staging", version, None, "promote", now)
            )
        viewer = HttpMetadataStore(url, tokens["viewer"])
        assert viewer.aliases("churn") == {"production": version, "staging": version}
        assert [m.actor for m in viewer.alias_history("churn", "production")] == ["ada"]
    finally:
        stop_process(server)
    log = cli(home, "audit", "--json")
    assert '"actor": "ed"' in log and '"actor": "ada"' in log


def artifact(address: str, at: datetime) -> object:
    from conveyor.store import ArtifactRecord

    return ArtifactRecord(id=address, materializer="skops", type_name="m", size=11, created_at=at)


def test_two_clients_log_through_a_restart_and_nothing_is_lost(
    team: tuple[Path, int, dict[str, str]],
) -> None:
    home, port, tokens = team
    server = start_server(home, port)
    runs = [f"run-{new_id('r')}" for _ in range(2)]
    steps = 60
    errors: list[BaseException] = []
    halfway = threading.Event()

    def client(run_id: str) -> None:
        try:
            store = HttpMetadataStore(server.url, tokens["editor"], retry_seconds=60)
            store.create_run(RunRecord(run_id, "train", "running", datetime.now(UTC)))
            for step in range(steps):
                point = MetricPoint("loss", 1.0 / (step + 1), step, 0.0)
                store.log_batch(TrackingBatch(run_id, metrics=(point,)))
                if step == steps // 2:
                    halfway.set()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    try:
        assert halfway.wait(120)
        stop_process(server)  # graceful: requests in flight are answered first
        server = start_server(home, port)
        for t in threads:
            t.join(180)
    finally:
        stop_process(server)
    assert errors == []
    server = start_server(home, port)
    try:
        viewer = HttpMetadataStore(server.url, tokens["viewer"])
        for run_id in runs:
            history = viewer.metric_history(run_id, "loss")
            assert [p.step for p in history] == list(range(steps))
    finally:
        stop_process(server)
