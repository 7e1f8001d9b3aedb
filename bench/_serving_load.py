"""Servers and load for ``serving.py``: start, wait, stop, and one wrk measurement.

Every server runs in its own session (``setsid``) on a free 127.0.0.1 port and is stopped by
its process group plus any descendant that left it. A measurement is what the shared harness'
``load.sh`` does: a warm-up that is thrown away, then a measured ``wrk -t1 -cN --latency``
with the harness' ``lua/post_json.lua``, whose ``RESULT_JSON`` line is the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WRK_TIMEOUT = "10s"  # as load.sh: a request slower than this counts as a socket error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields follow the last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def tree_rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


@dataclass
class Running:
    """A started server."""

    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    started: float = field(default_factory=time.perf_counter)
    startup_s: float | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, cmd: list[str], env: dict[str, str], port: int, log: Path) -> Running:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: the server and its workers share one group
        )
    return Running(name, proc, f"http://127.0.0.1:{port}", log)


def wait_healthy(server: Running, path: str, timeout: float) -> bool:
    """Poll ``path`` until it answers 200; False if the process died or time ran out."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not server.alive():
            return False
        try:
            with urllib.request.urlopen(server.base + path, timeout=2) as r:
                if r.status == 200:
                    server.startup_s = round(time.perf_counter() - server.started, 2)
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def stop(server: Running, grace: float = 15.0) -> None:
    """SIGTERM to the group and every descendant, SIGKILL to whatever is left after ``grace``."""
    pids = tree(server.proc.pid)
    gone = (ProcessLookupError, PermissionError)
    with contextlib.suppress(*gone):
        os.killpg(server.proc.pid, signal.SIGTERM)
    for p in pids:
        with contextlib.suppress(*gone):
            os.kill(p, signal.SIGTERM)
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline:
        server.proc.poll()
        if not any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
            break
        time.sleep(0.25)
    for p in pids:
        with contextlib.suppress(*gone):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=5)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# ---------------------------------------------------------------------------- metrics
def _scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def samples(url: str, names: tuple[str, ...]) -> dict[str, float]:
    """The samples of the named metrics, keyed by their line (name and labels)."""
    out: dict[str, float] = {}
    for line in (_scrape(url) or "").splitlines():
        if line.split("{", 1)[0].split(" ", 1)[0] in names:
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def histogram(url: str, metric: str) -> dict[str, float] | None:
    """Sum and count of a Prometheus histogram (all label sets added), or None."""
    text = _scrape(url)
    if text is None:
        return None
    total = count = 0.0
    seen = False
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name == f"{metric}_sum":
            total += float(line.split()[-1])
            seen = True
        elif name == f"{metric}_count":
            count += float(line.split()[-1])
    return {"rows": total, "calls": count} if seen else None


def batch_delta(before: dict[str, float] | None, after: dict[str, float] | None) -> Any:
    if not before or not after:
        return None
    rows, calls = after["rows"] - before["rows"], after["calls"] - before["calls"]
    return {"rows": rows, "calls": calls, "mean_batch": round(rows / calls, 2) if calls else None}


# ---------------------------------------------------------------------------- wrk
def wrk_cmd(url: str, conc: int, seconds: float, lua: Path, *, latency: bool) -> list[str]:
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{seconds:g}s", "--timeout", WRK_TIMEOUT]
    return [*cmd, *(["--latency"] if latency else []), "-s", str(lua), url]


def wrk_env(body: Path) -> dict[str, str]:
    return {**os.environ, "BODY_FILE": str(body)}


def parse_result(text: str) -> dict[str, Any] | None:
    for line in text.splitlines():
        if line.startswith("RESULT_JSON "):
            return json.loads(line.split(" ", 1)[1])
    return None


def socket_errors(w: dict[str, Any]) -> int:
    return int(w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"])


def measure(
    label: str,
    url: str,
    body: Path,
    conc: int,
    *,
    warmup: float,
    duration: float,
    lua: Path,
    txt: Path,
    metrics: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One warm-up plus one measured wrk run, as a record in ``load.sh``'s shape.

    ``metrics`` = (URL, histogram name): its batch sizes are read around the measured run.
    """
    env = wrk_env(body)
    if warmup > 0:
        subprocess.run(
            wrk_cmd(url, conc, warmup, lua, latency=False),
            env=env,
            capture_output=True,
            timeout=warmup + 30,
            check=False,
        )
    rec: dict[str, Any] = {
        "label": label,
        "concurrency": conc,
        "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadavg1_before": loadavg(),
    }
    before = histogram(*metrics) if metrics else None
    proc = subprocess.run(
        wrk_cmd(url, conc, duration, lua, latency=True),
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    after = histogram(*metrics) if metrics else None
    txt.parent.mkdir(parents=True, exist_ok=True)
    txt.write_text(proc.stdout + proc.stderr)
    rec["wrk"] = parse_result(proc.stdout)
    rec["batch"] = batch_delta(before, after)
    if rec["wrk"] is None:
        rec["error"] = f"wrk exited {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}"
    return rec


def describe(rec: dict[str, Any]) -> str:
    """One line per measurement, like load.sh prints."""
    w = rec.get("wrk")
    head = f"{rec['label']:<16} c={rec['concurrency']:<3}"
    if not w:
        return f"{head} no result: {rec.get('error', '?')}"
    batch = rec.get("batch") or {}
    return (
        f"{head} {w['rps']:8.1f} req/s  p50 {w['lat_p50_us'] / 1e3:8.2f} ms  "
        f"p99 {w['lat_p99_us'] / 1e3:8.2f} ms  non2xx={w['err_status']} "
        f"sock={socket_errors(w)}"
        + (f"  mean_batch={batch['mean_batch']}" if batch.get("mean_batch") else "")
        + f"  load={rec['loadavg1_before']}"
    )
