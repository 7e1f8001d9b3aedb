"""The team server under load, beside MLflow's tracking server, in one run.

Two measurements, on SQLite and on a real PostgreSQL server (started here, like the tests do):

* **metric logging**: 8 concurrent clients (wrk's 8 keep-alive connections) send one metric
  point per request for ``--seconds``; requests/s and errors (non-2xx answers, socket errors).
  ``conveyor server`` gets ``POST /api/v1/tracking/batches``; ``mlflow server`` (the peers'
  venv, its default options) gets ``POST /api/2.0/mlflow/runs/log-metric`` on the same
  backend. Floor: 500 req/s, no errors.
* **runs page with 100,000 runs**: the store is filled with 100,000 runs (3 params, 3 metrics
  each; setup, not measured), then the runs page is requested: first page, a page 50,000 runs
  deep, sorted by a metric, filtered by a param. Both the web UI's page (HTML) and the API's
  ``search-table`` page are timed from the client on loopback, so the figure includes HTTP.
  Floor: under 300 ms (median).

Usage (from the repository root, with the project's venv):
  python bench/team_server.py [--seconds 15] [--rounds 3] [--runs 100000]
                              [--backends sqlite,postgres]
Exit code is 0 whenever the benchmark ran: floors that do not hold are reported as FAIL lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests._postgres import PostgresServer, find_bin_dir  # noqa: E402
from tests.serving._servers import free_port  # noqa: E402

CLIENTS = 8
LOG_FLOOR_RPS = 500.0
PAGE_FLOOR_MS = 300.0
PAGE_SIZE = 50
MLFLOW_CANDIDATES = ("/tmp/peers/pipe/bin/mlflow",)


# ---------------------------------------------------------------------------- processes
@contextmanager
def process(command: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(ready, timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready} never answered: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def conveyor_env(home: Path, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return env | {"CONVEYOR_HOME": str(home), "CONVEYOR_DB_URL": db_url}


def conveyor(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def editor_token(env: dict[str, str]) -> str:
    user = f"bench{uuid.uuid4().hex[:6]}"
    conveyor(env, "users", "add", user, "--role", "editor")
    out = conveyor(env, "tokens", "create", "--user", user)
    return next(w for w in out.split() if w.startswith("cvt_"))


@contextmanager
def conveyor_server(home: Path, db_url: str) -> Iterator[tuple[str, str]]:
    env = conveyor_env(home, db_url)
    token = editor_token(env)
    port = free_port()
    command = [sys.executable, "-m", "conveyor", "server", "--port", str(port)]
    command += ["--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    with process(command, env, home / "server.log", f"{url}/healthz"):
        yield url, token


@contextmanager
def mlflow_server(mlflow: str, folder: Path, db_url: str) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [mlflow, "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", db_url, "--artifacts-destination", str(folder / "art")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    url = f"http://127.0.0.1:{port}"
    with process(command, env, folder / "mlflow.log", f"{url}/health"):
        yield url


# ---------------------------------------------------------------------------- load
# The load comes from wrk (C, a few % of a core), not from Python clients: an httpx client
# spends as much CPU per request as the server, which on two cores would measure the client.
# Each client logs to a run of its own, as 8 training jobs would: the requests cycle over one
# body per client (one per line of BENCH_BODIES).
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
local bodies = {}
for line in string.gmatch(os.getenv("BENCH_BODIES"), "[^\\n]+") do
  bodies[#bodies + 1] = line
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
"""


def hammer(
    url: str, path: str, bodies: list[dict[str, Any]], auth: str, seconds: float
) -> dict[str, Any]:
    """CLIENTS connections sending ``bodies`` in turn, back to back for ``seconds``, after a few
    untimed ones (a server's first requests pay for its imports and connections)."""
    headers = {"Authorization": auth} if auth else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for i in range(20):
            http.post(path, json=bodies[i % len(bodies)]).raise_for_status()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    lines = "\n".join(json.dumps(body) for body in bodies)
    env = os.environ | {"BENCH_BODIES": lines, "BENCH_AUTH": auth}
    command = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds:.0f}s", "-s", script.name, url + path]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket:
        errors += sum(int(n) for n in re.findall(r"\d+", socket.group(1)))
    return {"requests": requests, "errors": errors, "rps": rps, "wrk": out}


