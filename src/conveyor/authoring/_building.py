"""Graph building: the context a ``@pipeline`` body runs in, and the handles steps return there.

Turns step calls into ``core.Node``s; runs nothing and touches no store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from conveyor.core import Gather, Graph, Input, Literal, MapOver, Node, OutputRef, StepSpec
from conveyor.core._errors import PipelineDefinitionError


class Handle:
    """A step's output inside a pipeline body: pass it to other steps; it has no value yet."""

    __slots__ = ("_ref", "_spec")

    def __init__(self, spec: StepSpec, ref: OutputRef) -> None:
        self._spec = spec
        self._ref = ref

    @property
    def step(self) -> str:
        return self._ref.step

    def __getitem__(self, index: int) -> Handle:
        count = self._spec.n_outputs
        if self._ref.index is not None or count is None:
            raise PipelineDefinitionError(
                f"output of step {self.step!r} is one value and cannot be indexed; annotate the "
                "step's return type as tuple[...] to give it several outputs",
                step=self.step,
            )
        if not -count <= index < count:
            raise PipelineDefinitionError(
                f"step {self.step!r} has {count} outputs; index {index} is out of range",
                step=self.step,
            )
        return Handle(self._spec, OutputRef(self.step, index % count))

    def __iter__(self) -> Iterator[Handle]:
        count = self._spec.n_outputs
        if count is None or self._ref.index is not None:
            raise PipelineDefinitionError(
                f"cannot unpack the output of step {self.step!r}: annotate its return type as "
                "tuple[A, B, ...] so conveyor knows how many outputs it has",
                step=self.step,
            )
        return (self[i] for i in range(count))

    def __bool__(self) -> bool:
        raise PipelineDefinitionError(
            f"the output of step {self.step!r} has no value while the pipeline is being built; "
            "branch on run parameters, or move the condition into a step",
            step=self.step,
        )

    def __repr__(self) -> str:
        suffix = "" if self._ref.index is None else f"[{self._ref.index}]"
        return f"<output of step {self.step!r}{suffix}>"


class GraphBuilder:
    """Collects nodes while a pipeline body runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._nodes: dict[str, Node] = {}
        self._counts: dict[str, int] = {}

    def add(
        self,
        spec: StepSpec,
        args: tuple[object, ...],
        kwargs: dict[str, object],
        map_over: MapOver | None = None,
    ) -> Handle:
        base = spec.name
        count = self._counts.get(base, 0) + 1
        self._counts[base] = count
        name = base if count == 1 else f"{base}_{count}"
        while name in self._nodes:  # a user-chosen name may collide with a generated one
            count += 1
            name = f"{base}_{count}"
        named = spec if name == base else spec.with_options(name=name)
        node = Node(
            spec=named,
            args=tuple(_as_input(a, name) for a in args),
            kwargs=tuple((k, _as_input(v, name)) for k, v in kwargs.items()),
            map_over=map_over,
        )
        self._nodes[name] = node
        return Handle(named, OutputRef(name))

    def graph(self) -> Graph:
        if not self._nodes:
            raise PipelineDefinitionError(
                f"pipeline {self.name!r} calls no step; call @step functions in its body",
                pipeline=self.name,
            )
        return Graph(dict(self._nodes), name=self.name)


def _as_input(value: object, step: str) -> Input:
    if isinstance(value, Handle):
        return value._ref
    if isinstance(value, list | tuple) and any(isinstance(v, Handle) for v in value):
        items = tuple(_as_item(v, step) for v in value)
        return Gather(items, as_tuple=isinstance(value, tuple))
    if isinstance(value, dict) and any(isinstance(v, Handle) for v in value.values()):
        raise PipelineDefinitionError(
            f"step {step!r}: step outputs inside a dict are not supported; pass them as "
            "separate arguments or in a list",
            step=step,
        )
    return Literal(value)


def _as_item(value: object, step: str) -> OutputRef | Literal:
    if isinstance(value, Handle):
        return value._ref
    if isinstance(value, list | tuple | dict) and _contains_handle(value):
        raise PipelineDefinitionError(
            f"step {step!r}: step outputs nested more than one list deep are not supported",
            step=step,
        )
    return Literal(value)


def _contains_handle(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(
        isinstance(v, Handle) or (isinstance(v, list | tuple | dict) and _contains_handle(v))
        for v in items
    )


_builder: ContextVar[GraphBuilder | None] = ContextVar("conveyor_graph_builder", default=None)


def current_builder() -> GraphBuilder | None:
    return _builder.get()


def building(builder: GraphBuilder) -> _Building:
    return _Building(builder)


class _Building:
    def __init__(self, builder: GraphBuilder) -> None:
        self._builder = builder

    def __enter__(self) -> GraphBuilder:
        self._token = _builder.set(self._builder)
        return self._builder

    def __exit__(self, *exc: object) -> None:
        _builder.reset(self._token)
