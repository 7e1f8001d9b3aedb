"""Where the peer harness lives and how its jobs are run (used by ``overhead.py``).

The peer scripts (``orch_*.py``) live in ``shared/bench/pipelines`` next to this repository and
run in their own venv (``setup_venv.sh`` there). Every job is one fresh process writing one JSON
document in the harness' shape (``tool``, ``version``, ``scenarios`` ...).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent


@dataclass(frozen=True)
class Job:
    """One benchmark process: ``python script [args] --out FILE``."""

    name: str
    python: str
    script: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # added to / overriding os.environ
    unset: tuple[str, ...] = ()  # removed from the environment
    warm_import: str = ""  # modules imported once, untimed, before round 0


# Peer jobs: name -> (harness script, module(s) for the untimed warm-up import).
# All are run with --quiet (the tool's own loggers at WARNING), the fairest mode for each.
PEER_SCRIPTS: dict[str, tuple[str, str]] = {
    "python": ("orch_python.py", "json"),
    "hamilton": ("orch_hamilton.py", "hamilton.driver"),
    "kedro": ("orch_kedro.py", "kedro.runner"),
    "prefect": ("orch_prefect.py", "prefect"),
    "dagster": ("orch_dagster.py", "dagster"),
}


def shared_dir() -> Path | None:
    """``shared/`` beside the repository, else ``$CONVEYOR_SHARED_DIR``, else None."""
    beside = Path(__file__).resolve().parents[2] / "shared"
    if beside.is_dir():
        return beside
    env = os.environ.get("CONVEYOR_SHARED_DIR")
    if env and Path(env).is_dir():
        return Path(env).resolve()
    return None


def harness_dir() -> Path | None:
    shared = shared_dir()
    if shared is None:
        return None
    path = shared / "bench" / "pipelines"
    return path if (path / "_common.py").is_file() else None


def default_peers_python() -> str:
    venv = os.environ.get("PEERS_VENV") or "/tmp/peers/pipe"
    return str(Path(venv) / "bin" / "python")


def check_peers_python(python: str) -> str | None:
    """None if ``python`` exists and starts, else why not (one line)."""
    if not Path(python).is_file():
        return f"no interpreter at {python}"
    try:
        proc = subprocess.run(
            [python, "-c", "import sys"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} does not run: {exc}"
    if proc.returncode != 0:
        return f"{python} does not run: exit code {proc.returncode}"
    return None


def peer_jobs(python: str, harness: Path, names: list[str], common: list[str]) -> list[Job]:
    jobs = []
    for name in names:
        script, warm = PEER_SCRIPTS[name]
        jobs.append(
            Job(
                name=name,
                python=python,
                script=harness / script,
                args=["--quiet", *common],
                warm_import=warm,
            )
        )
    return jobs


def warm_up(job: Job) -> str | None:
    """Import the tool once, untimed, with its package compiled to bytecode as an install
    leaves it (``PYTHONDONTWRITEBYTECODE`` would otherwise have every timed run compile the
    sources of an editable install again).

    Returns None if the import worked, else the last line of the error.
    """
    if not job.warm_import:
        return None
    return compile_package(job.python, job.warm_import)


def compile_package(python: str, module: str) -> str | None:
    """Import ``module`` with ``python`` and write the bytecode of its whole top-level package.

    Returns None if that worked, else the last line of the error.
    """
    top = module.split(".", maxsplit=1)[0]
    code = (
        f"import compileall, os, {module}; "
        f"compileall.compile_dir(os.path.dirname({top}.__file__), quiet=1)"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]


def loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run_job(
    job: Job,
    round_no: int,
    raw_dir: Path,
    scratch: Path,
    *,
    timeout: float,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``job`` once in a fresh process; return a record with its JSON result or log tail."""
    out = raw_dir / f"{job.name}.r{round_no}.json"
    log = raw_dir / f"{job.name}.r{round_no}.log"
    env = dict(os.environ)
    for key in job.unset:
        env.pop(key, None)
    # stable per-job scratch across rounds (e.g. Prefect's DB persists like a user's ~/.prefect)
    env["PEERS_SCRATCH"] = str(scratch)
    env.update(job.env)
    env.update(extra_env or {})
    scratch.mkdir(parents=True, exist_ok=True)
    cmd = [job.python, str(job.script), "--out", str(out), *job.args]
    load0, t0 = loadavg(), time.perf_counter()
    rc: int | str
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd,
                cwd=scratch,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - t0
    rec: dict[str, Any] = {
        "job": job.name,
        "round": round_no,
        "rc": rc,
        "wall_s": wall,
        "loadavg_before": load0,
        "loadavg_after": loadavg(),
        "cmd": [Path(cmd[1]).name, *cmd[2:]],
    }
    text = log.read_text(errors="replace")
    if rc == 0 and out.is_file():
        rec["result"] = json.loads(out.read_text())
    else:
        rec["log_tail"] = text[-3000:]
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    load = "?" if load0 is None else f"{load0:.1f}"
    print(
        f"[round {round_no}] {job.name}: rc={rc} {wall:.0f}s load={load} :: {last[:160]}",
        flush=True,
    )
    return rec
