"""``cv.map``: one step applied to every partition of a dataset, in parallel.

Inside a pipeline it adds a mapped node (the engine cuts the dataset, runs and caches each
partition on its own, and collects the parts into a partitioned dataset). Outside one it
returns the lazy ``dataset.map_partitions`` of the step's function.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Callable
from typing import Any

from conveyor.authoring._building import current_builder
from conveyor.authoring._step import Step
from conveyor.core import MapOver
from conveyor.core._errors import PipelineDefinitionError


def map(
    step: Step[..., Any],
    dataset: object,
    /,
    *args: object,
    partitions: int | None = None,
    **kwargs: object,
) -> Any:
    """Run ``step`` once per partition of ``dataset``; the partitions are its first argument.

    ``args`` and ``kwargs`` are the step's other inputs, the same for every partition.
    ``partitions`` cuts the dataset into about that many pieces (default: 16 MiB of file
    each; files are never merged). The step gets its partition as the type its first
    parameter is annotated with: a polars or pandas DataFrame, a pyarrow Table, or (otherwise)
    a one-partition ``cv.Dataset`` it reads itself; it returns a table. The result is a
    partitioned dataset, each part cached on its own: when files are added to the input,
    only their partitions run.
    """
    if not isinstance(step, Step):
        raise PipelineDefinitionError(
            f"cv.map takes a @step as its first argument, got {type(step).__name__}",
            got=type(step).__name__,
        )
    if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
        raise PipelineDefinitionError(
            f"cv.map({step.name}): partitions must be a whole number >= 1, got {partitions!r}",
            step=step.name,
        )
    builder = current_builder()
    if builder is None:
        mapper = getattr(dataset, "map_partitions", None)
        if mapper is None:
            raise PipelineDefinitionError(
                f"cv.map({step.name}, …) outside a pipeline takes a cv.Dataset, "
                f"got {type(dataset).__name__}",
                step=step.name,
            )
        fn = step.spec.fn
        kind = wanted_kind(fn)
        pieces: Any = dataset.split(partitions) if partitions else dataset  # type: ignore[attr-defined]
        if kind == "dataset":
            one = type(dataset)

            def call(part: Any) -> object:
                return fn(one.from_table(part), *args, **kwargs)  # type: ignore[attr-defined]

            return pieces.map_partitions(call, as_="arrow")
        return pieces.map_partitions(lambda part: fn(part, *args, **kwargs), as_=kind)
    if isinstance(dataset, list | tuple):
        raise PipelineDefinitionError(
            f"cv.map({step.name}, …) maps over one dataset, not a list", step=step.name
        )
    by_position, by_name = step.bind((dataset, *args), dict(kwargs))
    first = _first_parameter(step)
    mapped = first if first in by_name else "arg0"
    return builder.add(step.spec, by_position, by_name, MapOver(mapped, partitions))


def _first_parameter(step: Step[..., Any]) -> str:
    parameters = list(inspect.signature(step.spec.fn).parameters.values())
    if not parameters or parameters[0].kind in (
        inspect.Parameter.VAR_POSITIONAL,
        inspect.Parameter.VAR_KEYWORD,
    ):
        raise PipelineDefinitionError(
            f"cv.map({step.name}, …): the step needs a first parameter to receive the partition",
            step=step.name,
        )
    return parameters[0].name


def wanted_kind(fn: Callable[..., object]) -> str:
    """What the step's first parameter is annotated as: polars, pandas, arrow, or dataset."""
    try:
        first = next(iter(inspect.signature(fn).parameters.values()))
    except (StopIteration, ValueError, TypeError):
        return "dataset"
    annotation = first.annotation
    if isinstance(annotation, str):
        # resolve names such as a bare "DataFrame" through the function's globals; an
        # unresolvable hint is judged by its text
        with contextlib.suppress(Exception):
            annotation = typing.get_type_hints(fn).get(first.name, annotation)
    text = annotation if isinstance(annotation, str) else _qualified(annotation)
    if "DataFrame" in text:
        return "pandas" if text.startswith(("pd.", "pandas")) else "polars"
    if text.endswith("Table") and text.startswith(("pa.", "pyarrow")):
        return "arrow"
    return "dataset"


def _qualified(annotation: object) -> str:
    module = getattr(annotation, "__module__", "")
    name = getattr(annotation, "__qualname__", "")
    return f"{module}.{name}" if module and name else ""
