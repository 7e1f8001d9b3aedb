"""Model serving throughput of ``conveyor serve`` beside MLflow, BentoML and FastAPI, in one run.

The peers are those of the shared harness (``shared/bench/serving``, see its README): MLflow's
scoring server (``{"inputs": ...}`` on /invocations), BentoML with adaptive batching
(``--nobatch`` adds BentoML without it) and a hand-written FastAPI app, started by the
harness' ``serve_*.sh`` in the peers' venv. All serve ``RandomForestClassifier(n_estimators=100,
random_state=0)`` fitted on ``load_breast_cancer``; conveyor serves the same model from a
fresh store per round (``_serving_conveyor.py``), one row per request on /predict.

Each round runs every server in turn, the order rotated per round: start in its own session on
a free 127.0.0.1 port, wait for health, check the answers against the local model, then per
concurrency a wrk warm-up (thrown away) and a measured run with the harness' lua script, and
stop the process group. The in-process ``model.predict`` time is measured once a round as a
noise gauge. After the rounds, a hot swap: while wrk runs at c=64 against conveyor, a second
process registers version 2 and moves ``production`` to it; no request may fail and the
server must end up serving version 2.

Usage (from the repository root, with the project's venv):
  python bench/serving.py [--rounds 3] [--duration 15] [--warmup 3] [--peers-venv DIR]
  python bench/serving.py --quick        # 1 round, c=1 and 64, 3 s runs: a smoke run
The peers' venv: ``PEERS_VENV=/tmp/peers/serve ../shared/bench/serving/setup.sh``.
Exit code is 0 whenever the benchmark ran: floors that do not hold are reported as FAIL lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peers as P
import _serving_load as L

HELPER = P.BENCH_DIR / "_serving_conveyor.py"
MODEL_REF = "bc@production"

# Floors conveyor must meet (paired per-round ratios and medians of this run).
VS_MLFLOW_C64 = 10.0
VS_BENTOML_BATCH_C64 = 3.0
P50_VS_FASTAPI_C1 = 1.0
# load kept on after the alias moved in the hot swap: three polls of the server's default 2 s
SWAP_HOLD_S = 6.0
SWAP_METRICS = ("conveyor_model_swaps_total", "conveyor_model_load_seconds", "conveyor_model_info")


@dataclass(frozen=True)
class Server:
    name: str
    health: str  # GET path answering 200 once the model is loaded
    path: str  # POST path under load
    body: str  # file under <workdir>/bodies
    check: str  # kind for the harness' check.py, or "conveyor"
    batch_metric: str | None = None  # histogram of rows per predict call on /metrics
    script: tuple[str, ...] = ()  # the harness' start script and its arguments after PORT


SERVERS: dict[str, Server] = {
    "conveyor": Server(
        "conveyor", "/readyz", "/predict", "conveyor.json", "conveyor", "conveyor_batch_size"
    ),
    "fastapi": Server(
        "fastapi", "/health", "/predict", "fastapi.json", "fastapi", script=("serve_fastapi.sh",)
    ),
    "mlflow": Server(
        "mlflow",
        "/ping",
        "/invocations",
        "mlflow_inputs.json",
        "mlflow",
        script=("serve_mlflow.sh",),
    ),
    "bentoml-batch": Server(
        "bentoml-batch",
        "/readyz",
        "/predict",
        "bentoml.json",
        "bentoml",
        "bentoml_service_adaptive_batch_size",
        ("serve_bentoml.sh", "batch"),
    ),
    "bentoml-nobatch": Server(
        "bentoml-nobatch",
        "/readyz",
        "/predict",
        "bentoml.json",
        "bentoml",
        script=("serve_bentoml.sh", "nobatch"),
    ),
}
DEFAULT_SERVERS = ["conveyor", "fastapi", "mlflow", "bentoml-batch"]
# the executable each peer needs in the peers' venv
PEER_TOOL = {
    "fastapi": "uvicorn",
    "mlflow": "mlflow",
    "bentoml-batch": "bentoml",
    "bentoml-nobatch": "bentoml",
}
# the same thread limits the harness' env.sh gives the peers (2 cores shared with wrk)
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

FULL = {"rounds": 3, "warmup": 3.0, "duration": 15.0, "concurrency": "1,16,64"}
FULL |= {"swap_duration": 15.0, "swap_at": 4.0}
QUICK = {"rounds": 1, "warmup": 1.0, "duration": 3.0, "concurrency": "1,64"}
QUICK |= {"swap_duration": 8.0, "swap_at": 2.0}


# ---------------------------------------------------------------------------- set-up
def serving_harness() -> Path | None:
    shared = P.shared_dir()
    if shared is None:
        return None
    path = shared / "bench" / "serving"
    return (
        path
        if (path / "load.sh").is_file() and (path / "lua" / "post_json.lua").is_file()
        else None
    )


def default_peers_venv() -> str:
    return os.environ.get("PEERS_SERVE_VENV") or "/tmp/peers/serve"


def peer_env(venv: Path, workdir: Path) -> dict[str, str]:
    # env.sh (sourced by every harness script) derives everything else from these two
    return {**os.environ, "PEERS_VENV": str(venv), "PEERS_WORKDIR": str(workdir)}


def peer_script(
    harness: Path, venv: Path, workdir: Path, args: list[str], timeout: float, rnd: int = 0
) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT ARGS`` in the peers' venv, after sourcing the harness' env.sh."""
    cmd = ["bash", "-c", 'source "$0/env.sh" && exec python "$@"', str(harness), *args]
    env = peer_env(venv, workdir) | {"ROUND": str(rnd)}
    return subprocess.run(
        cmd, cwd=harness, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def conveyor_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return env | THREAD_ENV | {"CONVEYOR_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def conveyor_cli() -> list[str]:
    exe = Path(sys.executable).parent / "conveyor"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "conveyor"]


def conveyor_serve_missing() -> str | None:
    """None if ``conveyor serve`` exists, else why not."""
    try:
        proc = subprocess.run(
            [*conveyor_cli(), "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`conveyor serve --help` did not run: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return f"`conveyor serve --help` exited {proc.returncode}: {tail[0]}"
    return None


def conveyor_helper(home: Path, *args: str, timeout: float = 300) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HELPER), *args],
        env=conveyor_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"_serving_conveyor.py {args[0]} failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_conveyor_inputs(workdir: Path) -> Path:
    """conveyor's one-row body (the row the peers' bodies hold) and the rows to check.

    The peers' train.py writes rows.json; without the peers the same rows are taken here.
    """
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True)
    bodies = workdir / "bodies"
    bodies.mkdir(parents=True, exist_ok=True)
    (bodies / "conveyor.json").write_text(json.dumps({"data": [X[0].tolist()]}))
    rows = workdir / "rows.json"
    if not rows.is_file():
        idx = [0, 1, 2, 3, 19, 20, 100, 200]  # train.py's rows, both classes
        rows.write_text(json.dumps({"rows": X[idx].tolist(), "expected": None}))
    return rows


