"""Schema validation of a 1M-row table: conveyor next to pandera and hand-written polars.

The shared data harness (``shared/bench/data``: ``validate.py``, ``common.py``, ``gen.py``)
defines the table (27 columns), the 77 checks, the faulty 10k-row slice and the peers. This
script runs, each in its own child process, on the same Parquet file:

  conveyor          ``Schema(...).validate(df)`` on polars, the schema built from the harness'
                    spec (this repository's venv)
  polars_baseline   the harness' hand-written ``df.select`` of failure counts (this repository's
                    venv, so it runs on the very polars conveyor uses)
  pandera_polars    the harness' pandera.polars schema (peers' venv)
  pandera_pandas    the harness' pandera.pandas schema on pandas (peers' venv)

In each process: load the table (untimed), validate the faulty slice (it must report exactly
the harness' EXPECTED_FAULTS), then 1 warm-up and ``--repeats`` timed validations of the clean
table (it must be reported valid). With ``--rounds`` > 1 every tool runs again in a fresh
process, in rotated order, and all timed samples are pooled.

Usage (from the repository root, with the project's venv):
  python bench/validate.py [--rows 1000000] [--repeats 5] [--rounds 1] [--peers-python PATH]
                           [--tools conveyor,polars_baseline,pandera_polars,pandera_pandas]
                           [--out results.json]
The peers' venv: ``python3 -m venv /tmp/peers/data && /tmp/peers/data/bin/pip install
pandas==2.3.3 polars pyarrow numpy scipy "pandera[polars,pandas]" psutil``.
Exit code is 0 whenever the benchmark ran: floors that do not hold are reported as FAIL lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peers as P

TOOLS = ["conveyor", "polars_baseline", "pandera_polars", "pandera_pandas"]
PEER_TOOLS = {"pandera_polars": "pandera.polars", "pandera_pandas": "pandera.pandas"}
MAX_OVER_BASELINE = 1.5  # conveyor median / polars_baseline median
MIN_SPEEDUP_OVER_PANDERA_POLARS = 3.0  # pandera_polars median / conveyor median


# ---------------------------------------------------------------------------- harness
def data_harness_dir() -> Path | None:
    shared = P.shared_dir()
    if shared is None:
        return None
    path = shared / "bench" / "data"
    return path if (path / "validate.py").is_file() and (path / "common.py").is_file() else None


def load_harness(path: Path) -> tuple[ModuleType, ModuleType]:
    """The shared ``common`` and ``validate`` modules (the latter under another name: this
    script is called validate.py too)."""
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    import common

    spec = importlib.util.spec_from_file_location("peers_validate", path / "validate.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path / 'validate.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return common, module


# ---------------------------------------------------------------------------- conveyor worker
def conveyor_schema(harness: ModuleType) -> Any:
    """The harness' 77 checks as a conveyor schema (the same spec its pandera schemas use)."""
    from conveyor.data import Column, Schema

    dtypes = {"int": "int64", "float": "float64", "str": "string"}
    columns = {}
    for name, kind, nullable, extra in harness.spec():
        fields: dict[str, Any] = {"dtype": dtypes[kind], "nullable": nullable}
        if kind == "float":
            fields["min"], fields["max"] = extra
        elif extra is not None:
            fields["allowed"] = extra
        if name == harness.C.ID_COL:
            fields["unique"] = True
        columns[name] = Column(**fields)
    return Schema(columns=columns, name="validate-bench")


def conveyor_worker(a: argparse.Namespace, common: ModuleType, harness: ModuleType) -> None:
    t0 = time.perf_counter()
    import polars as pl

    import conveyor.data  # noqa: F401

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = pl.read_parquet(common.dataset_path("reference", a.rows, "parquet", a.null_frac))
    bad = harness.faulty_slice_polars(df)
    load_s = time.perf_counter() - t0
    rss_loaded = common.rss_mb()
    t0 = time.perf_counter()
    schema = conveyor_schema(harness)
    setup_s = time.perf_counter() - t0
    reports: list[Any] = []

    def run(frame: Any) -> dict[str, Any]:
        report = schema.validate(frame)
        reports.append(report)
        faults = sorted({(f.column, f.check) for f in report.failures})
        return {"valid": report.ok, "faults": faults}

    sanity = run(bad)
    sanity_message = reports[-1].message("faulty slice")
    found = {tuple(x) for x in sanity["faults"]}
    ts, res, first = common.timed(lambda: run(df), repeats=a.repeats, warmup=1)
    common.write_json(
        a.worker_out,
        {
            "tool": "conveyor",
            "rows": a.rows,
            "times_s": list(ts),
            "cpu_s": ts.cpu,
            "median_cpu_s": common.med(ts.cpu),
            "median_s": common.med(ts),
            "first_call_s": first,
            "import_s": import_s,
            "load_s": load_s,
            "setup_s": setup_s,
            "rss_after_load_mb": rss_loaded,
            "n_checks": reports[-1].checks,
            "valid_on_clean": res["valid"],
            "clean_faults": res["faults"][:20],
            "sanity_ok": found == harness.EXPECTED_FAULTS,
            "sanity_missing": sorted(harness.EXPECTED_FAULTS - found),
            "sanity_extra": sorted(found - harness.EXPECTED_FAULTS),
            "sanity_message": sanity_message,
        },
    )


