"""``conveyor server`` on the parts a team runs it on: the metadata in a real PostgreSQL server,
the artifacts in a bucket of an S3 API (moto's server, reached through its endpoint as MinIO or
another S3-compatible store would be). Two users log at once through a restart of the server,
and a third runs a pipeline with the ordinary SDK, told of nothing but the server; afterwards
every run, metric point, artifact, model version, alias move and monitor evaluation written
before and after the restart is there, the artifacts byte for byte and in the bucket, and the
registry's changes are in the audit log under the users who made them."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from conveyor.core._ids import new_id
from conveyor.store import (
    AliasMove,
    ArtifactLink,
    ArtifactRecord,
    LoggedArtifact,
    MetricPoint,
    ModelVersionRecord,
    MonitorEvaluation,
    MonitorRecord,
    RunRecord,
    StepRunRecord,
    TrackingBatch,
    WriteBatch,
    open_metadata_store,
)
from conveyor.store.http import HttpMetadataStore
from conveyor.store.http._artifacts import CHUNK, HttpArtifactStore
from tests._s3 import MotoS3, keys, session_server
from tests.serving._servers import (
    REPO,
    Process,
    conveyor_env,
    conveyor_output,
    free_port,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PREFIX = "team"  # the artifacts live under s3://<bucket>/team
STEPS = 40
EVERY = 10  # a client writes an artifact, a model version and an alias move this often
MODEL = "churn"
MONITOR = "churn-drift"


# A client of the ordinary SDK: ``conveyor run`` with CONVEYOR_TRACKING_URI and CONVEYOR_TOKEN.
REPEATS = CHUNK // 256 + 4096  # the pattern it logs is larger than one upload chunk
PIPELINE = textwrap.dedent(
    f"""
    import conveyor as cv


    @cv.step
    def numbers(n: int) -> list[float]:
        return [float(i) for i in range(n)]


    @cv.step
    def fit(values: list[float]) -> dict[str, float]:
        mean = sum(values) / len(values)
        for i, value in enumerate(values[:5]):
            cv.log_metric("residual", value - mean, step=i)
        cv.log_artifact(bytes(range(256)) * {REPEATS}, name="pattern.bin")
        return {{"mean": mean}}


    @cv.pipeline
    def sdk_client(n: int = 100) -> None:
        fit(numbers(n))
    """
)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[MotoS3]:
    yield from session_server()


@dataclass
class Team:
    home: Path
    port: int
    env: dict[str, str]  # of every conveyor process on the server's machine
    db_url: str
    bucket: str
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def cli(team: Team, *args: str) -> str:
    return conveyor_output(team.env, team.home.parent, *args)


@pytest.fixture
def team(tmp_path: Path, postgres_url: str, s3_server: MotoS3) -> Team:
    home = tmp_path / "home"
    bucket = s3_server.create_bucket()
    env = s3_server.process_env(conveyor_env(home))
    env.pop("CONVEYOR_TRACKING_URI", None)  # this machine holds the stores
    env.pop("CONVEYOR_TOKEN", None)
    env["CONVEYOR_DB_URL"] = postgres_url
    env["CONVEYOR_ARTIFACTS"] = f"s3://{bucket}/{PREFIX}"
    made = Team(home, free_port(), env, postgres_url, bucket)
    users = (
        ("ada", "admin"),
        ("ed", "editor"),
        ("bo", "editor"),
        ("cy", "editor"),
        ("vi", "viewer"),
    )
    for user, role in users:
        cli(made, "users", "add", user, "--role", role)
        out = cli(made, "tokens", "create", "--user", user)
        (made.tokens[user],) = [w for w in out.split() if w.startswith("cvt_")]
    return made


def start_pipeline(team: Team, folder: Path) -> subprocess.Popen[bytes]:
    """``conveyor run`` of PIPELINE in ``folder``, told of nothing but the server: no store of
    its own, no S3 credentials; every value goes to the artifact store, none inline."""
    folder.mkdir()
    (folder / "pipeline.py").write_text(PIPELINE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "AWS_"))}
    env |= {
        "CONVEYOR_TRACKING_URI": team.url,
        "CONVEYOR_TOKEN": team.tokens["cy"],
        "CONVEYOR_INLINE_LIMIT": "0",
        "PYTHONPATH": str(REPO),
    }
    with (folder / "run.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "conveyor", "run", "pipeline.py", "-p", "n=100"],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_server(team: Team, env: dict[str, str] | None = None) -> Process:
    command = [sys.executable, "-m", "conveyor", "server", "--port", str(team.port)]
    started = start_process(
        command,
        team.url,
        team.home.parent / f"server-{os.urandom(3).hex()}.log",
        env=env or team.env,
        cwd=team.home.parent,
    )
    try:
        wait_until(lambda: started.answers("/healthz"), 120, "the server did not start")
    except BaseException:
        stop_process(started)
        raise
    return started


@dataclass
class Restart:
    """A client's hold on its upload: after the first chunk the server accepts, the client says
    so (``mid_upload``) and waits until the server has been restarted (``done``)."""

    mid_upload: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def hook(self, response: httpx.Response) -> None:
        if response.request.method == "PATCH" and not self.mid_upload.is_set():
            self.mid_upload.set()
            self.done.wait(300)


@dataclass
class Written:
    """What one client wrote, to look for afterwards."""

    user: str
    run_id: str
    blobs: dict[str, bytes] = field(default_factory=dict)  # logged name -> bytes
    versions: list[int] = field(default_factory=list)
    evaluations: int = 0


def work(team: Team, written: Written, restart: Restart) -> None:
    """A training run: a metric point each step and, every few steps, an artifact produced from
    the one before (lineage), registered as a model version that ``staging`` then points at.
    Halfway through it uploads a blob of several chunks, and the server is restarted after the
    first chunk has arrived."""
    token = team.tokens[written.user]
    # Long enough to wait out a restart of the server.
    store = HttpMetadataStore(team.url, token, retry_seconds=120)
    http = httpx.Client(base_url=team.url, timeout=300, event_hooks={"response": [restart.hook]})
    blobs = HttpArtifactStore(team.url, token, retry_seconds=120, client=http)
    store.create_run(RunRecord(written.run_id, "train", "running", datetime.now(UTC)))
    previous: str | None = None
    for step in range(STEPS):
        point = MetricPoint("loss", 1.0 / (step + 1), step, time.time())
        store.log_batch(TrackingBatch(written.run_id, metrics=(point,)))
        if step == STEPS // 2:
            log_blob(store, blobs, written, "weights", os.urandom(2 * CHUNK + 4321), ())
        if step % EVERY:
            continue
        inputs = (ArtifactLink("previous", previous),) if previous else ()
        previous = log_blob(store, blobs, written, f"part-{step}", os.urandom(4096 + step), inputs)
        now = datetime.now(UTC)
        version = store.register_model_version(
            ModelVersionRecord(MODEL, 0, previous, "python", now, run_id=written.run_id)
        ).version
        written.versions.append(version)
        store.move_alias(AliasMove(MODEL, "staging", version, None, "promote", now))
        evaluation = MonitorEvaluation(MONITOR, MODEL, version, now, None, None, step, "ok")
        store.record_evaluation(evaluation)
        written.evaluations += 1
    store.finish_run(written.run_id, "succeeded", datetime.now(UTC))


def log_blob(
    store: HttpMetadataStore,
    blobs: HttpArtifactStore,
    written: Written,
    step: str,
    data: bytes,
    inputs: tuple[ArtifactLink, ...],
) -> str:
    """``data`` stored and recorded as the output of ``step``, made from ``inputs``, and logged
    to the run as ``<step>.bin``."""
    address = blobs.put(data)
    now = datetime.now(UTC)
    produced = StepRunRecord(
        new_id("s"),
        written.run_id,
        step,
        "succeeded",
        now,
        now,
        inputs=inputs,
        outputs=(ArtifactLink("out", address),),
    )
    record = ArtifactRecord(address, "bytes", "bytes", len(data), now)
    store.commit(WriteBatch(artifacts=(record,), step_runs=(produced,)))
    logged = LoggedArtifact(written.run_id, f"{step}.bin", address, step, time.time())
    store.log_batch(TrackingBatch(written.run_id, artifacts=(logged,)))
    written.blobs[f"{step}.bin"] = data
    return address


def test_two_users_work_through_a_restart_on_postgres_and_s3(team: Team, s3_server: MotoS3) -> None:
    writers = [Written(user, new_id("r")) for user in ("ed", "bo")]
    restarts = [Restart() for _ in writers]
    errors: list[BaseException] = []

    def client(written: Written, restart: Restart) -> None:
        try:
            work(team, written, restart)
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
            restart.mid_upload.set()

    sdk: subprocess.Popen[bytes] | None = None
    sdk_folder = team.home.parent / "sdk-client"
    server = start_server(team)
    threads = [
        threading.Thread(target=client, args=pair) for pair in zip(writers, restarts, strict=True)
    ]
    try:
        admin = HttpMetadataStore(server.url, team.tokens["ada"])
        now = datetime.now(UTC)
        spec = {"window": "1d", "every": "1h", "rules": [], "actions": []}
        admin.put_monitor(MonitorRecord(MONITOR, f"{MODEL}@production", spec, now, now))
        for thread in threads:
            thread.start()
        for restart in restarts:
            assert restart.mid_upload.wait(180), "a client did not get halfway"
        stop_process(server)  # graceful: requests in flight are answered first
        # The restarted server finds the endpoint the other documented way (fsspec's settings).
        env = {k: v for k, v in team.env.items() if k != "AWS_ENDPOINT_URL"}
        server = start_server(team, {**env, "FSSPEC_S3_ENDPOINT_URL": s3_server.endpoint})
        for restart in restarts:
            restart.done.set()
        sdk = start_pipeline(team, sdk_folder)
        for thread in threads:
            thread.join(300)
        assert not any(t.is_alive() for t in threads), "a client did not finish"
        assert errors == []
        assert sdk.wait(300) == 0, (sdk_folder / "run.log").read_text(errors="replace")
        last = writers[0].versions[-1]
        admin.move_alias(AliasMove(MODEL, "production", last, None, "promote", datetime.now(UTC)))
    finally:
        for restart in restarts:
            restart.done.set()  # a client left waiting would outlive the test
        if sdk is not None and sdk.poll() is None:
            sdk.kill()
            sdk.wait()
        stop_process(server)
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(300)

    server = start_server(team)
    try:
        check_everything_is_there(team, writers)
        pipeline_outputs = check_the_pipeline_ran_on_the_server(team, sdk_folder)
    finally:
        stop_process(server)
    check_the_bucket_holds_the_artifacts(team, s3_server, writers, pipeline_outputs)
    check_postgres_holds_the_runs(team, writers)


def check_everything_is_there(team: Team, writers: list[Written]) -> None:
    viewer = HttpMetadataStore(team.url, team.tokens["vi"])
    blobs = HttpArtifactStore(team.url, team.tokens["vi"])
    for written in writers:
        run = viewer.get_run(written.run_id)
        assert run.status == "succeeded"
        history = viewer.metric_history(written.run_id, "loss")
        assert [(p.step, p.value) for p in history] == [(s, 1.0 / (s + 1)) for s in range(STEPS)]
        logged = {a.name: a.artifact_id for a in viewer.logged_artifacts(written.run_id)}
        assert sorted(logged) == sorted(written.blobs)
        for name, data in written.blobs.items():
            assert blobs.get(logged[name]) == data, name
        # lineage: each part was produced from the one before, by its own step
        chain = [logged[f"part-{s}.bin"] for s in range(0, STEPS, EVERY)]
        for before, after in itertools.pairwise(chain):
            (producer,) = viewer.producers(after)
            assert [(i.name, i.artifact_id) for i in producer.inputs] == [("previous", before)]
        parts = [f"part-{s}" for s in range(0, STEPS, EVERY)]
        steps = [s.step for s in viewer.step_runs(written.run_id)]
        before = len(range(0, STEPS // 2, EVERY))  # parts made before the blob logged halfway
        assert steps == [*parts[:before], "weights", *parts[before:]]

    versions = viewer.list_model_versions(MODEL)
    registered = sorted(v for w in writers for v in w.versions)
    assert sorted(v.version for v in versions) == registered == list(range(1, len(registered) + 1))
    by_run = {w.run_id: w for w in writers}
    for version in versions:
        assert version.run_id is not None
        assert version.version in by_run[version.run_id].versions
    # every move of staging is kept, each from the version the one before left it at
    staging = viewer.alias_history(MODEL, "staging")
    assert len(staging) == len(registered)
    assert [m.previous for m in staging] == [None, *(m.version for m in staging[:-1])]
    production = writers[0].versions[-1]
    assert viewer.aliases(MODEL) == {"staging": staging[-1].version, "production": production}
    evaluations = viewer.evaluations(MONITOR, limit=1000)
    assert len(evaluations) == sum(w.evaluations for w in writers)

    registrations = viewer.audit(target=MODEL, action="model.register", limit=1000)
    assert sorted(e.target for e in registrations) == [f"{MODEL}@{v}" for v in registered]
    assert {e.actor for e in registrations} == {"ed", "bo"}
    for entry in registrations:
        version = int(entry.target.rsplit("@", 1)[1])
        assert entry.actor == next(w.user for w in writers if version in w.versions)
    moves = viewer.audit(target=MODEL, action="alias", limit=1000)
    assert sorted((e.actor, e.target) for e in moves) == sorted(
        [("ada", f"{MODEL}@production")]
        + [(w.user, f"{MODEL}@staging") for w in writers for _ in w.versions]
    )


def check_the_pipeline_ran_on_the_server(team: Team, folder: Path) -> list[str]:
    """The SDK client's run, metrics, logged artifact and step outputs are the server's, and it
    kept nothing itself; returns the addresses of the step outputs."""
    viewer = HttpMetadataStore(team.url, team.tokens["vi"])
    (run,) = viewer.list_runs(pipeline="sdk_client")
    assert run.status == "succeeded"
    residuals = [p.value for p in viewer.metric_history(run.id, "residual")]
    assert residuals == [i - 49.5 for i in range(5)]
    (pattern,) = viewer.logged_artifacts(run.id)
    assert pattern.name == "pattern.bin"
    blobs = HttpArtifactStore(team.url, team.tokens["vi"])
    assert blobs.get(pattern.artifact_id) == bytes(range(256)) * REPEATS
    steps = viewer.step_runs(run.id)
    assert {s.step: s.status for s in steps} == {"numbers": "succeeded", "fit": "succeeded"}
    outputs = [link.artifact_id for s in steps for link in s.outputs]
    records = viewer.get_artifacts(outputs)
    assert sorted(records) == sorted(outputs)
    assert all(r.inline is None for r in records.values())
    assert not (folder / ".conveyor").exists(), "a client keeps nothing of its own"
    return [pattern.artifact_id, *outputs]


def check_the_bucket_holds_the_artifacts(
    team: Team, s3_server: MotoS3, writers: list[Written], others: list[str]
) -> None:
    """Every blob is an object in the bucket, as it was uploaded; each object there is a whole
    blob under its address (no temporary or partial objects)."""
    client = s3_server.client()
    stored = keys(client, team.bucket)
    for key in stored:
        data = client.get_object(Bucket=team.bucket, Key=key)["Body"].read()
        assert key == blob_key(hashlib.sha256(data).hexdigest())
    blobs = [data for w in writers for data in w.blobs.values()]
    expected = {blob_key(hashlib.sha256(b).hexdigest()) for b in blobs}
    expected |= {blob_key(address.removeprefix("sha256:")) for address in others}
    assert sorted(expected) == stored


def blob_key(digest: str) -> str:
    return f"{PREFIX}/sha256/{digest[:2]}/{digest[2:]}"


def check_postgres_holds_the_runs(team: Team, writers: list[Written]) -> None:
    store = open_metadata_store(team.db_url)
    try:
        for written in writers:
            assert store.get_run(written.run_id).status == "succeeded"
            assert len(store.metric_history(written.run_id, "loss")) == STEPS
    finally:
        store.close()