def versions(peers_python: Path | None) -> dict[str, Any]:
    code = (
        "import json, sys\n"
        "from importlib import metadata as m\n"
        "def v(p):\n"
        "    try:\n"
        "        return m.version(p)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({p: v(p) for p in sys.argv[1:]}))"
    )
    out: dict[str, Any] = {}
    for who, python, pkgs in (
        ("project", sys.executable, ["conveyor", "scikit-learn", "numpy", "starlette", "uvicorn"]),
        (
            "peers",
            peers_python,
            ["mlflow", "bentoml", "scikit-learn", "numpy", "fastapi", "uvicorn"],
        ),
    ):
        if python is None:
            continue
        proc = subprocess.run(
            [str(python), "-c", code, *pkgs],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        out[who] = json.loads(proc.stdout) if proc.returncode == 0 else None
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    lines = (wrk.stdout + wrk.stderr).strip().splitlines()
    out["wrk"] = lines[0] if lines else None
    return out


# ---------------------------------------------------------------------------- one server
class Bench:
    """What every round needs: paths, options, the raw records written so far."""

    def __init__(self, a: argparse.Namespace, harness: Path, workdir: Path) -> None:
        self.a = a
        self.harness = harness
        self.venv = Path(a.peers_venv)
        self.workdir = workdir
        self.lua = harness / "lua" / "post_json.lua"
        self.raw = workdir / "raw.jsonl"
        self.records: list[dict[str, Any]] = []

    def add(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        with self.raw.open("a") as fh:  # the shape of the harness' raw.jsonl
            fh.write(json.dumps(rec) + "\n")

    def start(self, server: Server, rnd: int, home: Path | None) -> L.Running:
        port = L.free_port()
        log = self.workdir / "logs" / f"{server.name}_r{rnd}.log"
        if server.name == "conveyor":
            assert home is not None
            cmd = [*conveyor_cli(), "serve", MODEL_REF, "--host", "127.0.0.1", "--port", str(port)]
            cmd += shlex.split(self.a.conveyor_args)
            return L.start(server.name, cmd, conveyor_env(home), port, log)
        script, *rest = server.script
        cmd = ["bash", str(self.harness / script), str(port), *rest]
        return L.start(server.name, cmd, peer_env(self.venv, self.workdir), port, log)

    def check(self, server: Server, running: L.Running, home: Path | None) -> tuple[bool, str]:
        """Answers of the running server against the local model: (ok, the checker's output)."""
        if server.check == "conveyor":
            cmd = [
                sys.executable,
                str(HELPER),
                "check",
                running.base,
                str(self.workdir / "rows.json"),
            ]
            assert home is not None
            proc = subprocess.run(
                cmd,
                env=conveyor_env(home),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        else:
            proc = peer_script(
                self.harness, self.venv, self.workdir, ["check.py", server.check, running.base], 300
            )
        text = (proc.stdout + proc.stderr).strip()
        return proc.returncode == 0, text

    def run_server(self, server: Server, rnd: int, home: Path | None, concs: list[int]) -> None:
        running = self.start(server, rnd, home)
        try:
            if not L.wait_healthy(running, server.health, self.a.start_timeout):
                code = running.proc.poll()
                why = (
                    f"exited with code {code}"
                    if code is not None
                    else f"not healthy in {self.a.start_timeout:g}s"
                )
                print(f"  {server.name}: failed to start ({why}); log {running.log}:", flush=True)
                print("    " + running.log_tail().replace("\n", "\n    "), flush=True)
                self.add({"label": server.name, "round": rnd, "event": "start_failed", "why": why})
                return
            ok, text = self.check(server, running, home)
            print(
                f"  {server.name}: up in {running.startup_s:.1f}s, check "
                f"{'OK' if ok else 'FAILED'}",
                flush=True,
            )
            if not ok:
                print("    " + text.replace("\n", "\n    "), flush=True)
                self.add(
                    {"label": server.name, "round": rnd, "event": "check_failed", "output": text}
                )
            metrics = (
                (running.base + "/metrics", server.batch_metric) if server.batch_metric else None
            )
            for c in concs:
                rec = L.measure(
                    server.name,
                    running.base + server.path,
                    self.workdir / "bodies" / server.body,
                    c,
                    warmup=self.a.warmup,
                    duration=self.a.duration,
                    lua=self.lua,
                    txt=self.workdir / "wrk" / f"{server.name}_c{c}_r{rnd}.txt",
                    metrics=metrics,
                )
                rec["round"] = rnd
                self.add(rec)
                print("  " + L.describe(rec), flush=True)
            event = {"label": server.name, "round": rnd, "event": "server"}
            event |= {
                "startup_s": running.startup_s,
                "rss_mb_after": L.tree_rss_mb(running.proc.pid),
            }
            event["processes"] = len(L.tree(running.proc.pid))
            if not running.alive():
                event["died"] = running.log_tail()
            self.add(event)
        finally:
            L.stop(running)

    def predict_floor(self, rnd: int) -> None:
        """The harness' in-process predict timing (1, 16, 64 rows), as a noise gauge."""
        if not (self.venv / "bin" / "python").is_file():
            return
        proc = peer_script(self.harness, self.venv, self.workdir, ["predict_floor.py"], 600, rnd)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            print(f"  predict_floor.py failed: {proc.stderr.strip()[-300:]}", flush=True)
            return
        rec = json.loads(lines[-1])
        self.add(rec)
        p = rec["predict"]
        print(
            f"  in-process predict (no HTTP): 1 row {p['rows1_median_ms']:.1f} ms, "
            f"16 rows {p['rows16_median_ms']:.1f} ms, 64 rows {p['rows64_median_ms']:.1f} ms",
            flush=True,
        )


# ---------------------------------------------------------------------------- hot swap
def served_version(base: str) -> tuple[int | None, str]:
    status, answer = post_json(base + "/predict", {"data": [[0.0] * 30]})
    if status == 200 and isinstance(answer, dict):
        return answer.get("version"), ""
    return None, f"HTTP {status}: {str(answer)[:200]}"


def post_json(url: str, body: object, timeout: float = 30) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def hot_swap(b: Bench) -> dict[str, Any]:
    """wrk at c=64 on conveyor while another process registers v2 and moves the alias to it.

    The load runs at least ``--swap-duration`` seconds and at least ``SWAP_HOLD_S`` after the
    alias moved (registering takes seconds under load), then wrk is stopped with SIGINT, which
    still prints its summary.
    """
    a = b.a
    home = b.workdir / "conveyor-swap"
    res: dict[str, Any] = {"min_duration_s": a.swap_duration, "swap_at_s": a.swap_at}
    res["v1"] = conveyor_helper(home, "register", "--trees", "100")
    running = b.start(SERVERS["conveyor"], -1, home)
    swapper: subprocess.Popen[str] | None = None
    try:
        if not L.wait_healthy(running, "/readyz", a.start_timeout):
            res["error"] = f"server did not start: {running.log_tail()}"
            return res
        res["version_before"], why = served_version(running.base)
        if res["version_before"] != 1:
            res["error"] = f"served version before the swap is {res['version_before']} {why}"
            return res
        swapper = subprocess.Popen(
            [sys.executable, str(HELPER), "swap", "--trees", "50"],
            env=conveyor_env(home),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert swapper.stdin is not None
        assert swapper.stdout is not None
        if swapper.stdout.readline().strip() != "ready":
            res["error"] = f"swap process failed: {swapper.communicate()[1][-500:]}"
            return res
        poller = Poller(running.base)
        body = b.workdir / "bodies" / "conveyor.json"
        cap = a.swap_duration + 600  # stopped by SIGINT well before
        t_start = time.time()
        wrk = subprocess.Popen(
            L.wrk_cmd(running.base + "/predict", 64, cap, b.lua, latency=True),
            env=L.wrk_env(body),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        poller.start()
        time.sleep(a.swap_at)
        swapper.stdin.write("go\n")
        swapper.stdin.flush()
        out, err = swapper.communicate(timeout=300)
        if swapper.returncode != 0:
            res["swap_error"] = err[-500:]
        else:
            res["v2"] = json.loads(out.strip().splitlines()[-1])
        promoted = res.get("v2", {}).get("promoted_at")
        stop_at = max(t_start + a.swap_duration, (promoted or time.time()) + SWAP_HOLD_S)
        time.sleep(max(0.0, stop_at - time.time()))
        wrk.send_signal(signal.SIGINT)
        text, _ = wrk.communicate(timeout=60)
        t_end = time.time()
        poller.stop()
        (b.workdir / "wrk").mkdir(exist_ok=True)
        (b.workdir / "wrk" / "hot_swap_c64.txt").write_text(text)
        res["wrk"] = L.parse_result(text)
        res["version_after"], res["version_after_error"] = served_version(running.base)
        first_v2 = next((t for t, v, _ in poller.seen if v == 2), None)
        res["poller"] = {
            "requests": len(poller.seen),
            "failed": sum(1 for _, _, s in poller.seen if s != 200),
            "versions": sorted({v for _, v, _ in poller.seen if v is not None}),
            "first_v2_after_promote_s": (
                round(first_v2 - promoted, 2) if first_v2 and promoted else None
            ),
            "v2_seen_during_load": first_v2 is not None and first_v2 < t_end,
        }
        res["promoted_after_start_s"] = round(promoted - t_start, 2) if promoted else None
        res["load_s"] = round(t_end - t_start, 2)
        res["batch"] = L.histogram(running.base + "/metrics", "conveyor_batch_size")
        res["metrics"] = L.samples(running.base + "/metrics", SWAP_METRICS)
    finally:
        if swapper is not None and swapper.poll() is None:
            swapper.kill()
        L.stop(running)
    return res


class Poller:
    """One request every half second beside the load: dates the switch as a client sees it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.seen: list[tuple[float, int | None, int]] = []  # (answered at, version, status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            status, answer = post_json(self.base + "/predict", {"data": [[0.0] * 30]})
            version = answer.get("version") if isinstance(answer, dict) else None
            self.seen.append((time.time(), version, status))
            self._stop.wait(0.5)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=35)


def swap_verdict(res: dict[str, Any] | None) -> dict[str, Any]:
    name = "hot swap under c=64 load: zero failed requests, serves v2 afterwards"
    if res is None:
        return {"floor": name, "status": "SKIP", "detail": "not run"}
    if "error" in res or "swap_error" in res:
        return {"floor": name, "status": "FAIL", "detail": res.get("error") or res["swap_error"]}
    w = res.get("wrk")
    if not w:
        return {"floor": name, "status": "FAIL", "detail": "no wrk result"}
    errors = w["err_status"] + L.socket_errors(w)
    poller = res["poller"]
    ok = (
        errors == 0
        and w["requests"] > 0
        and res["version_after"] == 2
        and poller["v2_seen_during_load"]
        and poller["failed"] == 0
    )
    detail = (
        f"{w['requests']} requests ({w['rps']:.0f} req/s, p99 {w['lat_p99_us'] / 1e3:.0f} ms), "
        f"non-2xx {w['err_status']}, socket errors {L.socket_errors(w)}; alias moved "
        f"{res['promoted_after_start_s']} s into {res['load_s']} s of load, v2 answered "
        f"{poller['first_v2_after_promote_s']} s after the move"
        f"{'' if poller['v2_seen_during_load'] else ' (not during the load)'}; "
        f"version after the run: {res['version_after']} {res.get('version_after_error') or ''}"
    ).rstrip()
    loads = [v for k, v in res.get("metrics", {}).items() if "load_seconds" in k and '"2"' in k]
    if loads:
        detail += f"; v2 loaded in {loads[0]:.2f} s"
    if poller["failed"]:
        detail += f"; {poller['failed']} of the poller's {poller['requests']} requests failed"
    return {"floor": name, "status": "PASS" if ok else "FAIL", "detail": detail}


# ---------------------------------------------------------------------------- summary
def med(xs: list[float]) -> float | None:
    ys = [x for x in xs if x is not None]
    return statistics.median(ys) if ys else None


def runs_of(records: list[dict[str, Any]]) -> dict[tuple[str, int, int], dict[str, Any]]:
    """(label, concurrency, round) -> wrk result of the measured runs."""
    return {(r["label"], r["concurrency"], r["round"]): r["wrk"] for r in records if r.get("wrk")}


def paired(
    records: list[dict[str, Any]], ours: str, theirs: str, c: int, key: str, invert: bool = False
) -> list[float]:
    """Per round: ours / theirs of ``key`` (theirs / ours with ``invert``), both of that round."""
    idx = runs_of(records)
    out = []
    for (label, conc, rnd), w in idx.items():
        other = idx.get((theirs, c, rnd))
        if label != ours or conc != c or other is None:
            continue
        num, den = (other[key], w[key]) if invert else (w[key], other[key])
        if den:
            out.append(num / den)
    return out


def summarize(records: list[dict[str, Any]], servers: list[str], concs: list[int]) -> list[dict]:
    rows = []
    for c in concs:
        for name in servers:
            rs = [r for r in records if r.get("label") == name and r.get("concurrency") == c]
            ws = [r["wrk"] for r in rs if r.get("wrk")]
            if not rs:
                continue
            rps = [w["rps"] for w in ws]
            ratio = paired(records, "conveyor", name, c, "rps") if name != "conveyor" else []
            batches = [
                r["batch"]["mean_batch"] for r in rs if (r.get("batch") or {}).get("mean_batch")
            ]
            rows.append(
                {
                    "server": name,
                    "concurrency": c,
                    "runs": len(ws),
                    "failed_runs": len(rs) - len(ws),
                    "rps_median": med(rps),
                    "rps_min": min(rps, default=None),
                    "rps_max": max(rps, default=None),
                    "p50_ms_median": med([w["lat_p50_us"] / 1e3 for w in ws]),
                    "p90_ms_median": med([w["lat_p90_us"] / 1e3 for w in ws]),
                    "p99_ms_median": med([w["lat_p99_us"] / 1e3 for w in ws]),
                    "non2xx_total": sum(w["err_status"] for w in ws),
                    "socket_errors_total": sum(L.socket_errors(w) for w in ws),
                    "conveyor_rps_ratio_paired_median": med(ratio),
                    "conveyor_rps_ratios": ratio,
                    "mean_batch_median": med(batches),
                    "loadavg1_median": med([r.get("loadavg1_before") for r in rs]),
                }
            )
    return rows


def fmt(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| server | conc | req/s median [min–max] | n | p50 ms | p99 ms | non-2xx | socket err "
        "| conveyor ÷ server req/s (paired) | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rps = (
            f"{fmt(r['rps_median'])} [{fmt(r['rps_min'])}–{fmt(r['rps_max'])}]"
            if r["runs"]
            else "—"
        )
        ratio = "—" if r["server"] == "conveyor" else fmt(r["conveyor_rps_ratio_paired_median"], 2)
        cells = [
            r["server"],
            str(r["concurrency"]),
            rps,
            str(r["runs"]),
            fmt(r["p50_ms_median"]),
            fmt(r["p99_ms_median"]),
            str(r["non2xx_total"]),
            str(r["socket_errors_total"]),
            ratio,
            fmt(r["mean_batch_median"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floors(
    rows: list[dict[str, Any]],
    records: list[dict[str, Any]],
    servers: list[str],
    concs: list[int],
) -> list[dict[str, Any]]:
    """Each floor as {floor, status PASS/FAIL/SKIP, detail}.

    SKIP: a server or concurrency the floor needs was not selected; selected but not measured
    is FAIL.
    """
    by = {(r["server"], r["concurrency"]): r for r in rows}
    out: list[dict[str, Any]] = []

    def need(names: list[str], c: int) -> str | None:
        missing = [n for n in names if n not in servers]
        if missing or c not in concs:
            return f"not selected: {', '.join(missing) or f'c={c}'}"
        return None

    def add(name: str, skip: str | None, value: float | None, ok: bool, detail: str) -> None:
        if skip:
            out.append({"floor": name, "status": "SKIP", "detail": skip})
        elif value is None:
            out.append({"floor": name, "status": "FAIL", "detail": "not measured"})
        else:
            out.append({"floor": name, "status": "PASS" if ok else "FAIL", "detail": detail})

    for peer, floor in (("mlflow", VS_MLFLOW_C64), ("bentoml-batch", VS_BENTOML_BATCH_C64)):
        ratios = paired(records, "conveyor", peer, 64, "rps")
        x = med(ratios)
        add(
            f"c=64 conveyor req/s >= {floor:g}x {peer} (median of per-round ratios)",
            need(["conveyor", peer], 64),
            x,
            x is not None and x >= floor,
            f"{x:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})" if x else "",
        )
    for peer in ("mlflow", "bentoml-batch"):
        ours, theirs = by.get(("conveyor", 64), {}), by.get((peer, 64), {})
        p_ours, p_theirs = ours.get("p99_ms_median"), theirs.get("p99_ms_median")
        value = None if p_ours is None or p_theirs is None else p_ours
        add(
            f"c=64 conveyor p99 below {peer}'s (medians)",
            need(["conveyor", peer], 64),
            value,
            value is not None and p_theirs is not None and p_ours < p_theirs,
            f"{fmt(p_ours)} ms vs {fmt(p_theirs)} ms",
        )
    conveyor_runs = [r for r in rows if r["server"] == "conveyor"]
    errors = sum(r["non2xx_total"] + r["socket_errors_total"] for r in conveyor_runs)
    failed = sum(r["failed_runs"] for r in conveyor_runs)
    add(
        "conveyor answers every request (non-2xx + socket errors = 0, all concurrencies)",
        need(["conveyor"], concs[0]),
        None if not conveyor_runs else errors,
        errors == 0 and failed == 0,
        f"{errors} errors over {sum(r['runs'] for r in conveyor_runs)} runs"
        + (f", {failed} runs without a result" if failed else ""),
    )
    ratios = paired(records, "conveyor", "fastapi", 1, "lat_p50_us")
    x = med(ratios)
    add(
        f"c=1 conveyor p50 <= fastapi's p50 (median of per-round ratios <= {P50_VS_FASTAPI_C1:g})",
        need(["conveyor", "fastapi"], 1),
        x,
        x is not None and x <= P50_VS_FASTAPI_C1,
        f"{x:.2f} (conveyor {fmt(by.get(('conveyor', 1), {}).get('p50_ms_median'), 2)} ms, "
        f"fastapi {fmt(by.get(('fastapi', 1), {}).get('p50_ms_median'), 2)} ms)"
        if x
        else "",
    )
    return out


def problems(records: list[dict[str, Any]]) -> list[str]:
    """Servers that did not start, gave wrong answers or died, and runs without a result."""
    out = []
    for r in records:
        where = f"{r.get('label')} round {r.get('round')}"
        if r.get("event") == "start_failed":
            out.append(f"{where}: failed to start ({r.get('why')})")
        elif r.get("event") == "check_failed":
            out.append(f"{where}: wrong or rejected answers: {r['output'].splitlines()[0]}")
        elif r.get("event") == "server" and r.get("died"):
            out.append(f"{where}: the server died during the runs")
        elif "concurrency" in r and not r.get("wrk"):
            out.append(f"{where} c={r['concurrency']}: {r.get('error')}")
    return out


# ---------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, help=f"default {FULL['rounds']}")
    ap.add_argument("--duration", type=float, help=f"measured seconds a run ({FULL['duration']:g})")
    ap.add_argument("--warmup", type=float, help=f"warm-up seconds a run ({FULL['warmup']:g})")
    ap.add_argument("--concurrency", help=f"comma list ({FULL['concurrency']})")
    ap.add_argument(
        "--servers", default=",".join(DEFAULT_SERVERS), help="comma list of " + ", ".join(SERVERS)
    )
    ap.add_argument("--nobatch", action="store_true", help="also run bentoml-nobatch")
    ap.add_argument("--no-swap", action="store_true", help="skip the hot-swap scenario")
    ap.add_argument("--swap-duration", type=float, help=f"({FULL['swap_duration']:g} s)")
    ap.add_argument(
        "--swap-at", type=float, help=f"alias moved this far in ({FULL['swap_at']:g} s)"
    )
    ap.add_argument(
        "--quick", action="store_true", help="1 round, c=1 and 64, 1 s warm-up + 3 s runs"
    )
    ap.add_argument(
        "--conveyor-args",
        default="",
        help="extra `conveyor serve` options, given with '=' (they start with a dash), e.g. "
        "--conveyor-args='--workers 2 --no-prediction-log'",
    )
    ap.add_argument(
        "--peers-venv",
        default=default_peers_venv(),
        help="venv made by the harness' setup.sh (default: $PEERS_SERVE_VENV, else "
        "/tmp/peers/serve)",
    )
    ap.add_argument("--start-timeout", type=float, default=180, help="seconds to become healthy")
    ap.add_argument(
        "--out",
        default=str(P.BENCH_DIR / "results" / "serving.json"),
        help="JSON with every raw record, the summary and the floors",
    )
    ap.add_argument(
        "--raw-dir", default=None, help="models, bodies, server logs, wrk output (default: temp)"
    )
    a = ap.parse_args()
    for key, value in (QUICK if a.quick else FULL).items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    return a


def main() -> None:
    a = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (apt-get install -y wrk)")
    concs = [int(c) for c in str(a.concurrency).split(",") if c]
    servers = [s for s in a.servers.split(",") if s]
    if a.nobatch and "bentoml-nobatch" not in servers:
        servers.append("bentoml-nobatch")
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        sys.exit(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")

    notes: list[str] = []
    harness = serving_harness()
    venv = Path(a.peers_venv)
    peers = [s for s in servers if s != "conveyor"]
    if harness is None:
        sys.exit(
            "shared/bench/serving not found beside the repository (set CONVEYOR_SHARED_DIR): "
            "its lua script is the load"
        )
    missing = [s for s in peers if not (venv / "bin" / PEER_TOOL[s]).is_file()]
    if not (venv / "bin" / "python").is_file():
        missing = peers
    for s in missing:
        notes.append(f"{s} skipped: no {venv / 'bin' / PEER_TOOL[s]} (run the harness' setup.sh)")
    servers = [s for s in servers if s not in missing]
    if "conveyor" in servers:
        why = conveyor_serve_missing()
        if why:
            notes.append(f"conveyor skipped: {why}")
            servers.remove("conveyor")
    for n in notes:
        print(n, flush=True)
    if not servers:
        sys.exit("no server to measure")

    workdir = Path(a.raw_dir or tempfile.mkdtemp(prefix="conveyor-serving-"))
    workdir.mkdir(parents=True, exist_ok=True)
    b = Bench(a, harness, workdir)
    # the peers' venv also times the in-process predict (the noise gauge), with conveyor alone too
    peers_python = venv / "bin" / "python" if (venv / "bin" / "python").is_file() else None
    if peers_python is not None:
        proc = peer_script(harness, venv, workdir, ["train.py"], 600)
        if proc.returncode != 0:
            sys.exit(f"the harness' train.py failed:\n{proc.stderr[-2000:]}")
    write_conveyor_inputs(workdir)

    per_server = len(concs) * (a.warmup + a.duration + 1)
    estimate = a.rounds * (len(servers) * (per_server + 25) + 15)
    estimate += 0 if a.no_swap or "conveyor" not in servers else a.swap_duration + 30
    print(
        f"serving: {a.rounds} round(s) x {', '.join(servers)} x c={','.join(map(str, concs))}, "
        f"{a.warmup:g} s warm-up + {a.duration:g} s a run; about {estimate / 60:.0f} min. "
        f"Raw: {workdir}",
        flush=True,
    )
    load_start = L.loadavg()
    started = datetime.now(UTC).isoformat()
    for rnd in range(a.rounds):
        k = rnd % len(servers)
        order = servers[k:] + servers[:k]
        print(f"=== round {rnd + 1}/{a.rounds}: {', '.join(order)}  load {L.loadavg()}", flush=True)
        b.predict_floor(rnd)
        home = None
        if "conveyor" in servers:
            home = workdir / f"conveyor-r{rnd}"  # a fresh store a round
            conveyor_helper(home, "register", "--trees", "100")
        for name in order:
            b.run_server(SERVERS[name], rnd, home, concs)

    swap: dict[str, Any] | None = None
    if "conveyor" in servers and not a.no_swap:
        print(
            f"=== hot swap: c=64 for {a.swap_duration:g} s, alias moved {a.swap_at:g} s in",
            flush=True,
        )
        try:
            swap = hot_swap(b)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            swap = {"error": str(exc)}
    load_end = L.loadavg()

    rows = summarize(b.records, servers, concs)
    checks = floors(rows, b.records, servers, concs)
    checks.append(swap_verdict(swap))
    issues = problems(b.records)
    gauges = [r for r in b.records if r.get("label") == "inproc-predict"]

    print()
    print(
        f"## Serving: conveyor beside {', '.join(s for s in servers if s != 'conveyor') or '—'}, "
        f"{a.rounds} round(s), {a.duration:g} s runs, load {load_start} -> {load_end} "
        f"on {os.cpu_count()} CPUs"
    )
    print()
    print(table(rows))
    print()
    if gauges:
        floor_ms = ", ".join(
            f"{g['predict']['rows1_median_ms']:.1f}/{g['predict']['rows64_median_ms']:.1f}"
            for g in gauges
        )
        print(f"In-process predict, 1/64 rows, ms per round (noise gauge): {floor_ms}")
    for name in servers:
        ev = [r for r in b.records if r.get("label") == name and r.get("event") == "server"]
        if ev:
            print(
                f"{name}: start {fmt(med([e['startup_s'] for e in ev]))} s, "
                f"{fmt(med([e['rss_mb_after'] for e in ev]), 0)} MB RSS in "
                f"{ev[-1]['processes']} process(es) (medians)"
            )
    for n in notes:
        print(n)
    print()
    for c in checks:
        print(f"{c['status']:4}  {c['floor']}: {c['detail']}")
    for issue in issues:
        print(f"FAIL  {issue}")
    failed = [c for c in checks if c["status"] == "FAIL"]
    print(f"\n{len(failed)} floor(s) failed, {len(issues)} server problem(s).")

    doc = {
        "generated_utc": datetime.now(UTC).isoformat(),
        "started_utc": started,
        "args": vars(a),
        "servers": servers,
        "concurrencies": concs,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg_start": load_start,
            "loadavg_end": load_end,
        },
        "versions": versions(peers_python),
        "notes": notes,
        "summary": rows,
        "floors": checks,
        "problems": issues,
        "hot_swap": swap,
        "records": b.records,
        "raw_dir": str(workdir),
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
