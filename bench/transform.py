"""CSV -> fit -> transform -> zstd Parquet, conveyor beside polars and pandas in one run.

    .venv/bin/python bench/transform.py [--rows 5000000] [--rounds 5] [--double]

The job and the peers are those of ``shared/bench/data/transform.py`` (see its docstring):
the peers run through that script, in their own venv (``--peers-python``, default
``$PEERS_DATA_PYTHON`` or /tmp/peers/data/bin/python); conveyor runs
``_conveyor_transform.py`` (a pipeline with ``cv.map``) in this repository's venv. Every run
is a fresh process measured by the harness' ``run_isolated`` (wall seconds, CPU seconds, peak
RSS summed over the process tree) and its output's size; engines are interleaved within each
round and medians are reported. Outputs are fingerprinted and must agree with pandas' (or
polars') to 1e-6.
``--double`` also runs conveyor once on twice the rows, to show its memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _peers import compile_package, shared_dir  # noqa: E402

FLOOR_MEMORY_MB = 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--rounds", type=int, default=5)  # noisy machines: a median of five
    ap.add_argument("--engines", default="conveyor,polars_stream,pandas")
    ap.add_argument(
        "--peers-python", default=os.environ.get("PEERS_DATA_PYTHON", "/tmp/peers/data/bin/python")
    )
    ap.add_argument("--double", action="store_true", help="also run conveyor on 2x the rows")
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    # Worker processes import conveyor in the timed runs: from bytecode, as after an install.
    compile_package(sys.executable, "conveyor")
    shared = shared_dir()
    if shared is None:
        sys.exit("shared/bench/data not found beside the repository (set CONVEYOR_SHARED_DIR)")
    harness = shared / "bench" / "data"
    peers_ok = Path(a.peers_python).exists()
    if not peers_ok:
        print(f"peers' python {a.peers_python} not found: conveyor alone, no ratios")
    sys.path.insert(0, str(harness))
    import common as C  # the harness: data generation, isolated runs, medians

    gen_python = a.peers_python if peers_ok else sys.executable
    csv = _ensure_csv(harness, gen_python, a.rows)
    mb = csv.stat().st_size / 1e6
    work = C.data_dir() / "conveyor_transform_out"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    engines = [e for e in a.engines.split(",") if e and (e == "conveyor" or peers_ok)]
    runs: list[dict] = []
    fingerprints: dict[str, dict] = {}
    for rnd in range(a.rounds):
        order = engines[rnd % len(engines) :] + engines[: rnd % len(engines)]
        for engine in order:
            target = work / f"{engine}.out"
            shutil.rmtree(target, ignore_errors=True)
            result = _run(engine, csv, target, harness, a, C)
            result.update(engine=engine, round=rnd, output_mb=_size_mb(target))
            runs.append(result)
            if result.get("returncode") == 0 and "seconds" in result:
                print(
                    f"round {rnd} {engine:14s} {result['seconds']:7.1f} s "
                    f"cpu {result['cpu_s']:6.1f} s  tree peak {result['peak_tree_rss_mb']:6.0f} MB",
                    flush=True,
                )
                if engine not in fingerprints:
                    fingerprints[engine] = _fingerprint(target, a, harness)
            else:
                print(f"round {rnd} {engine}: FAILED rc={result.get('returncode')}", flush=True)
            shutil.rmtree(target, ignore_errors=True)
            if target.is_file():
                target.unlink()

    summary = _summary(runs, engines, mb)
    reference = "pandas" if "pandas" in fingerprints else next(iter(fingerprints), None)
    mismatch = (
        {e: C_fp_equal(fingerprints[reference], fp) for e, fp in fingerprints.items()}
        if reference
        else {}
    )
    doubled = None
    if a.double:
        big = _ensure_csv(harness, gen_python, a.rows * 2)
        target = work / "conveyor_double.out"
        doubled = _run("conveyor", big, target, harness, a, C)
        shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    _report(summary, mismatch, reference, doubled, a.rows)
    if a.out:
        Path(a.out).write_text(
            json.dumps(
                {
                    "rows": a.rows,
                    "csv_mb": mb,
                    "summary": summary,
                    "runs": runs,
                    "fingerprint_mismatch": mismatch,
                    "double": doubled,
                },
                indent=1,
                default=str,
            )
        )


def _ensure_csv(harness: Path, python: str, rows: int) -> Path:
    import common as C

    path = C.dataset_path("reference", rows, "csv")
    if not path.exists():
        subprocess.run(
            [
                python,
                str(harness / "gen.py"),
                "--rows",
                str(rows),
                "--variant",
                "reference",
                "--formats",
                "csv",
                "--out",
                str(C.data_dir() / f"gen_reference_{rows}_csv.json"),
            ],
            check=True,
        )
    return path


def _run(engine: str, csv: Path, target: Path, harness: Path, a: argparse.Namespace, C) -> dict:
    if engine == "conveyor":
        argv = [
            sys.executable,
            str(BENCH / "_conveyor_transform.py"),
            "--csv",
            str(csv),
            "--engine-out",
            str(target),
        ]
    else:
        argv = [
            a.peers_python,
            str(harness / "transform.py"),
            "--rows",
            str(csv_rows(csv)),
            "--engine",
            engine,
            "--engine-out",
            str(target),
        ]
    return C.run_isolated(argv, timeout=1800)


def _size_mb(target: Path) -> float | None:
    """The output's bytes (a file, or a folder of parts), in MB; None if there is none."""
    if target.is_file():
        return target.stat().st_size / 1e6
    if target.is_dir():
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) / 1e6
    return None


