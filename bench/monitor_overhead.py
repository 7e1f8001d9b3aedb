"""What a monitor costs a busy server: ``conveyor serve`` throughput at c=64 with and without one.

Both modes serve the serving benchmark's model (``_serving_conveyor.py``: a 100-tree random
forest on ``load_breast_cancer``, registered with its training rows as the reference) with the
prediction log on, and both are scraped on ``/metrics`` every second, as Prometheus would. The
monitored mode adds what running a monitor in production adds:

- a drift monitor (``--window`` latest rows, evaluated ``--every``) stored with
  ``conveyor monitor apply``;
- ``conveyor scheduler`` in its own process, which evaluates it on its interval: reads the
  window back from the prediction log, measures drift of all 30 features against the version's
  reference, decides the rule and stores the evaluation;
- the monitor's gauges on the server's ``/metrics`` (drift per feature, share drifted, alert
  state), read from the store on each scrape.

Each round runs both modes, the order alternating, each on a freshly started server: a wrk
warm-up that is thrown away, then a measured wrk run with the serving harness' lua script
(``shared/bench/serving/lua/post_json.lua``), one row per request on ``/predict``. The
evaluations made during the measured run are counted from the store, so a monitor that did not
run cannot pass for a cheap one. The overhead is 1 - (monitored / plain) req/s, the median of
the per-round ratios.

Usage (from the repository root, with the project's venv; needs ``wrk``):
  python bench/monitor_overhead.py [--rounds 5] [--duration 20] [--every 5s] [--window 10000]
  python bench/monitor_overhead.py --quick     # 1 round, 6 s runs: a smoke run
Exit code is 0 whenever the benchmark ran: a floor that does not hold is reported as a FAIL line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _serving_load as L
import serving as S

MONITOR = "bc-drift"
MAX_OVERHEAD = 0.05  # the floor: a monitor takes less than 5% of the throughput at c=64
MODES = ("plain", "monitored")
FULL = {"rounds": 5, "warmup": 3.0, "duration": 20.0}
QUICK = {"rounds": 1, "warmup": 2.0, "duration": 6.0}


def monitor_yaml(window: int, every: str) -> str:
    return (
        f"name: {MONITOR}\n"
        f"model: {S.MODEL_REF}\n"
        f"window: {window}\n"
        f"every: {every}\n"
        "rules:\n"
        "  - drift: {share_of_features: 0.3, psi: 0.2}\n"
        "actions:\n"
        "  - log: {}\n"
    )


def cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*S.conveyor_cli(), *args],
        env=S.conveyor_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"conveyor {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@dataclass
class Scraper:
    """GETs ``/metrics`` every ``interval`` seconds in a thread, as a Prometheus server would."""

    url: str
    interval: float
    ok: int = 0
    failed: int = 0
    last: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with urllib.request.urlopen(self.url, timeout=10) as r:
                    self.last = r.read().decode()
                    self.ok += 1
            except (urllib.error.URLError, OSError):
                self.failed += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


def evaluations_between(home: Path, start: datetime, end: datetime) -> list[dict[str, Any]]:
    proc = cli(home, "monitor", "history", MONITOR, "--json", "-n", "1000")
    found = json.loads(proc.stdout)["evaluations"]
    return [e for e in found if start <= datetime.fromisoformat(e["evaluated_at"]) <= end]


class Bench:
    def __init__(self, a: argparse.Namespace, harness: Path, workdir: Path) -> None:
        self.a = a
        self.lua = harness / "lua" / "post_json.lua"
        self.workdir = workdir
        self.home = workdir / "home"
        self.records: list[dict[str, Any]] = []
        self.spec = workdir / "monitor.yaml"
        self.spec.write_text(monitor_yaml(a.window, a.every))

    def add(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        with (self.workdir / "raw.jsonl").open("a") as fh:
            fh.write(json.dumps(rec) + "\n")

    def run(self, mode: str, rnd: int) -> None:
        monitored = mode == "monitored"
        if monitored:
            cli(self.home, "monitor", "apply", str(self.spec))
        else:
            # a plain server exports no monitor: the stored one and its evaluations go
            cli(self.home, "monitor", "delete", MONITOR, check=False)
        port = L.free_port()
        cmd = [*S.conveyor_cli(), "serve", S.MODEL_REF, "--host", "127.0.0.1", "--port", str(port)]
        server = L.start(
            mode, cmd, S.conveyor_env(self.home), port, self.workdir / "logs" / f"{mode}_r{rnd}.log"
        )
        scheduler: L.Running | None = None
        scraper = Scraper(server.base + "/metrics", self.a.scrape)
        try:
            if not L.wait_healthy(server, "/readyz", 120):
                raise RuntimeError(f"conveyor serve did not start:\n{server.log_tail()}")
            if monitored:
                scheduler = L.start(
                    "scheduler",
                    [*S.conveyor_cli(), "scheduler", "--poll", "1"],
                    S.conveyor_env(self.home),
                    0,
                    self.workdir / "logs" / f"scheduler_r{rnd}.log",
                )
            scraper.start()
            began = datetime.now(UTC)
            rec = L.measure(
                mode,
                server.base + "/predict",
                self.workdir / "bodies" / "conveyor.json",
                64,
                warmup=self.a.warmup,
                duration=self.a.duration,
                lua=self.lua,
                txt=self.workdir / "wrk" / f"{mode}_r{rnd}.txt",
            )
            ended = datetime.now(UTC)
            rec |= {"round": rnd, "mode": mode, "scrapes": scraper.ok, "scrape_failures": 0}
            rec["scrape_failures"] = scraper.failed
            if monitored:
                assert scheduler is not None
                measured_from = ended.timestamp() - self.a.duration
                evals = evaluations_between(
                    self.home, datetime.fromtimestamp(measured_from, UTC), ended
                )
                rec["evaluations"] = len(evals)
                rec["statuses"] = sorted({e["status"] for e in evals})
                rec["window_rows"] = [e["rows"] for e in evals]
                rec["exported"] = "conveyor_drift_share_drifted{" in scraper.last
                rec["scheduler_alive"] = scheduler.alive()
                if not scheduler.alive():
                    rec["scheduler_log"] = scheduler.log_tail()
            rec["evaluated_since_start"] = began.isoformat()
            self.add(rec)
            print("  " + L.describe(rec) + self.evidence(rec), flush=True)
        finally:
            scraper.stop()
            if scheduler is not None:
                L.stop(scheduler)
            L.stop(server)

    @staticmethod
    def evidence(rec: dict[str, Any]) -> str:
        text = f"  scrapes={rec['scrapes']}"
        if rec["mode"] == "monitored":
            rows = rec["window_rows"]
            text += (
                f"  evaluations={rec['evaluations']} {'/'.join(rec['statuses'])}"
                f" rows/window={min(rows) if rows else 0}-{max(rows) if rows else 0}"
                f" exported={rec['exported']}"
            )
        return text


def valid_monitored(rec: dict[str, Any], a: argparse.Namespace) -> str | None:
    """None if the monitor really ran during the measured run, else what was missing."""
    expected = max(1, int(a.duration // a.every_seconds) - 1)
    if rec.get("evaluations", 0) < expected:
        return f"{rec.get('evaluations', 0)} evaluations in the measured run, expected {expected}+"
    if set(rec["statuses"]) - {"ok", "firing"}:
        return f"evaluations ended {rec['statuses']}: the window was not evaluated"
    if not rec["exported"]:
        return "the monitor's gauges were not on /metrics"
    return None


def summarize(b: Bench) -> int:
    by_round: dict[int, dict[str, float]] = {}
    for rec in b.records:
        if rec.get("wrk"):
            by_round.setdefault(rec["round"], {})[rec["mode"]] = rec["wrk"]["rps"]
    ratios = [r["monitored"] / r["plain"] for r in by_round.values() if len(r) == 2]
    plain = [r["plain"] for r in by_round.values() if "plain" in r]
    watched = [r["monitored"] for r in by_round.values() if "monitored" in r]
    invalid = [
        f"round {rec['round']}: {why}"
        for rec in b.records
        if rec["mode"] == "monitored" and (why := valid_monitored(rec, b.a))
    ]
    errors = [
        f"{rec['mode']} round {rec['round']}: {rec['wrk']['err_status']} non-2xx"
        for rec in b.records
        if rec.get("wrk") and (rec["wrk"]["err_status"] or L.socket_errors(rec["wrk"]))
    ]
    print()
    print(f"{'mode':<10} {'median req/s':>12}  per round")
    for name, xs in (("plain", plain), ("monitored", watched)):
        med = statistics.median(xs) if xs else float("nan")
        print(f"{name:<10} {med:12.1f}  {', '.join(f'{x:.0f}' for x in xs)}")
    if not ratios:
        print("FAIL monitor overhead: no round measured both modes")
        return 0
    ratio = statistics.median(ratios)
    overhead = 1 - ratio
    print(
        f"monitored / plain: median {ratio:.3f} (per round "
        f"{', '.join(f'{r:.3f}' for r in ratios)}); overhead {overhead:+.1%}"
    )
    verdict = "PASS" if overhead < MAX_OVERHEAD and not invalid and not errors else "FAIL"
    print(
        f"{verdict} monitor overhead at c=64: {overhead:+.1%} (floor: under "
        f"{MAX_OVERHEAD:.0%}; monitor every {b.a.every}, window {b.a.window} rows)"
    )
    for line in invalid + errors:
        print(f"  FAIL {line}")
    return 0


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round of short runs: a smoke run")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float, help="seconds of each measured wrk run")
    ap.add_argument("--warmup", type=float, help="seconds of the wrk warm-up before it")
    ap.add_argument("--every", default="5s", help="the monitor's interval (default 5s)")
    ap.add_argument(
        "--window", type=int, default=10_000, help="latest rows in a window (default 10000)"
    )
    ap.add_argument("--scrape", type=float, default=1.0, help="seconds between /metrics scrapes")
    ap.add_argument("--raw-dir", help="logs, wrk output and raw.jsonl (default: a temp dir)")
    a = ap.parse_args()
    for key, value in (QUICK if a.quick else FULL).items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    from conveyor.core._durations import parse_duration

    a.every_seconds = parse_duration(a.every).total_seconds()
    return a


def main() -> int:
    a = parse_args()
    harness = S.serving_harness()
    if harness is None:
        print("shared/bench/serving not found beside the repository (set CONVEYOR_SHARED_DIR)")
        return 2
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)")
        return 2
    workdir = Path(a.raw_dir) if a.raw_dir else Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    b = Bench(a, harness, workdir)
    print(f"raw output in {workdir}", flush=True)
    S.conveyor_helper(b.home, "register")
    S.write_conveyor_inputs(workdir)
    for rnd in range(a.rounds):
        order = MODES if rnd % 2 == 0 else MODES[::-1]
        print(f"round {rnd + 1}/{a.rounds} (load {L.loadavg()})", flush=True)
        for mode in order:
            b.run(mode, rnd)
            time.sleep(1)
    return summarize(b)


if __name__ == "__main__":
    sys.exit(main())
