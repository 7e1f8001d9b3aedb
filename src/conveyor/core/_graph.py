"""The pipeline graph as plain, immutable data: steps, their inputs, and graph queries.

Built by ``authoring`` and consumed by ``engine``; holds no I/O, no clock and no execution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.core._errors import CycleError, PipelineDefinitionError
from conveyor.core._resources import Resources


@dataclass(frozen=True, slots=True)
class StepSpec:
    """A step's function and options, validated at construction."""

    name: str
    fn: Callable[..., object]
    retries: int = 0
    timeout: float | None = None
    cache: bool = True
    version: str | None = None
    retry_delay: float = 1.0
    n_outputs: int | None = None  # a tuple of this many outputs; None: one value
    # schemas (anything with .validate(data) -> report) checked before and after the call
    validate_inputs: tuple[tuple[str, object], ...] = field(default=(), compare=False)
    validate_output: object | None = field(default=None, compare=False)
    resources: Resources | None = None  # what a worker must offer to run an attempt

    def __post_init__(self) -> None:
        problems: list[tuple[str, object]] = []
        if not isinstance(self.retries, int) or self.retries < 0:
            problems.append(("retries must be a whole number >= 0", self.retries))
        if self.timeout is not None and not self.timeout > 0:
            problems.append(("timeout must be a number of seconds > 0", self.timeout))
        if self.retry_delay < 0:
            problems.append(("retry_delay must be >= 0", self.retry_delay))
        if self.version is not None and not isinstance(self.version, str):
            problems.append(("version must be a string", self.version))
        for name, schema in self.validate_inputs:
            if not callable(getattr(schema, "validate", None)):
                problems.append((f"validate_inputs[{name!r}] must be a cv.Schema", schema))
        if self.validate_output is not None and not callable(
            getattr(self.validate_output, "validate", None)
        ):
            problems.append(("validate_output must be a cv.Schema", self.validate_output))
        if self.resources is not None and not isinstance(self.resources, Resources):
            problems.append(("resources must be a cv.Resources", self.resources))
        for text, value in problems:
            raise PipelineDefinitionError(
                f"step {self.name!r}: {text}, got {value!r}", step=self.name, value=repr(value)
            )

    def with_options(self, **changes: Any) -> StepSpec:
        return dataclasses.replace(self, **changes)  # re-runs __post_init__


@dataclass(frozen=True, slots=True)
class OutputRef:
    """An input that is another step's output: the whole of it, or element ``index`` of a tuple."""

    step: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Literal:
    """An input given as a plain value (a run parameter or a constant)."""

    value: object


@dataclass(frozen=True, slots=True)
class Gather:
    """An input that is a list or tuple whose items are outputs or plain values (a fan-in)."""

    items: tuple[OutputRef | Literal, ...]
    as_tuple: bool = False


Input = OutputRef | Literal | Gather


def refs_of(value: Input) -> Iterable[OutputRef]:
    if isinstance(value, OutputRef):
        yield value
    elif isinstance(value, Gather):
        yield from (i for i in value.items if isinstance(i, OutputRef))


@dataclass(frozen=True, slots=True)
class MapOver:
    """The node runs once per partition of the dataset given as input ``input``
    (``cv.map``); ``partitions`` is how many pieces to cut it into (None: the default size)."""

    input: str
    partitions: int | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """One call of a step in a pipeline: the spec and where each argument comes from."""

    spec: StepSpec
    args: tuple[Input, ...] = ()
    kwargs: tuple[tuple[str, Input], ...] = ()
    map_over: MapOver | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def named_inputs(self) -> Iterable[tuple[str, Input]]:
        """Each input with its name: the parameter name, or ``arg<i>`` for a positional one."""
        for i, value in enumerate(self.args):
            yield f"arg{i}", value
        yield from self.kwargs

    def inputs(self) -> Iterable[Input]:
        return (value for _, value in self.named_inputs())

    def upstream(self) -> frozenset[str]:
        return frozenset(ref.step for i in self.inputs() for ref in refs_of(i))


@dataclass(frozen=True)
class Graph:
    """Steps by name, in definition order; every reference resolves and there is no cycle."""

    nodes: Mapping[str, Node]
    name: str = "pipeline"
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for node in self.nodes.values():
            for value in node.inputs():
                for ref in refs_of(value):
                    self._check_ref(node, ref)
        object.__setattr__(self, "_order", self._topological_order())

    def _check_ref(self, node: Node, ref: OutputRef) -> None:
        producer = self.nodes.get(ref.step)
        if producer is None:
            raise PipelineDefinitionError(
                f"step {node.name!r} takes the output of {ref.step!r}, "
                "which is not in the pipeline",
                step=node.name,
                missing=ref.step,
            )
        count = producer.spec.n_outputs
        if ref.index is not None and (count is None or not 0 <= ref.index < count):
            raise PipelineDefinitionError(
                f"step {node.name!r} takes output {ref.index} of {ref.step!r}, "
                f"which has {count or 1} output(s)",
                step=node.name,
                producer=ref.step,
            )

    def _topological_order(self) -> tuple[str, ...]:
        done: dict[str, bool] = {}  # False while on the current path, True when finished
        order: list[str] = []
        for root in self.nodes:
            if root in done:
                continue
            stack: list[tuple[str, list[str]]] = [(root, sorted(self.nodes[root].upstream()))]
            done[root] = False
            while stack:
                name, pending = stack[-1]
                if not pending:
                    stack.pop()
                    done[name] = True
                    order.append(name)
                    continue
                nxt = pending.pop()
                if nxt not in done:
                    done[nxt] = False
                    stack.append((nxt, sorted(self.nodes[nxt].upstream())))
                elif not done[nxt]:
                    path = [n for n, _ in stack]
                    raise CycleError([*path[path.index(nxt) :], nxt])
        return tuple(order)

    def topological_order(self) -> tuple[str, ...]:
        return self._order

    def downstream(self) -> dict[str, list[str]]:
        """Consumers of each step, in topological order."""
        consumers: dict[str, list[str]] = {name: [] for name in self._order}
        for name in self._order:
            for up in self.nodes[name].upstream():
                consumers[up].append(name)
        return consumers

    def select(self, targets: Iterable[str]) -> Graph:
        """A new graph with only ``targets`` and what they need."""
        wanted: set[str] = set()
        stack = list(targets)
        for target in stack:
            if target not in self.nodes:
                raise PipelineDefinitionError(
                    f"target {target!r} is not a step of pipeline {self.name!r}; "
                    f"steps: {', '.join(self._order)}",
                    target=target,
                )
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(self.nodes[name].upstream())
        return Graph({n: self.nodes[n] for n in self._order if n in wanted}, name=self.name)
