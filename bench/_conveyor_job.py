"""conveyor through the peer harness' scenarios, in one process (run by ``overhead.py``).

* chain  : a pipeline calling one step ``inc`` n times, x = inc(x) (nodes inc, inc_2 ... inc_n),
           run with ``no_cache=True`` so every repeat executes and persists every step
* fanout : source() -> branch(src, i) for i < fan -> sink(list of branches), ``no_cache=True``
* cache  : the chain run twice with the same code and parameters; the second run executes no
           step (all cache hits). ``start`` is a fresh random number per pair, so every first run
           meets a cold cache.

Everything is persisted: the SQLite store and artifact folder live under ``$CONVEYOR_HOME`` (a
fresh temporary folder per process unless given). Timing is the harness' own
(``_common.run_scenario``: one cold run, then repeats each paired with a plain-Python loop of the
same shape timed right before), imported from ``shared/bench/pipelines``; a minimal copy of those
helpers is used only when that folder cannot be found.

Usage: python bench/_conveyor_job.py --n 200 --fan 100 --out result.json [--quiet]
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any


def _load_common() -> tuple[ModuleType, str]:
    """The peer harness' ``_common`` (same timing code), else the local minimal copy."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _peers import harness_dir

    harness = harness_dir()
    if harness is not None:
        sys.path.insert(0, str(harness))
        import _common

        return _common, str(harness / "_common.py")
    return _MiniCommon(), "bench/_conveyor_job.py (_MiniCommon)"


class _MiniCommon(ModuleType):
    """The parts of the harness' ``_common.py`` this job uses, same method."""

    def __init__(self) -> None:
        super().__init__("_common_copy")

    @staticmethod
    def now() -> float:
        return time.perf_counter()

    @staticmethod
    def median(xs: list[float | None]) -> float | None:
        import statistics

        ys = [x for x in xs if x is not None]
        return statistics.median(ys) if ys else None

    @staticmethod
    def parse_args(description: str) -> Any:
        import argparse

        p = argparse.ArgumentParser(description=description)
        p.add_argument("--n", type=int, default=200)
        p.add_argument("--fan", type=int, default=100)
        p.add_argument("--repeats", type=int, default=5)
        p.add_argument("--warmup", type=int, default=1)
        p.add_argument("--cache-repeats", type=int, default=None)
        p.add_argument("--scenarios", default="chain,fanout,cache")
        p.add_argument("--out", default="result.json")
        p.add_argument("--quiet", action="store_true")
        a = p.parse_args()
        if a.cache_repeats is None:
            a.cache_repeats = a.repeats
        return a

    @staticmethod
    def _inc(x: int) -> int:
        return x + 1

    def plain_chain_seconds(self, n: int, inner: int = 200) -> float:
        f = self._inc
        t0 = self.now()
        for _ in range(inner):
            x = 0
            for _ in range(n):
                x = f(x)
        return (self.now() - t0) / inner

    def plain_fanout_seconds(self, fan: int, inner: int = 200) -> float:
        f = self._inc
        t0 = self.now()
        for _ in range(inner):
            src = f(0)
            sum([f(src + i) for i in range(fan)])
        return (self.now() - t0) / inner

    @staticmethod
    def expected_fanout_total(fan: int) -> int:
        return sum(1 + i + 1 for i in range(fan))

    def summarize(self, samples: list[float], steps: int) -> dict[str, Any]:
        med = self.median(list(samples))
        return {
            "samples_s": samples,
            "median_s": med,
            "min_s": min(samples) if samples else None,
            "per_step_median_s": (med / steps) if med is not None else None,
            "steps": steps,
        }

    def write_result(self, path: str, result: dict[str, Any]) -> None:
        import json
        import platform

        result.setdefault(
            "env",
            {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "load_avg_at_start": os.getloadavg(),
            },
        )
        with open(path, "w") as fh:
            json.dump(result, fh, indent=2, default=str)

    def one_line(self, result: dict[str, Any]) -> str:
        parts = [str(result.get("tool")), str(result.get("version"))]
        for name, sc in result["scenarios"].items():
            run = sc.get("run") or sc.get("second_run") or {}
            if run.get("median_s") is not None:
                parts.append(f"{name}={run['median_s'] * 1e3:.1f}ms")
            elif sc.get("error"):
                parts.append(f"{name}=ERROR")
        return " ".join(parts)

    def run_scenario(
        self,
        *,
        build: Any,
        run: Any,
        check: Any,
        steps: int,
        plain_fn: Any,
        repeats: int,
        warmup: int,
        after: Any = None,
    ) -> dict[str, Any]:
        after = after or (lambda v: None)
        out: dict[str, Any] = {}
        t0 = self.now()
        obj = build()
        t1 = self.now()
        val = run(obj)
        t2 = self.now()
        if not check(val):
            raise AssertionError(f"wrong result: {val!r}")
        after(val)
        out["cold"] = {"build_s": t1 - t0, "run_s": t2 - t1}
        for _ in range(warmup):
            after(run(build()))
        builds, runs, plains, ratios = [], [], [], []
        for _ in range(repeats):
            p = plain_fn()
            tb = self.now()
            obj = build()
            tr = self.now()
            val = run(obj)
            te = self.now()
            if not check(val):
                raise AssertionError(f"wrong result: {val!r}")
            after(val)
            builds.append(tr - tb)
            runs.append(te - tr)
            plains.append(p)
            ratios.append((te - tr) / p)
        out["build"] = self.summarize(builds, steps)
        out["run"] = self.summarize(runs, steps)
        out["plain"] = self.summarize(plains, steps)
        out["ratio_vs_plain_samples"] = ratios
        out["ratio_vs_plain_median"] = self.median(ratios)
        return out


