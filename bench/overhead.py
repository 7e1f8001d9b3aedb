"""Per-step overhead of conveyor next to Prefect, Kedro, Dagster, Hamilton and plain Python.

Three scenarios, as in the peer harness (``shared/bench/pipelines``): a linear chain of n trivial
steps (x = f(x)), a 1 -> fan -> 1 fan-out, and a cached re-run of the chain. Every tool runs in a
fresh process per round, job order rotated each round; samples are pooled over rounds and the
medians compared. conveyor persists everything (SQLite store + artifact folder in a fresh
CONVEYOR_HOME per round). Also times ``conveyor --help`` and ``import conveyor`` start-up.

Usage (from the repository root, with the project's venv):
  python bench/overhead.py [--rounds 5] [--n 200] [--fan 100] [--peers-python PATH]
                           [--only conveyor,prefect,...] [--out results.json]
The peers' venv: ``PEERS_VENV=/tmp/peers/pipe bash ../shared/bench/pipelines/setup_venv.sh``.
Exit code is 0 whenever the benchmark ran: floors that do not hold are reported as FAIL lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peers as P

TOOLS = ["conveyor", "python", "hamilton", "kedro", "prefect", "dagster"]
ALIASES = {"python-minidag": "python", "minidag": "python", "dagster-ops": "dagster"}
SCENARIOS = ["chain", "fanout", "cache"]

# Floors conveyor must meet (checked on the medians of this run).
CHAIN_MS_PER_STEP = 1.0
SPEEDUP_VS = {"prefect": 10.0, "dagster": 10.0}
CACHE_RERUN_S = 0.100  # 200-step chain, second run, all cache hits
STARTUP_S = 0.3

CACHE_NOTES = {
    "conveyor": "cache keyed on code + inputs",
    "python": "pickle file per node",
    "hamilton": "with_cache, incl. driver build",
    "kedro": "only_missing_outputs: existence check only",
    "prefect": "INPUTS+TASK_SOURCE",
    "dagster": "no result cache: re-materialize last asset",
}


# ---------------------------------------------------------------------------- helpers
def med(xs: list[float]) -> float | None:
    ys = [x for x in xs if x is not None]
    return statistics.median(ys) if ys else None


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 1e-3:
        return f"{x * 1e6:.1f} us"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def parse_only(text: str) -> list[str]:
    if not text:
        return list(TOOLS)
    names = []
    for raw in text.split(","):
        name = ALIASES.get(raw.strip(), raw.strip())
        if not name:
            continue
        if name not in TOOLS:
            raise SystemExit(f"--only: unknown tool {raw!r} (choose from {', '.join(TOOLS)})")
        names.append(name)
    return names


# ---------------------------------------------------------------------------- start-up
def time_command(cmd: list[str], runs: int, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Median wall time of ``cmd`` over ``runs`` runs (after one untimed run)."""
    samples: list[float] = []
    first = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if first.returncode != 0:
        tail = (first.stderr.strip().splitlines() or [f"exit code {first.returncode}"])[-1]
        return {"cmd": cmd, "error": tail[:300], "samples_s": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        samples.append(time.perf_counter() - t0)
    return {"cmd": cmd, "samples_s": samples, "median_s": med(samples), "min_s": min(samples)}


def measure_startup(runs: int, scratch: Path) -> dict[str, Any]:
    home = scratch / "startup-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(home)
    script = Path(sys.executable).parent / "conveyor"
    help_cmd = (
        [str(script), "--help"]
        if script.is_file()
        else [sys.executable, "-m", "conveyor", "--help"]
    )
    out = {
        "python_bare": time_command([sys.executable, "-c", "pass"], runs, scratch, env),
        "import_conveyor": time_command(
            [sys.executable, "-c", "import conveyor"], runs, scratch, env
        ),
        "cli_help": time_command(help_cmd, runs, scratch, env),
    }
    for key, r in out.items():
        print(
            f"start-up {key}: {fmt_s(r.get('median_s'))}"
            + (f"  ERROR {r['error']}" if "error" in r else ""),
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------- pooling
def pool(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (tool, scenario): samples of all rounds pooled, medians."""
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        if "result" in rec:
            by_tool.setdefault(rec["job"], []).append(rec["result"])
    rows: list[dict[str, Any]] = []
    for job, results in by_tool.items():
        names: list[str] = []
        for res in results:
            names += [s for s in res["scenarios"] if s not in names]
        for s in names:
            scs = [
                r["scenarios"][s]
                for r in results
                if s in r["scenarios"] and "error" not in r["scenarios"][s]
            ]
            errors = [
                r["scenarios"][s]["error"] for r in results if "error" in r["scenarios"].get(s, {})
            ]
            row: dict[str, Any] = {
                "job": job,
                "tool": results[0]["tool"],
                "version": results[0].get("version"),
                "scenario": s,
                "base": s.split("_")[0],
                "errors": errors,
            }
            if not scs:
                rows.append(row)
                continue
            row["import_median_s"] = med([r.get("import_s") for r in results])
            if "run" in scs[0]:
                runs = [x for sc in scs for x in sc["run"]["samples_s"]]
                steps = scs[0]["run"]["steps"]
                row.update(
                    steps=steps,
                    n_samples=len(runs),
                    median_s=med(runs),
                    min_s=min(runs),
                    max_s=max(runs),
                    ratio_vs_plain=med([x for sc in scs for x in sc["ratio_vs_plain_samples"]]),
                    plain_median_s=med([x for sc in scs for x in sc["plain"]["samples_s"]]),
                    cold_run_median_s=med([sc["cold"]["run_s"] for sc in scs if "cold" in sc]),
                )
                if "settle" in scs[0]:
                    row["settle_median_s"] = med(
                        [x for sc in scs for x in sc["settle"]["samples_s"]]
                    )
            else:
                firsts = [x for sc in scs for x in sc["first_run"]["samples_s"]]
                seconds = [x for sc in scs for x in sc["second_run"]["samples_s"]]
                ratios = [
                    b / p
                    for sc in scs
                    for b, p in zip(
                        sc["second_run"]["samples_s"], sc["plain"]["samples_s"], strict=False
                    )
                ]
                over = [
                    b / a
                    for sc in scs
                    for a, b in zip(
                        sc["first_run"]["samples_s"], sc["second_run"]["samples_s"], strict=True
                    )
                ]
                row.update(
                    steps=scs[0]["second_run"]["steps"],
                    n_samples=len(seconds),
                    median_s=med(seconds),
                    min_s=min(seconds),
                    max_s=max(seconds),
                    first_run_median_s=med(firsts),
                    second_over_first=med(over),
                    ratio_vs_plain=med(ratios),
                )
                if "settle_second" in scs[0]:
                    row["settle_median_s"] = med(
                        [x for sc in scs for x in sc["settle_second"]["samples_s"]]
                    )
            row["per_step_s"] = row["median_s"] / row["steps"]
            rows.append(row)
    order = {t: i for i, t in enumerate(TOOLS)}
    rows.sort(
        key=lambda r: (
            SCENARIOS.index(r["base"]) if r["base"] in SCENARIOS else 9,
            order.get(r["job"], 99),
            r["scenario"],
        )
    )
    return rows


def add_speedups(rows: list[dict[str, Any]], peers_ok: bool) -> None:
    """speedup = tool per step / conveyor per step, same base scenario (>1: conveyor faster)."""
    ours = {r["scenario"]: r for r in rows if r["job"] == "conveyor" and "per_step_s" in r}
    for r in rows:
        mine = ours.get(r["base"])
        if not peers_ok or mine is None or "per_step_s" not in r:
            r["speedup"] = None
        else:
            r["speedup"] = r["per_step_s"] / mine["per_step_s"]


# ---------------------------------------------------------------------------- report
def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | tool | version | steps | n | median wall [min-max] | per step "
        "| x plain loop | conveyor speed-up | cold 1st run | import | notes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "median_s" not in r:
            err = "; ".join(r["errors"])[:100] or "no result"
            lines.append(
                f"| {r['scenario']} | {r['tool']} | {r['version']} | - | 0 | "
                f"FAILED: {err} | | | | | | |"
            )
            continue
        scen = r["scenario"]
        notes = []
        if "first_run_median_s" in r:
            scen = (
                f"cache 2nd run (1st {fmt_s(r['first_run_median_s'])}, "
                f"2nd/1st {r['second_over_first']:.2f})"
            )
            notes.append(CACHE_NOTES.get(r["job"], ""))
        if r.get("settle_median_s") is not None:
            notes.append(f"+settle {fmt_s(r['settle_median_s'])} after return")
        if r["errors"]:
            notes.append(f"{len(r['errors'])} failed process(es)")
        if r["job"] == "conveyor":
            speed = "1"
        elif r["speedup"] is None:
            speed = "n/a"
        elif r["speedup"] >= 100:
            speed = f"{r['speedup']:,.0f}x"
        elif r["speedup"] >= 1:
            speed = f"{r['speedup']:.1f}x"
        else:
            speed = f"{r['speedup']:.3f}x"
        ratio = "-" if r.get("ratio_vs_plain") is None else f"{r['ratio_vs_plain']:,.0f}"
        lines.append(
            f"| {scen} | {r['tool']} | {r['version']} | {r['steps']} | {r['n_samples']} | "
            f"{fmt_s(r['median_s'])} [{fmt_s(r['min_s'])}-{fmt_s(r['max_s'])}] | "
            f"{r['per_step_s'] * 1e3:.3f} ms | {ratio} | {speed} | "
            f"{fmt_s(r.get('cold_run_median_s'))} | {fmt_s(r.get('import_median_s'))} | "
            f"{'; '.join(n for n in notes if n)} |"
        )
    return "\n".join(lines)


def floors(
    rows: list[dict[str, Any]], startup: dict[str, Any], n: int, peers_run: set[str]
) -> list[dict[str, Any]]:
    """Each floor as {name, status PASS/FAIL/SKIP, detail}."""
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        out.append({"floor": name, "status": status, "detail": detail})

    ours = {r["scenario"]: r for r in rows if r["job"] == "conveyor"}
    chain = ours.get("chain", {})
    if "per_step_s" in chain:
        ms = chain["per_step_s"] * 1e3
        add(
            f"conveyor chain <= {CHAIN_MS_PER_STEP:g} ms/step",
            ms <= CHAIN_MS_PER_STEP,
            f"{ms:.3f} ms/step",
        )
    else:
        add(
            f"conveyor chain <= {CHAIN_MS_PER_STEP:g} ms/step",
            None if not chain else False,
            "; ".join(chain.get("errors", [])) or "not measured",
        )
    for tool, factor in SPEEDUP_VS.items():
        for scen in ("chain", "fanout"):
            name = f"conveyor {scen} per step >= {factor:g}x lower than {tool}"
            peer = next((r for r in rows if r["job"] == tool and r["scenario"] == scen), None)
            if tool not in peers_run or peer is None or "per_step_s" not in peer:
                add(name, None, f"{tool} not measured")
            elif "per_step_s" not in ours.get(scen, {}):
                add(name, False, f"conveyor {scen} not measured")
            else:
                sp = peer["speedup"]
                add(
                    name,
                    sp >= factor,
                    f"{sp:,.1f}x ({tool} {peer['per_step_s'] * 1e3:.3f} ms vs conveyor "
                    f"{ours[scen]['per_step_s'] * 1e3:.3f} ms)",
                )
    cache = ours.get("cache", {})
    name = f"conveyor cached re-run of the {n}-chain <= {CACHE_RERUN_S * 1e3:g} ms"
    if n != 200:
        name += " (floor is defined for n=200)"
    if "median_s" in cache:
        add(name, cache["median_s"] <= CACHE_RERUN_S, fmt_s(cache["median_s"]))
    else:
        add(
            name, None if not cache else False, "; ".join(cache.get("errors", [])) or "not measured"
        )
    for key, label in (("cli_help", "conveyor --help"), ("import_conveyor", "import conveyor")):
        r = startup.get(key)
        name = f"{label} start-up <= {STARTUP_S:g} s"
        if r is None:
            add(name, None, "not measured")
        elif "error" in r:
            add(name, False, f"error: {r['error']}")
        else:
            add(
                name,
                r["median_s"] <= STARTUP_S,
                f"median of {len(r['samples_s'])}: "
                f"{fmt_s(r['median_s'])} (bare python "
                f"{fmt_s(startup.get('python_bare', {}).get('median_s'))})",
            )
    return out


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200, help="steps in the linear chain")
    ap.add_argument("--fan", type=int, default=100, help="width of the fan-out")
    ap.add_argument("--repeats", type=int, default=2, help="measured runs per process and scenario")
    ap.add_argument("--warmup", type=int, default=0, help="unmeasured runs after the cold run")
    ap.add_argument(
        "--cache-repeats", type=int, default=1, help="first+second run pairs per process"
    )
    ap.add_argument(
        "--peers-python",
        default=P.default_peers_python(),
        help="python of the peers' venv (default: $PEERS_VENV/bin/python, "
        "PEERS_VENV defaulting to /tmp/peers/pipe)",
    )
    ap.add_argument("--only", default="", help=f"comma list out of {','.join(TOOLS)}")
    ap.add_argument("--out", default=None, help="JSON with raw samples, summary and floors")
    ap.add_argument("--raw-dir", default=None, help="per-process results and logs (default: temp)")
    ap.add_argument("--timeout", type=float, default=1800, help="per job process, seconds")
    ap.add_argument("--startup-runs", type=int, default=10)
    ap.add_argument(
        "--keep-homes", action="store_true", help="keep conveyor's per-round CONVEYOR_HOME folders"
    )
    a = ap.parse_args()

    tools = parse_only(a.only)
    raw_dir = Path(a.raw_dir or tempfile.mkdtemp(prefix="conveyor-overhead-"))
    raw_dir.mkdir(parents=True, exist_ok=True)
    scratch_root = raw_dir / "scratch"
    common = [
        "--n",
        str(a.n),
        "--fan",
        str(a.fan),
        "--repeats",
        str(a.repeats),
        "--warmup",
        str(a.warmup),
        "--cache-repeats",
        str(a.cache_repeats),
    ]

    # -- peers
    harness = P.harness_dir()
    wanted_peers = [t for t in tools if t != "conveyor"]
    peers_status: dict[str, Any] = {"python": a.peers_python, "harness": str(harness)}
    jobs: list[P.Job] = []
    if wanted_peers:
        problem = (
            (
                "peer harness not found (no shared/bench/pipelines beside the repository "
                "and no $CONVEYOR_SHARED_DIR)"
            )
            if harness is None
            else P.check_peers_python(a.peers_python)
        )
        if problem:
            print(
                f"PEERS SKIPPED: {problem}.\n  Set up their venv with "
                "`PEERS_VENV=/tmp/peers/pipe bash ../shared/bench/pipelines/setup_venv.sh` "
                "or pass --peers-python. Running conveyor alone; speed-ups are n/a.",
                flush=True,
            )
            peers_status["error"] = problem
        else:
            assert harness is not None
            for job in P.peer_jobs(a.peers_python, harness, wanted_peers, common):
                err = P.warm_up(job)
                if err:
                    print(
                        f"PEER SKIPPED: {job.name}: `import {job.warm_import}` failed: {err}",
                        flush=True,
                    )
                    peers_status.setdefault("skipped", {})[job.name] = err
                else:
                    jobs.append(job)
    peers_run = {j.name for j in jobs}

    # -- conveyor
    startup: dict[str, Any] = {}
    if "conveyor" in tools:
        conveyor_env = {"CONVEYOR_SHARED_DIR": str(harness.parents[1])} if harness else {}
        unset = tuple(k for k in os.environ if k.startswith("CONVEYOR_"))
        job = P.Job(
            name="conveyor",
            python=sys.executable,
            script=P.BENCH_DIR / "_conveyor_job.py",
            args=["--quiet", *common],
            env=conveyor_env,
            unset=unset,
            warm_import="conveyor",
        )
        err = P.warm_up(job)
        if err:
            print(f"conveyor: `import conveyor` failed: {err}", flush=True)
        jobs.insert(0, job)
        startup = measure_startup(a.startup_runs, scratch_root / "conveyor")

    # -- rounds
    records: list[dict[str, Any]] = []
    started = datetime.now(UTC).isoformat()
    for rnd in range(a.rounds):
        k = rnd % len(jobs) if jobs else 0
        for job in jobs[k:] + jobs[:k]:
            scratch = scratch_root / job.name
            extra: dict[str, str] = {}
            home = scratch / f"home-r{rnd}"
            if job.name == "conveyor":
                shutil.rmtree(home, ignore_errors=True)
                home.mkdir(parents=True)
                extra["CONVEYOR_HOME"] = str(home)
            rec = P.run_job(job, rnd, raw_dir, scratch, timeout=a.timeout, extra_env=extra)
            records.append(rec)
            if job.name == "conveyor" and not a.keep_homes:
                shutil.rmtree(home, ignore_errors=True)
            (raw_dir / "records.json").write_text(json.dumps(records, default=str))

    rows = pool(records)
    add_speedups(rows, bool(peers_run))
    checks = floors(rows, startup, a.n, peers_run)

    print()
    print(
        f"## Overhead: chain n={a.n}, fan-out 1->{a.fan}->1, {a.rounds} round(s), "
        f"{a.repeats} repeat(s)/process, load {os.getloadavg()[0]:.1f}"
    )
    print()
    print(table(rows))
    print()
    print(
        "conveyor speed-up = tool per step / conveyor per step (medians of this run; "
        ">1: conveyor is faster)"
    )
    if startup:
        print()
        help_cmd = " ".join(Path(c).name for c in startup["cli_help"]["cmd"])
        for key, label in (
            ("python_bare", "python -c pass"),
            ("import_conveyor", "python -c 'import conveyor'"),
            ("cli_help", help_cmd),
        ):
            r = startup[key]
            print(
                f"start-up {label}: {fmt_s(r.get('median_s'))}"
                + (f" ERROR {r['error']}" if "error" in r else "")
            )
    print()
    for c in checks:
        print(f"{c['status']:4}  {c['floor']}: {c['detail']}")
    failed = [c for c in checks if c["status"] == "FAIL"]
    crashed = [r for r in records if r["rc"] != 0]
    for r in crashed:
        print(
            f"FAIL  job {r['job']} round {r['round']} exited {r['rc']} "
            f"(log: {raw_dir / (r['job'] + '.r' + str(r['round']) + '.log')})"
        )
    print(f"\n{len(failed)} floor(s) failed, {len(crashed)} job process(es) failed.")

    doc = {
        "generated_utc": datetime.now(UTC).isoformat(),
        "started_utc": started,
        "args": vars(a),
        "machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]},
        "peers": peers_status,
        "startup": startup,
        "summary": rows,
        "floors": checks,
        "records": records,
    }
    out = Path(a.out) if a.out else raw_dir / "overhead.json"
    out.write_text(json.dumps(doc, indent=1, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
