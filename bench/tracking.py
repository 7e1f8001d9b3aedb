"""Tracking throughput of conveyor beside MLflow (SQLite backend), in one run.

conveyor runs ``_conveyor_tracking.py`` in this repository's venv; MLflow runs the shared
harness' ``mlflow_tracking.py`` (``shared/bench/pipelines``) in the peers' venv, against
``sqlite:///`` in a fresh folder per repeat (no tracking server). Scenarios: log_metric one call
per point, batch logging of 10,000 points, search over 1000 runs (unfiltered, and filtered +
ordered by a metric) and, for conveyor only, the cached load of a registered model.

Every round runs both tools as fresh processes, the order alternating per round. Per-repeat
samples are pooled over the rounds and their medians compared.

Usage (from the repository root, with the project's venv):
  python bench/tracking.py [--rounds 3] [--repeats 2] [--peers-python PATH] [--out FILE]
  python bench/tracking.py --quick        # 1 round, 1 repeat, 3 searches: a smoke run
Exit code is 0 whenever the benchmark ran: floors that do not hold are reported as FAIL lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peers as P

N = 10_000  # metric points per run (per-call conveyor, batch both)
PER_CALL_N = 1_000  # MLflow's per-call points: ~4 ms a call, so a repeat stays under a minute
PARAMS = 100  # params logged before the metrics (conveyor's per-call time includes them)
SEARCH_RUNS = 1_000
ASYNC_POINTS = 1_000

# Floors conveyor must meet (checked on the medians of this run).
LOG_METRIC_US = 20.0  # per call, i.e. >= 50,000 calls/s
BATCH_POINTS_PER_S = 200_000.0
SEARCH_FILTERED_MS = 100.0
CACHED_LOAD_MS = 1.0

NO_MLFLOW = "MLflow's python not found: conveyor alone, no ratios"


# ---------------------------------------------------------------------------- scenarios
# Each scenario turns one repeat of a tool's JSON into one sample, or None if not measured.
Sample = Callable[[dict[str, Any], dict[str, Any]], float | None]


def _get(rep: dict[str, Any], key: str, scale: float = 1.0) -> float | None:
    value = rep.get(key)
    return None if value is None else float(value) * scale


def _rate(rep: dict[str, Any], key: str, points: float) -> float | None:
    value = rep.get(key)
    return None if not value else points / float(value)


# name, unit, higher is better, conveyor's sample, MLflow's sample (None: not measured there).
# ``res`` is the whole JSON document of the process, for its point counts.
SCENARIOS: list[tuple[str, str, bool, Sample, Sample | None]] = [
    (
        "log_metric per call",
        "µs",
        False,
        lambda rep, res: _get(rep, "per_call_s", 1e6 / (res["n"] + PARAMS)),
        lambda rep, res: _get(rep, "per_call_metrics_s", 1e6 / res["per_call_n"]),
    ),
    (
        "logging throughput, one call a point",
        "points/s",
        True,
        lambda rep, res: _rate(rep, "per_call_s", res["n"] + PARAMS),
        lambda rep, res: _rate(rep, "per_call_metrics_s", res["per_call_n"]),
    ),
    (
        "batch logging",
        "points/s",
        True,
        lambda rep, res: _rate(rep, "batch_s", res["n"]),
        lambda rep, res: _rate(rep, "batch_metrics_s", res["n"]),
    ),
    (
        "search 1000 runs, filtered + ordered",
        "ms",
        False,
        lambda rep, res: _get(rep, "search_filtered_s", 1e3),
        lambda rep, res: _get(rep, "search_filtered_s", 1e3),
    ),
    (
        "search 1000 runs, unfiltered",
        "ms",
        False,
        lambda rep, res: _get(rep, "search_all_s", 1e3),
        lambda rep, res: _get(rep, "search_all_s", 1e3),
    ),
    (
        "cached model load",
        "ms",
        False,
        lambda rep, res: _get(rep, "load_cached_s", 1e3),
        None,
    ),
]


def repeats_of(record: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per-repeat samples of one process and the document they came from."""
    res = record.get("result")
    if res is None:
        return [], {}
    if res.get("tool") == "mlflow":
        return res.get("backends", {}).get("sqlite", {}).get("repeats", []), res
    return res.get("repeats", []), res


