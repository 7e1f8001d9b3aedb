"""``run_pipeline``: the engine's entry point, called by ``Pipeline.run``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from conveyor.core import Graph, Settings, load_settings
from conveyor.core._errors import ConfigurationError
from conveyor.engine._result import Run
from conveyor.engine._runner import Runner
from conveyor.engine._workspace import Workspace
from conveyor.engine.executors import Executor, create_executor, partition_executor


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
    if not chosen.in_process and settings.artifacts.startswith("memory://"):
        if executor is None or isinstance(executor, str):
            chosen.shutdown()
        raise ConfigurationError(
            "steps that run outside this process need an artifact store they can reach "
            f"(a folder or s3://), not {settings.artifacts}",
            artifacts=settings.artifacts,
        )
    # cv.map runs partitions in worker processes unless an executor was chosen
    partitions = chosen if executor is not None else None
    if _has_maps(graph, targets):
        if partitions is None:
            partitions = partition_executor(chosen, settings.artifacts, workers or settings.workers)
        _start_early(partitions)
    try:
        with Workspace.open(settings) as workspace:
            runner = Runner(
                workspace,
                chosen,
                hooks=hooks,
                no_cache=no_cache,
                partition_executor=partitions,
                partition_workers=workers,
                # an executor object passed in is the caller's: it may serve further runs
                keep_executor=executor is not None and not isinstance(executor, str),
            )
            return runner.run(graph, params, targets=targets, source=source)
    finally:
        if partitions is not None and partitions is not chosen:
            partitions.shutdown()  # the runner has; not if the workspace did not open


def _has_maps(graph: Graph, targets: Sequence[str] | None) -> bool:
    selected = graph.select(targets) if targets else graph
    return any(node.map_over is not None for node in selected.nodes.values())


def _start_early(partitions: Executor) -> None:
    """Start the partition workers before the stores open: a worker takes most of a second to
    import the table libraries, which then overlaps opening the stores and the steps before
    the map. Workers left without work (every partition cached) are stopped at once by their
    executor's shutdown."""
    start = getattr(partitions, "start", None)
    if start is not None:
        start()