def csv_rows(csv: Path) -> int:
    return int(csv.name.split("_")[1])


def _fingerprint(target: Path, a: argparse.Namespace, harness: Path) -> dict:
    """The harness' fingerprint of an output (file or folder of parts), in the peers' venv."""
    python = a.peers_python if Path(a.peers_python).exists() else sys.executable
    code = (
        "import json, sys; from pathlib import Path; import transform as T; "
        "print(json.dumps(T.fingerprint(Path(sys.argv[1]))))"
    )
    out = subprocess.run(
        [python, "-c", code, str(target)], cwd=harness, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def C_fp_equal(a: dict, b: dict, rtol: float = 1e-6) -> list[str]:
    bad = []
    for key, value in a.items():
        if key == "schema":
            continue
        other = b.get(key)
        if other is None or abs(value - other) > rtol * max(1.0, abs(value), abs(other)):
            bad.append(key)
    return bad


def _summary(runs: list[dict], engines: list[str], mb: float) -> dict[str, dict]:
    summary: dict[str, dict] = {}
    for engine in engines:
        ok = [r for r in runs if r["engine"] == engine and "seconds" in r]
        if not ok:
            summary[engine] = {"error": "all runs failed"}
            continue
        seconds = statistics.median(r["seconds"] for r in ok)
        summary[engine] = {
            "median_s": seconds,
            "median_cpu_s": statistics.median(r["cpu_s"] for r in ok),
            "MB_s": mb / seconds,
            "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in ok),
            "output_mb": statistics.median(r["output_mb"] or 0.0 for r in ok),
            "all_s": [round(r["seconds"], 1) for r in ok],
        }
    return summary


def _report(
    summary: dict[str, dict],
    mismatch: dict[str, list[str]],
    reference: str | None,
    doubled: dict | None,
    rows: int,
) -> None:
    print(f"\ntransform, {rows:,} rows (medians)")
    print(
        f"{'engine':14s} {'median s':>9s} {'CPU s':>7s} {'MB/s':>6s} {'tree peak MB':>13s} "
        f"{'output MB':>10s}  runs"
    )
    for engine, s in summary.items():
        if "error" in s:
            print(f"{engine:14s} {s['error']}")
            continue
        print(
            f"{engine:14s} {s['median_s']:9.1f} {s['median_cpu_s']:7.1f} {s['MB_s']:6.1f} "
            f"{s['peak_tree_rss_mb']:13.0f} {s['output_mb']:10.0f}  {s['all_s']}"
        )
    cv = summary.get("conveyor", {})
    if "median_s" not in cv:
        return
    print()
    for peer in ("polars_stream", "pandas"):
        p = summary.get(peer, {})
        if "median_s" in p:
            print(
                f"{peer} / conveyor: wall {p['median_s'] / cv['median_s']:.2f}x, "
                f"CPU {p['median_cpu_s'] / cv['median_cpu_s']:.2f}x"
            )
    checks = [("tree peak under 1 GB", cv["peak_tree_rss_mb"] < FLOOR_MEMORY_MB)]
    if "median_s" in summary.get("polars_stream", {}):
        checks.append(
            ("as fast as polars streaming", cv["median_s"] <= summary["polars_stream"]["median_s"])
        )
    if "median_s" in summary.get("pandas", {}):
        checks.append(
            ("2x faster than pandas", summary["pandas"]["median_s"] >= 2 * cv["median_s"])
        )
    if doubled is not None and "peak_tree_rss_mb" in doubled:
        ratio = doubled["peak_tree_rss_mb"] / cv["peak_tree_rss_mb"]
        print(
            f"2x rows: {doubled.get('seconds', float('nan')):.1f} s, tree peak "
            f"{doubled['peak_tree_rss_mb']:.0f} MB ({ratio:.2f}x of 1x)"
        )
        checks.append(("memory flat when the input doubles (< 1.2x)", ratio < 1.2))
    if reference:
        bad = {e: m for e, m in mismatch.items() if m}
        print(f"outputs agree with {reference} to 1e-6: {bad if bad else 'yes'}")
        checks.append(("outputs agree", not bad))
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