# ---------------------------------------------------------------------------- parent
def peers_problem(python: str) -> str | None:
    """None if ``python`` runs and imports pandera (polars and pandas backends)."""
    problem = P.check_peers_python(python)
    if problem:
        return problem
    proc = subprocess.run(
        [python, "-c", "import pandera.polars, pandera.pandas"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"{python} cannot import pandera: {tail}"
    return None


def command(tool: str, a: argparse.Namespace, harness_dir: Path) -> list[str]:
    if tool == "conveyor":
        script, python = Path(__file__).resolve(), sys.executable
    else:
        python = sys.executable if tool == "polars_baseline" else a.peers_python
        script = harness_dir / "validate.py"
    args = ["--rows", str(a.rows), "--tool", tool, "--repeats", str(a.repeats)]
    if tool == "conveyor":
        args += ["--null-frac", str(a.null_frac)]
    return [python, str(script), *args]


def pool(results: list[dict[str, Any]]) -> dict[str, Any]:
    """All processes of one tool: samples pooled, medians."""
    times = [t for r in results for t in r["times_s"]]
    cpus = [t for r in results for t in r["cpu_s"]]
    return {
        "processes": len(results),
        "samples": len(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "median_cpu_s": statistics.median(cpus),
        "first_call_s": statistics.median([r["first_call_s"] for r in results]),
        "load_s": statistics.median([r["load_s"] for r in results]),
        "peak_rss_mb": max(r.get("ru_maxrss_mb") or 0 for r in results),
        "valid_on_clean": all(r["valid_on_clean"] for r in results),
        "sanity_ok": all(r["sanity_ok"] for r in results),
        "sanity_missing": results[0].get("sanity_missing"),
        "sanity_extra": results[0].get("sanity_extra"),
        "n_checks": results[0].get("n_checks"),
    }


def ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def fmt_x(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def print_table(rows: dict[str, dict[str, Any]], rows_n: int, checks: int) -> None:
    base = rows.get("polars_baseline", {})
    conv = rows.get("conveyor", {})
    print(f"\nSchema validation, {rows_n:,} rows, {checks} checks (medians)\n")
    head = (
        "| tool | median s | CPU s | min-max s | n | x polars_baseline (wall/CPU) "
        "| tool / conveyor (wall/CPU) | valid | sanity |"
    )
    print(head)
    print("|---|---:|---:|---|---:|---|---|---|---|")
    for tool in TOOLS:
        r = rows.get(tool)
        if r is None:
            continue
        over_base = (
            f"{fmt_x(ratio(r['median_s'], base.get('median_s')))} / "
            f"{fmt_x(ratio(r['median_cpu_s'], base.get('median_cpu_s')))}"
        )
        over_conv = (
            f"{fmt_x(ratio(r['median_s'], conv.get('median_s')))} / "
            f"{fmt_x(ratio(r['median_cpu_s'], conv.get('median_cpu_s')))}"
        )
        print(
            f"| {tool} | {r['median_s']:.3f} | {r['median_cpu_s']:.3f} "
            f"| {r['min_s']:.3f}-{r['max_s']:.3f} | {r['samples']} | {over_base} | {over_conv} "
            f"| {r['valid_on_clean']} | {r['sanity_ok']} |"
        )


def floors(rows: dict[str, dict[str, Any]]) -> list[str]:
    conv = rows.get("conveyor")
    lines = []
    if conv is None:
        return ["SKIP conveyor did not run"]
    ok = conv["sanity_ok"] and conv["valid_on_clean"]
    lines.append(
        f"{'PASS' if ok else 'FAIL'} conveyor reports the 5 injected faults exactly "
        f"(missing {conv['sanity_missing']}, extra {conv['sanity_extra']}) and the clean table "
        f"valid ({conv['valid_on_clean']})"
    )
    base = rows.get("polars_baseline")
    if base is None:
        lines.append("SKIP conveyor <= 1.5x polars_baseline: the baseline did not run")
    else:
        x = conv["median_s"] / base["median_s"]
        verdict = "PASS" if x <= MAX_OVER_BASELINE else "FAIL"
        cpu = conv["median_cpu_s"] / base["median_cpu_s"]
        lines.append(
            f"{verdict} conveyor / polars_baseline = {x:.2f}x wall ({cpu:.2f}x CPU), "
            f"floor <= {MAX_OVER_BASELINE}x"
        )
    peer = rows.get("pandera_polars")
    if peer is None:
        lines.append("SKIP pandera_polars / conveyor >= 3x: pandera_polars did not run")
    else:
        x = peer["median_s"] / conv["median_s"]
        verdict = "PASS" if x >= MIN_SPEEDUP_OVER_PANDERA_POLARS else "FAIL"
        cpu = peer["median_cpu_s"] / conv["median_cpu_s"]
        lines.append(
            f"{verdict} pandera_polars / conveyor = {x:.2f}x wall ({cpu:.2f}x CPU), "
            f"floor >= {MIN_SPEEDUP_OVER_PANDERA_POLARS}x"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5, help="timed validations per process")
    ap.add_argument("--rounds", type=int, default=1, help="processes per tool, order rotated")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma list out of {TOOLS}")
    ap.add_argument(
        "--peers-python",
        default=os.environ.get("PEERS_DATA_PYTHON") or "/tmp/peers/data/bin/python",
        help="python of the peers' venv (default: $PEERS_DATA_PYTHON, else "
        "/tmp/peers/data/bin/python)",
    )
    ap.add_argument("--null-frac", type=float, default=0.01, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=1800, help="per process, seconds")
    ap.add_argument("--out", default=None, help="JSON with every process' result and the table")
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    a = ap.parse_args()

    harness_dir = data_harness_dir()
    if harness_dir is None:
        raise SystemExit(
            "the shared data harness was not found: no shared/bench/data beside the repository "
            "and no $CONVEYOR_SHARED_DIR"
        )
    common, harness = load_harness(harness_dir)
    if a.worker_out:
        conveyor_worker(a, common, harness)
        return

    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise SystemExit(f"--tools: unknown {unknown} (choose from {', '.join(TOOLS)})")
    notes: list[str] = []
    if any(t in PEER_TOOLS for t in tools):
        problem = peers_problem(a.peers_python)
        if problem:
            skipped = [t for t in tools if t in PEER_TOOLS]
            notes.append(f"skipped {', '.join(skipped)}: {problem}")
            print(f"NOTE: {notes[-1]}", flush=True)
            tools = [t for t in tools if t not in PEER_TOOLS]

    path = common.ensure_dataset("reference", a.rows, "parquet", a.null_frac)
    print(f"[validate] data {path}", flush=True)
    per_tool: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    records = []
    for round_no in range(a.rounds):
        order = tools[round_no % len(tools) :] + tools[: round_no % len(tools)]
        for tool in order:
            rec = common.run_isolated(command(tool, a, harness_dir), timeout=a.timeout)
            rec.setdefault("tool", tool)
            rec["round"] = round_no
            records.append(rec)
            if rec.get("returncode") == 0 and "median_s" in rec:
                per_tool[tool].append(rec)
                print(
                    f"[round {round_no}] {tool}: median {rec['median_s']:.3f}s "
                    f"cpu {rec['median_cpu_s']:.3f}s valid={rec['valid_on_clean']} "
                    f"sanity_ok={rec['sanity_ok']} peak={rec.get('ru_maxrss_mb')}MB",
                    flush=True,
                )
            else:
                print(f"[round {round_no}] {tool}: FAILED rc={rec.get('returncode')}", flush=True)
    rows = {tool: pool(results) for tool, results in per_tool.items() if results}
    failed = [t for t in tools if not per_tool[t]]
    print_table(rows, a.rows, harness.n_checks())
    print()
    for line in floors(rows) + [f"FAIL {t}: every process failed" for t in failed]:
        print(line)
    for note in notes:
        print(f"NOTE {note}")
    conv = next(iter(per_tool.get("conveyor", [])), None)
    if conv is not None:
        print(f"\nconveyor on the faulty slice: {conv.get('sanity_message')}")
    if a.out:
        common.write_json(
            a.out,
            {
                "benchmark": "validate",
                "rows": a.rows,
                "n_checks": harness.n_checks(),
                "versions": common.versions(),
                "machine": common.machine(),
                "peers_python": a.peers_python,
                "notes": notes,
                "summary": rows,
                "floors": floors(rows),
                "runs": records,
            },
        )
        print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