def pool(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """One row per scenario: each tool's samples of all rounds pooled, median and spread."""
    rows = []
    for name, unit, higher_better, ours, theirs in SCENARIOS:
        row: dict[str, Any] = {"scenario": name, "unit": unit, "higher_is_better": higher_better}
        for tool, sample in (("conveyor", ours), ("mlflow", theirs)):
            values: list[float] = []
            for rec in records:
                if rec["job"] != tool or sample is None:
                    continue
                reps, res = repeats_of(rec)
                doc = {"n": n, **res}  # conveyor's JSON does not carry n
                values += [v for rep in reps if (v := sample(rep, doc)) is not None]
            row[tool] = {
                "samples": values,
                "median": statistics.median(values) if values else None,
                "min": min(values, default=None),
                "max": max(values, default=None),
            }
        cv, ml = row["conveyor"]["median"], row["mlflow"]["median"]
        row["conveyor_faster_x"] = (
            None if cv is None or ml is None else (cv / ml if higher_better else ml / cv)
        )
        rows.append(row)
    return rows


def async_rate(records: list[dict[str, Any]]) -> float | None:
    """MLflow's log_metric(synchronous=False) points/s, flush included (median of repeats)."""
    rates = []
    for rec in records:
        reps, res = repeats_of(rec)
        if rec["job"] == "mlflow":
            rates += [
                r
                for rep in reps
                if (r := _rate(rep, "async_total_s", res.get("async_points", 0))) is not None
            ]
    return statistics.median(rates) if rates else None


# ---------------------------------------------------------------------------- report
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "points/s":
        return f"{value:,.0f}"
    if unit == "µs" and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}" if value < 1 else f"{value:,.1f}"