def conveyor_logging(url: str, token: str, seconds: float) -> dict[str, Any]:
    auth = f"Bearer {token}"
    now = datetime.now(UTC).isoformat()
    bodies = []
    with httpx.Client(base_url=url, headers={"Authorization": auth}) as http:
        for _ in range(CLIENTS):
            run_id = f"run-bench{uuid.uuid4().hex[:16]}"
            record = {"id": run_id, "pipeline": "bench", "status": "running", "started_at": now}
            http.post("/api/v1/runs", json={"run": record}).raise_for_status()
            point = {"key": "loss", "value": 0.25, "step": 1, "timestamp": time.time()}
            bodies.append({"batch": {"run_id": run_id, "metrics": [point]}})
    return hammer(url, "/api/v1/tracking/batches", bodies, auth, seconds)


def mlflow_logging(url: str, seconds: float) -> dict[str, Any]:
    with httpx.Client(base_url=url) as http:
        made = http.post(
            "/api/2.0/mlflow/experiments/create", json={"name": f"bench-{uuid.uuid4().hex[:8]}"}
        )
        made.raise_for_status()
        started = {"experiment_id": made.json()["experiment_id"], "start_time": _ms()}
        runs = [
            http.post("/api/2.0/mlflow/runs/create", json=started).json()["run"]["info"]["run_id"]
            for _ in range(CLIENTS)
        ]
    bodies = [
        {"run_id": run, "key": "loss", "value": 0.25, "timestamp": _ms(), "step": 1} for run in runs
    ]
    return hammer(url, "/api/2.0/mlflow/runs/log-metric", bodies, "", seconds)


def _ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------- runs page
def fill(db_url: str, runs: int, threads: int = 4) -> float:
    """``runs`` finished runs with 3 params and 3 metrics each, written through the store by a
    few threads (PostgreSQL takes them side by side)."""
    from concurrent.futures import ThreadPoolExecutor

    from conveyor.store import open_metadata_store

    store = open_metadata_store(db_url)
    began = time.monotonic()
    workers = 1 if db_url.startswith("sqlite") else threads
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda k: _fill_part(store, range(k, runs, workers)), range(workers)))
    finally:
        store.close()
    return time.monotonic() - began


def _fill_part(store: Any, numbers: range) -> None:
    from conveyor.store import MetricPoint, RunRecord, TrackingBatch

    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in numbers:
        at = start + timedelta(seconds=i)
        run = RunRecord(
            f"run-{i:012d}{uuid.uuid4().hex[:8]}",
            f"pipeline-{i % 5}",
            "succeeded" if i % 10 else "failed",
            at,
            finished_at=at + timedelta(seconds=3),
            user="bench",
        )
        store.create_run(run)
        store.log_batch(
            TrackingBatch(
                run.id,
                params=(("lr", json.dumps(0.1 * (i % 7))), ("depth", str(i % 12))),
                metrics=tuple(
                    MetricPoint(key, float((i * 7919 + k) % 1000) / 1000, 0, at.timestamp())
                    for k, key in enumerate(("auc", "loss", "f1"))
                ),
                tags=(("team", json.dumps("ml")),),
            )
        )