C, COMMON_SOURCE = _load_common()

# A fresh home for this process unless one was given (overhead.py gives one per round).
if not os.environ.get("CONVEYOR_HOME"):
    _home = tempfile.mkdtemp(prefix="conveyor-bench-home-")
    os.environ["CONVEYOR_HOME"] = _home
    import atexit

    atexit.register(shutil.rmtree, _home, True)

t_imp = C.now()
import conveyor as cv  # noqa: E402

IMPORT_S = C.now() - t_imp


@cv.step
def inc(x: int) -> int:
    return x + 1


@cv.step
def source() -> int:
    return 1


@cv.step
def branch(s: int, i: int) -> int:
    return s + i + 1


@cv.step
def sink(xs: list[int]) -> int:
    return sum(xs)


@cv.pipeline
def chain(n: int = 200, start: int = 0) -> Any:
    x = inc(start)
    for _ in range(n - 1):
        x = inc(x)
    return x


@cv.pipeline
def fanout(fan: int = 100) -> Any:
    s = source()
    return sink([branch(s, i) for i in range(fan)])


def last_inc(n: int) -> str:
    return "inc" if n == 1 else f"inc_{n}"


def output_of(run: Any, node: str) -> Any:
    """The value of ``node`` in a finished run (raises if the run did not succeed)."""
    if run.status != "succeeded":
        raise AssertionError(f"run {getattr(run, 'id', '?')} ended {run.status!r}")
    value = run.outputs[node]
    load = getattr(value, "load", None)
    return load() if callable(load) else value


def step_statuses(run: Any) -> list[str] | None:
    """Status of every step of a run, if the Run exposes them."""
    for attr in ("steps", "step_runs", "nodes"):
        steps = getattr(run, attr, None)
        if steps is None:
            continue
        items = steps.values() if isinstance(steps, dict) else steps
        statuses = [getattr(s, "status", None) for s in items]
        if statuses and all(isinstance(s, str) for s in statuses):
            return statuses  # type: ignore[return-value]
    return None


def home_usage(home: Path) -> dict[str, Any]:
    files = [p for p in home.rglob("*") if p.is_file()]
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "db_bytes": sum(p.stat().st_size for p in files if p.suffix == ".db"),
    }