def fmt_x(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}×"
    if x >= 1:
        return f"{x:.1f}×"
    return f"{x:.2f}× (slower)"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | unit | conveyor median [min–max] | n | MLflow median [min–max] | n "
        "| conveyor is N× faster |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [r["scenario"], r["unit"]]
        for tool in ("conveyor", "mlflow"):
            s = r[tool]
            if s["median"] is None:
                cells += ["—", "0"]
            else:
                cells += [
                    f"{fmt(s['median'], r['unit'])} "
                    f"[{fmt(s['min'], r['unit'])}–{fmt(s['max'], r['unit'])}]",
                    str(len(s["samples"])),
                ]
        cells.append(fmt_x(r["conveyor_faster_x"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each floor as {floor, status PASS/FAIL, detail}; not measured counts as FAIL."""
    by_name = {r["scenario"]: r["conveyor"]["median"] for r in rows}
    calls_per_s = by_name["logging throughput, one call a point"]
    checks = [
        (
            f"log_metric <= {LOG_METRIC_US:g} µs a call (>= {1e6 / LOG_METRIC_US:,.0f} calls/s)",
            by_name["log_metric per call"],
            lambda v: v <= LOG_METRIC_US,
            lambda v: f"{v:.1f} µs ({calls_per_s:,.0f} calls/s)",
        ),
        (
            f"batch logging >= {BATCH_POINTS_PER_S:,.0f} points/s",
            by_name["batch logging"],
            lambda v: v >= BATCH_POINTS_PER_S,
            lambda v: f"{v:,.0f} points/s",
        ),
        (
            f"search_runs over 1000 runs, filtered + ordered <= {SEARCH_FILTERED_MS:g} ms",
            by_name["search 1000 runs, filtered + ordered"],
            lambda v: v <= SEARCH_FILTERED_MS,
            lambda v: f"{v:.1f} ms",
        ),
        (
            f"cached model load < {CACHED_LOAD_MS:g} ms",
            by_name["cached model load"],
            lambda v: v < CACHED_LOAD_MS,
            lambda v: f"{v:.3f} ms",
        ),
    ]
    out = []
    for name, value, ok, detail in checks:
        if value is None:
            out.append({"floor": name, "status": "FAIL", "detail": "not measured"})
        else:
            status = "PASS" if ok(value) else "FAIL"
            out.append({"floor": name, "status": status, "detail": detail(value)})
    return out


# ---------------------------------------------------------------------------- main
def mlflow_job(a: argparse.Namespace) -> tuple[P.Job | None, dict[str, Any]]:
    """MLflow's job, or None and why not."""
    status: dict[str, Any] = {"python": a.peers_python}
    harness = P.harness_dir()
    status["harness"] = str(harness)
    if harness is None or not (harness / "mlflow_tracking.py").is_file():
        status["error"] = (
            "peer harness not found (no shared/bench/pipelines/mlflow_tracking.py beside the "
            "repository and no $CONVEYOR_SHARED_DIR)"
        )
        return None, status
    problem = P.check_peers_python(a.peers_python)
    if problem:
        status["error"] = problem
        return None, status
    job = P.Job(
        name="mlflow",
        python=a.peers_python,
        script=harness / "mlflow_tracking.py",
        args=[
            "--backends",
            "sqlite",
            "--n",
            str(a.n),
            "--per-call-n",
            str(a.per_call_n),
            "--repeats",
            str(a.repeats),
            "--search-runs",
            str(SEARCH_RUNS),
            "--search-repeats",
            str(a.search_repeats),
            "--async-points",
            str(ASYNC_POINTS),
        ],
        warm_import="mlflow",
    )
    err = P.warm_up(job)
    if err:
        status["error"] = f"`import mlflow` failed: {err}"
        return None, status
    return job, status


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2, help="repeats per process (both tools)")
    ap.add_argument("--search-repeats", type=int, default=5, help="searches per repeat (median)")
    ap.add_argument("--n", type=int, default=N, help="metric points per run")
    ap.add_argument(
        "--per-call-n", type=int, default=PER_CALL_N, help="MLflow's points, one call each"
    )
    ap.add_argument("--quick", action="store_true", help="1 round, 1 repeat, 3 searches")
    ap.add_argument(
        "--peers-python",
        default=P.default_peers_python(),
        help="python of the peers' venv, with mlflow (default: $PEERS_VENV/bin/python, "
        "PEERS_VENV defaulting to /tmp/peers/pipe)",
    )
    ap.add_argument(
        "--out",
        default=str(P.BENCH_DIR / "results" / "tracking.json"),
        help="JSON with raw samples, summary and floors",
    )
    ap.add_argument("--raw-dir", default=None, help="per-process results and logs (default: temp)")
    ap.add_argument("--timeout", type=float, default=1800, help="per job process, seconds")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.repeats, a.search_repeats = 1, 1, 3

    raw_dir = Path(a.raw_dir or tempfile.mkdtemp(prefix="conveyor-tracking-"))
    raw_dir.mkdir(parents=True, exist_ok=True)
    scratch_root = raw_dir / "scratch"

    ours = P.Job(
        name="conveyor",
        python=sys.executable,
        script=P.BENCH_DIR / "_conveyor_tracking.py",
        args=[
            "--n",
            str(a.n),
            "--repeats",
            str(a.repeats),
            "--search-runs",
            str(SEARCH_RUNS),
            "--search-repeats",
            str(a.search_repeats),
        ],
        unset=tuple(k for k in os.environ if k.startswith("CONVEYOR_")),
        warm_import="conveyor",
    )
    err = P.warm_up(ours)
    if err:
        print(f"conveyor: `import conveyor` failed: {err}", flush=True)
    theirs, peers_status = mlflow_job(a)
    if theirs is None:
        print(f"{NO_MLFLOW} ({peers_status['error']}).", flush=True)
    jobs = [ours] if theirs is None else [ours, theirs]

    load_start = P.loadavg()
    records: list[dict[str, Any]] = []
    started = datetime.now(UTC).isoformat()
    for rnd in range(a.rounds):
        for job in jobs if rnd % 2 == 0 else jobs[::-1]:
            scratch = scratch_root / job.name
            # both tools write their stores under the same scratch disk
            extra = {"TMPDIR": str(scratch)} if job.name == "conveyor" else {}
            records.append(
                P.run_job(job, rnd, raw_dir, scratch, timeout=a.timeout, extra_env=extra)
            )
            (raw_dir / "records.json").write_text(json.dumps(records, default=str))
    load_end = P.loadavg()

    rows = pool(records, a.n)
    checks = floors(rows)
    mlflow_async = async_rate(records)
    version = next(
        (r["result"].get("version") for r in records if r["job"] == "mlflow" and "result" in r),
        None,
    )

    def load(x: float | None) -> str:
        return "?" if x is None else f"{x:.1f}"

    print()
    print(
        f"## Tracking: conveyor vs MLflow {version or '(not run)'} (SQLite), {a.rounds} round(s), "
        f"{a.repeats} repeat(s)/process, load {load(load_start)} -> {load(load_end)} "
        f"on {os.cpu_count()} CPUs"
    )
    print()
    print(table(rows))
    print()
    print(
        f"Points: conveyor {a.n:,} log_metric calls (+{PARAMS} log_param, included), MLflow "
        f"{a.per_call_n:,} (metrics only); batch {a.n:,} points for both (conveyor 10 a call, "
        "MLflow 1000 a log_batch, params not timed). conveyor's per-call time runs until the run "
        "has returned, its batch time (100 params included) until a flush has stored the points."
    )
    if mlflow_async is not None:
        print(
            f"MLflow log_metric(synchronous=False), {ASYNC_POINTS:,} points incl. "
            f"flush_async_logging: {mlflow_async:,.0f} points/s"
        )
    if theirs is None:
        print(NO_MLFLOW)
    print()
    for c in checks:
        print(f"{c['status']:4}  {c['floor']}: {c['detail']}")
    crashed = [r for r in records if r["rc"] != 0]
    for r in crashed:
        print(
            f"FAIL  job {r['job']} round {r['round']} exited {r['rc']} "
            f"(log: {raw_dir / (r['job'] + '.r' + str(r['round']) + '.log')})"
        )
    failed = [c for c in checks if c["status"] == "FAIL"]
    print(f"\n{len(failed)} floor(s) failed, {len(crashed)} job process(es) failed.")

    doc = {
        "generated_utc": datetime.now(UTC).isoformat(),
        "started_utc": started,
        "args": vars(a),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg_start": load_start,
            "loadavg_end": load_end,
        },
        "peers": peers_status,
        "summary": rows,
        "mlflow_async_points_per_s_incl_flush": mlflow_async,
        "floors": checks,
        "records": records,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
