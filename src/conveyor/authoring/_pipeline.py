"""``@pipeline``: a function whose body wires steps together and whose parameters are run
parameters. Building the graph is pure; ``run()`` is the one documented call up into the engine.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from conveyor.authoring._building import GraphBuilder, building
from conveyor.authoring._params import bind_params, convert_text
from conveyor.core import Graph

if TYPE_CHECKING:
    from conveyor.core import Settings
    from conveyor.engine import Run, RunHook


class Pipeline:
    """A pipeline: ``build(**params)`` gives its graph, ``run(**params)`` executes it."""

    def __init__(self, fn: Callable[..., object], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def params(self, given: Mapping[str, object] | None = None) -> dict[str, object]:
        """The run parameters: defaults overlaid with ``given``, checked against the signature."""
        return bind_params(self.name, self.fn, dict(given or {}))

    def convert(self, raw: Mapping[str, str]) -> dict[str, object]:
        """Convert ``-p key=value`` text to the annotated parameter types."""
        return convert_text(self.name, self.fn, raw)

    def build(self, **params: object) -> Graph:
        """The graph for these parameters (nothing runs)."""
        values = self.params(params)
        builder = GraphBuilder(self.name)
        with building(builder):
            self.fn(**values)
        return builder.graph()

    def run(
        self,
        *,
        targets: Sequence[str] | None = None,
        no_cache: bool = False,
        workers: int | None = None,
        executor: str | object | None = None,
        hooks: Iterable[RunHook] = (),
        settings: Settings | None = None,
        source: str = "",
        **params: object,
    ) -> Run:
        """Run the pipeline and return its ``Run``; a failed step gives ``status == "failed"``.

        Args:
            targets: step names; only they and what they need are run.
            no_cache: execute every step even when its outputs are cached.
            workers: how many steps may run at once (default: the machine's cores, at least 4).
            executor: ``"threads"`` (default), ``"processes"``, ``"dask"``, ``"ray"``, or an
                executor object such as ``cv.DaskExecutor("tcp://scheduler:8786")``, which
                stays open for further runs until its ``shutdown()`` (or the end of its
                ``with`` block).
            hooks: subscribers to the run's events (``on_step_finished`` and friends).
            settings: where to store things; default: read from the environment and conveyor.toml.
            **params: run parameters (the pipeline function's arguments).
        """
        from conveyor.engine import run_pipeline  # the one documented upward call (DESIGN.md)

        values = self.params(params)
        graph = self.build(**values)
        return run_pipeline(
            graph,
            params=values,
            targets=targets,
            no_cache=no_cache,
            workers=workers,
            executor=executor,
            hooks=hooks,
            settings=settings,
            source=source,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r}>"


def pipeline(fn: Callable[..., object] | None = None, /, *, name: str | None = None) -> Any:
    """Make a function a pipeline; its parameters become run parameters (``-p key=value``)."""
    if fn is not None:
        return Pipeline(fn, name=name)
    return lambda f: Pipeline(f, name=name)
