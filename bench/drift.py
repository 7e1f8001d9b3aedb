"""Drift of 1M current rows against the stored reference profile of 1M rows, conveyor beside
Evidently and a hand-written numpy/scipy reference, in one run.

    .venv/bin/python bench/drift.py [--rows 1000000] [--repeats 3] [--peers-python PY]
                                    [--tools numpy_scipy,evidently_default] [--out FILE]

Data: the reference and drifted tables of ``shared/bench/data`` (gen.py; 20 numeric and 5
categorical features, 1 % nulls in four; the drifted variant shifts seven features, one of
them, ``num_08``, only by 0.03 standard deviations on purpose). The peers run through that
harness' ``drift.py`` in their own venv (``--peers-python``, default ``$PEERS_DATA_PYTHON`` or
/tmp/peers/data/bin/python, with evidently installed); each tool in its own process, data
loaded before the timed region, median of ``--repeats`` (no warm-up at 1M rows, as there).

conveyor, in this venv and in its own process: the reference profile (``cv.profile(...,
distributions=True)``, what a model version stores) is computed once and passed through its
JSON form, as it is read back from the store; the timed call is ``cv.monitoring.drift(profile,
current)`` on the polars frame of the current rows. Its flags (PSI >= 0.1, the default) are
compared with Evidently's default preset and with the injected drift; its p-value flags
(< 0.05) with the numpy/scipy KS and chi-square tests. Floors: under 1 s median and at least
20x faster than Evidently, flagging the same columns.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _peers import shared_dir  # noqa: E402

FLOOR_S = 1.0
FLOOR_RATIO = 20.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--peers-python", default=os.environ.get("PEERS_DATA_PYTHON", "/tmp/peers/data/bin/python")
    )
    ap.add_argument("--tools", default="numpy_scipy,evidently_default")
    ap.add_argument("--out", default="")
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    harness = _harness()
    if a.worker_out:
        _worker(a, harness)
        return
    import common as C

    peers_ok = Path(a.peers_python).exists()
    gen_python = a.peers_python if peers_ok else sys.executable
    for variant in ("reference", "drifted"):
        if not C.dataset_path(variant, a.rows, "parquet").exists():
            subprocess.run(
                [
                    gen_python,
                    str(harness / "gen.py"),
                    "--rows",
                    str(a.rows),
                    "--variant",
                    variant,
                    "--formats",
                    "parquet",
                    "--out",
                    str(C.data_dir() / f"gen_{variant}_{a.rows}_parquet.json"),
                ],
                check=True,
            )
    with tempfile.TemporaryDirectory() as tmp:
        ours = _conveyor(a, Path(tmp) / "conveyor.json")
        peers = _peers(a, harness, Path(tmp) / "peers.json") if peers_ok else {}
    if not peers_ok:
        print(f"peers' python {a.peers_python} not found: conveyor alone, no ratios")
    _report(ours, peers, C)
    if a.out:
        Path(a.out).write_text(json.dumps({"conveyor": ours, "peers": peers}, indent=1))


def _harness() -> Path:
    shared = shared_dir()
    if shared is None:
        sys.exit("shared/bench/data not found beside the repository (set CONVEYOR_SHARED_DIR)")
    harness = shared / "bench" / "data"
    sys.path.insert(0, str(harness))
    return harness


def _conveyor(a: argparse.Namespace, out: Path) -> dict:
    argv = [
        sys.executable,
        __file__,
        "--rows",
        str(a.rows),
        "--repeats",
        str(a.repeats),
        "--worker-out",
        str(out),
    ]
    subprocess.run(argv, check=True)
    return json.loads(out.read_text())


def _peers(a: argparse.Namespace, harness: Path, out: Path) -> dict:
    argv = [
        a.peers_python,
        str(harness / "drift.py"),
        "--rows",
        str(a.rows),
        "--tools",
        a.tools,
        "--repeats-large",
        str(a.repeats),
        "--out",
        str(out),
    ]
    subprocess.run(argv, check=True, cwd=harness)
    data = json.loads(out.read_text())
    return {r["tool"]: r for r in data["runs"] if "median_s" in r}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(a: argparse.Namespace, harness: Path) -> None:
    import common as C
    import polars as pl

    import conveyor as cv
    from conveyor.data import Profile

    t0 = time.perf_counter()
    reference = pl.read_parquet(C.dataset_path("reference", a.rows, "parquet"))
    current = pl.read_parquet(C.dataset_path("drifted", a.rows, "parquet"))
    load_s = time.perf_counter() - t0
    features = C.NUM_COLS + C.CAT_COLS
    t0 = time.perf_counter()
    stored = json.dumps(cv.profile(reference.select(features), distributions=True).to_dict())
    reference_s = time.perf_counter() - t0
    profile = Profile.from_dict(json.loads(stored))  # as a model version reads it back
    from conveyor.monitoring import drift

    times, cpus = [], []
    report = None
    for _ in range(a.repeats):
        c0, t0 = _cpu(), time.perf_counter()
        report = drift(profile, current)
        times.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    assert report is not None
    p_flags = sorted(n for n, f in report.features.items() if f.p_value < 0.05)
    Path(a.worker_out).write_text(
        json.dumps(
            {
                "tool": "conveyor",
                "median_s": statistics.median(times),
                "times_s": times,
                "median_cpu_s": statistics.median(cpus),
                "load_s": load_s,
                "reference_profile_s": reference_s,
                "reference_profile_kb": len(stored) / 1024,
                "flags": sorted(report.drifted),
                "flags_p": p_flags,
                "features": {n: f.to_dict() for n, f in report.features.items()},
            }
        )
    )


def _report(ours: dict, peers: dict, C) -> None:
    print(f"\ndrift, {ours['features'] and len(ours['features'])} features, medians")
    print(f"{'tool':20s} {'median s':>9s} {'CPU s':>7s}  flags")
    print(f"{'conveyor':20s} {ours['median_s']:9.3f} {ours['median_cpu_s']:7.2f}  {ours['flags']}")
    for tool, r in peers.items():
        print(
            f"{tool:20s} {r['median_s']:9.3f} {r.get('median_cpu_s', float('nan')):7.2f}  "
            f"{r['result']['flags']}"
        )
    print(f"conveyor p-value flags (< 0.05): {ours['flags_p']}")
    print(
        f"reference profile: {ours['reference_profile_s']:.2f} s once, "
        f"{ours['reference_profile_kb']:.0f} KB as JSON"
    )
    print(f"injected drift: {C.DRIFT_ALL} (strong: {C.DRIFT_STRONG})")
    checks = [(f"under {FLOOR_S:g} s", ours["median_s"] < FLOOR_S)]
    if "evidently_default" in peers:
        ev = peers["evidently_default"]
        ratio = ev["median_s"] / ours["median_s"]
        print(f"evidently_default / conveyor: {ratio:.1f}x")
        checks.append((f"{FLOOR_RATIO:g}x faster than Evidently", ratio >= FLOOR_RATIO))
        checks.append(("same flags as Evidently", ours["flags"] == ev["result"]["flags"]))
    if "numpy_scipy" in peers:
        ns = peers["numpy_scipy"]
        print(f"numpy_scipy / conveyor: {ns['median_s'] / ours['median_s']:.1f}x")
        checks.append(("p-value flags as numpy/scipy", ours["flags_p"] == ns["result"]["flags"]))
    checks.append(("flags the strong injected drift", ours["flags"] == C.DRIFT_STRONG))
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")


if __name__ == "__main__":
    main()