def page_queries() -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (UI page path with query, API search-table query)."""
    base = {"max_results": PAGE_SIZE}
    by_auc = [{"kind": "metrics", "key": "auc", "descending": True}]
    depth = [{"kind": "params", "key": "depth", "op": "=", "value": 3}]
    return {
        "first page": ("/ui/runs?per_page=50", base),
        "page 1001 (offset 50,000)": (
            "/ui/runs?per_page=50&page=1001",
            base | {"offset": 50_000},
        ),
        "sorted by metric auc": (
            "/ui/runs?per_page=50&sort=metrics.auc&dir=desc",
            base | {"order_by": by_auc},
        ),
        "filtered by param depth = 3": (
            "/ui/runs?per_page=50&filter=params.depth+%3D+3",
            base | {"conditions": depth},
        ),
    }


def time_pages(url: str, token: str, repeats: int) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for name, (ui_path, query) in page_queries().items():
            for kind, send in (
                ("api", lambda q=query: http.post("/api/v1/runs/search-table", json={"query": q})),
                (
                    "ui",
                    lambda p=ui_path: http.get(p, headers={"Cookie": f"conveyor_session={token}"}),
                ),
            ):
                times, status = [], None
                for _ in range(repeats + 1):  # the first warms the database's caches
                    began = time.perf_counter()
                    response = send()
                    times.append((time.perf_counter() - began) * 1000)
                    status = response.status_code
                if status != 200:
                    results[f"{kind}: {name}"] = {"status": status, "median_ms": None}
                    continue
                results[f"{kind}: {name}"] = {
                    "status": status,
                    "median_ms": statistics.median(times[1:]),
                    "max_ms": max(times[1:]),
                }
    return results


# ---------------------------------------------------------------------------- main
@contextmanager
def backend(name: str, folder: Path) -> Iterator[tuple[str, str]]:
    """(conveyor's URL, MLflow's URL) of a fresh database of this kind."""
    if name == "sqlite":
        yield f"sqlite:///{folder / 'conveyor.db'}", f"sqlite:///{folder / 'mlflow.db'}"
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        ours, theirs = server.create_database(), server.create_database()
        yield server.url(ours), server.url(theirs).replace("+psycopg", "+psycopg2")
    finally:
        server.stop()


def find_mlflow(given: str | None) -> str | None:
    for candidate in (given, *MLFLOW_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--page-repeats", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--mlflow", default=None, help="the peers' mlflow executable")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "team.json")
    args = parser.parse_args()
    mlflow = find_mlflow(args.mlflow)
    if mlflow is None:
        print("MLflow not found (shared/bench/pipelines/setup_venv.sh): conveyor alone")
    report: dict[str, Any] = {}
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"team-{name}-") as tmp:
            folder = Path(tmp)
            with backend(name, folder) as (ours, theirs):
                report[name] = run_backend(name, folder, ours, theirs, mlflow, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    summarize(report)
    print(f"\nwritten to {args.out}")


def run_backend(
    name: str, folder: Path, ours: str, theirs: str, mlflow: str | None, args: Any
) -> dict[str, Any]:
    print(f"\n== {name}")
    result: dict[str, Any] = {"conveyor_rps": [], "mlflow_rps": [], "errors": {}}
    home = folder / "home"
    home.mkdir()
    with conveyor_server(home, ours) as (url, token):
        for r in range(args.rounds):
            tools = ["conveyor", "mlflow"] if r % 2 == 0 else ["mlflow", "conveyor"]
            for tool in tools:
                if tool == "mlflow" and (mlflow is None or not _mlflow_backend_ok(theirs)):
                    continue
                if tool == "conveyor":
                    load = conveyor_logging(url, token, args.seconds)
                else:
                    with mlflow_server(mlflow, folder / f"ml{r}", theirs) as ml_url:  # type: ignore[arg-type]
                        load = mlflow_logging(ml_url, args.seconds)
                result[f"{tool}_rps"].append(load["rps"])
                result.setdefault(f"{tool}_error_count", 0)
                result[f"{tool}_error_count"] += load["errors"]
                print(f"round {r} {tool}: {load['rps']:,.0f} req/s, {load['errors']} errors")
    fill_s = fill(ours, args.runs)
    print(f"filled {args.runs:,} runs in {fill_s:.0f} s")
    (folder / "home2").mkdir()
    with conveyor_server(folder / "home2", ours) as (url, token):
        result["pages"] = time_pages(url, token, args.page_repeats)
    return result


def _mlflow_backend_ok(url: str) -> bool:
    # MLflow reaches PostgreSQL through psycopg2, which its venv may not have
    if not url.startswith("postgresql"):
        return True
    return (
        subprocess.run(
            [str(Path(MLFLOW_CANDIDATES[0]).parent / "python"), "-c", "import psycopg2"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def summarize(report: dict[str, Any]) -> None:
    print(
        "\n| backend | conveyor req/s (median) | MLflow req/s (median) | conveyor is N× | errors |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, result in report.items():
        ours = statistics.median(result["conveyor_rps"])
        theirs = statistics.median(result["mlflow_rps"]) if result["mlflow_rps"] else None
        ratio = f"{ours / theirs:.1f}×" if theirs else "—"
        shown = f"{theirs:,.0f}" if theirs else "—"
        errors = result.get("conveyor_error_count", 0)
        print(f"| {name} | {ours:,.0f} | {shown} | {ratio} | {errors} |")
        verdict = "PASS" if ours >= LOG_FLOOR_RPS and errors == 0 else "FAIL"
        print(
            f"{verdict}: {name} metric logging {ours:,.0f} req/s from {CLIENTS} clients "
            f"(floor {LOG_FLOOR_RPS:.0f}, no errors)"
        )
    for name, result in report.items():
        print(f"\n| {name}: runs page, 100,000 runs | median ms | max ms |")
        print("|---|---:|---:|")
        for page, timing in result["pages"].items():
            median = timing["median_ms"]
            shown = f"{median:.1f}" if median is not None else f"HTTP {timing['status']}"
            print(f"| {page} | {shown} | {timing.get('max_ms', 0):.1f} |")
            ok = median is not None and median < PAGE_FLOOR_MS
            print(f"{'PASS' if ok else 'FAIL'}: {name} {page} (floor {PAGE_FLOOR_MS:.0f} ms)")


if __name__ == "__main__":
    main()