def main() -> None:
    a = C.parse_args(__doc__)
    if a.quiet:
        import logging

        logging.getLogger("conveyor").setLevel(logging.WARNING)
    sc = set(a.scenarios.split(","))
    n, fan = a.n, a.fan
    home = Path(os.environ["CONVEYOR_HOME"])
    res: dict[str, Any] = {
        "tool": "conveyor",
        "version": getattr(cv, "__version__", None),
        "n": n,
        "fan": fan,
        "mode": "in-process Pipeline.run, SQLite store + artifact folder under CONVEYOR_HOME",
        "quiet": a.quiet,
        "import_s": IMPORT_S,
        "timing_helpers": COMMON_SOURCE,
        "scenarios": {},
    }

    def scenario(name: str, fn: Any, expect: Any, steps: int, plain_fn: Any) -> None:
        try:
            res["scenarios"][name] = C.run_scenario(
                build=lambda: None,
                run=lambda _: fn(),
                check=lambda v: v == expect,
                steps=steps,
                plain_fn=plain_fn,
                repeats=a.repeats,
                warmup=a.warmup,
            )
        except Exception as exc:
            res["scenarios"][name] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}

    if "chain" in sc:
        scenario(
            "chain",
            lambda: output_of(chain.run(n=n, no_cache=True), last_inc(n)),
            n,
            n,
            lambda: C.plain_chain_seconds(n),
        )
    if "fanout" in sc:
        scenario(
            "fanout",
            lambda: output_of(fanout.run(fan=fan, no_cache=True), "sink"),
            C.expected_fanout_total(fan),
            fan + 2,
            lambda: C.plain_fanout_seconds(fan),
        )
    if "cache" in sc:
        firsts: list[float] = []
        seconds: list[float] = []
        plains: list[float] = []
        errors: list[str] = []
        rng = random.Random()
        try:  # untimed: store created before the first pair, as in the other scenarios
            output_of(chain.run(n=1, start=-1, no_cache=True), "inc")
        except Exception as exc:
            errors.append(f"init {type(exc).__name__}: {str(exc)[:300]}")
        for _ in range(a.cache_repeats):
            start = rng.randrange(10**12)  # fresh cache keys for every pair
            try:
                plains.append(C.plain_chain_seconds(n))
                t0 = C.now()
                r1 = chain.run(n=n, start=start)
                t1 = C.now()
                r2 = chain.run(n=n, start=start)
                t2 = C.now()
                v1, v2 = output_of(r1, last_inc(n)), output_of(r2, last_inc(n))
                assert v1 == v2 == start + n, (v1, v2)
                s1, s2 = step_statuses(r1), step_statuses(r2)
                if s1 is not None and "cached" in s1:
                    raise AssertionError(f"first run had cache hits: {sorted(set(s1))}")
                if s2 is not None and set(s2) != {"cached"}:
                    raise AssertionError(f"second run executed steps: {sorted(set(s2))}")
                firsts.append(t1 - t0)
                seconds.append(t2 - t1)
            except Exception as exc:
                plains = plains[: len(seconds)]
                errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
        if seconds:
            res["scenarios"]["cache"] = {
                "mechanism": "content-addressed step cache (code + inputs), SQLite store",
                "first_run": C.summarize(firsts, n),
                "second_run": C.summarize(seconds, n),
                "plain": C.summarize(plains, n),
                "second_over_first_median": C.median(
                    [s / f for s, f in zip(seconds, firsts, strict=True)]
                ),
                "ratio_vs_plain_median": C.median(
                    [s / p for s, p in zip(seconds, plains, strict=True)]
                ),
                "errors": errors,
            }
        else:
            res["scenarios"]["cache"] = {"error": "; ".join(errors) or "no pair ran"}
    res["home_usage"] = home_usage(home)
    C.write_result(a.out, res)
    print(C.one_line(res))


if __name__ == "__main__":
    main()
