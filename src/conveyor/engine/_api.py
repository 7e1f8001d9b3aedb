"""``run_pipeline``: the engine's entry point, called by ``Pipeline.run``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from conveyor.core import Graph, Settings, load_settings
from conveyor.engine._result import Run
from conveyor.engine._runner import Runner
from conveyor.engine._workspace import Workspace
from conveyor.engine.executors import create_executor


def run_pipeline(
    graph: Graph,
    *,
    params: Mapping[str, object],
    targets: Sequence[str] | None = None,
    no_cache: bool = False,
    workers: int | None = None,
    executor: str | object | None = None,
    hooks: Iterable[object] = (),
    settings: Settings | None = None,
    source: str = "",
) -> Run:
    """Run ``graph`` on the stores ``settings`` name (default: environment, conveyor.toml)."""
    settings = settings or load_settings(os.environ, Path.cwd())
    chosen = create_executor(executor, workers or settings.workers)
    with Workspace.open(settings) as workspace:
        runner = Runner(
            workspace,
            chosen,
            hooks=hooks,
            no_cache=no_cache,
            # cv.map runs partitions in worker processes unless an executor was chosen
            partition_executor=None if executor is None else chosen,
            partition_workers=workers,
        )
        return runner.run(graph, params, targets=targets, source=source)
