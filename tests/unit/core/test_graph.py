from __future__ import annotations

import pytest

from conveyor.core import Gather, Graph, Literal, Node, OutputRef, StepSpec
from conveyor.errors import CycleError, PipelineDefinitionError


def _node(name: str, *upstream: str, n_outputs: int | None = None) -> Node:
    spec = StepSpec(name=name, fn=lambda *a: None, n_outputs=n_outputs)
    return Node(spec, args=tuple(OutputRef(u) for u in upstream))


def test_topological_order_puts_producers_first() -> None:
    graph = Graph({"c": _node("c", "b"), "b": _node("b", "a"), "a": _node("a")})
    assert graph.topological_order() == ("a", "b", "c")


def test_a_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(CycleError) as info:
        Graph({"a": _node("a", "c"), "b": _node("b", "a"), "c": _node("c", "b")})
    assert info.value.details["cycle"][0] == info.value.details["cycle"][-1]
    assert set(info.value.details["cycle"]) == {"a", "b", "c"}


def test_a_reference_to_a_missing_step_is_a_definition_error() -> None:
    with pytest.raises(PipelineDefinitionError, match="'ghost', which is not in the pipeline"):
        Graph({"a": _node("a", "ghost")})


def test_an_output_index_beyond_the_declared_outputs_is_rejected() -> None:
    split = _node("split", n_outputs=2)
    use = Node(StepSpec(name="use", fn=lambda x: x), args=(OutputRef("split", 2),))
    with pytest.raises(PipelineDefinitionError, match="has 2 output"):
        Graph({"split": split, "use": use})


def test_select_keeps_only_what_the_targets_need() -> None:
    graph = Graph(
        {"a": _node("a"), "b": _node("b", "a"), "c": _node("c", "a"), "d": _node("d", "b")}
    )
    assert graph.select(["b"]).topological_order() == ("a", "b")
    with pytest.raises(PipelineDefinitionError, match="target 'zzz' is not a step"):
        graph.select(["zzz"])


def test_gathered_inputs_count_as_upstream() -> None:
    sink = Node(
        StepSpec(name="sink", fn=lambda xs: xs),
        args=(Gather((OutputRef("a"), Literal(3), OutputRef("b"))),),
    )
    graph = Graph({"a": _node("a"), "b": _node("b"), "sink": sink})
    assert graph.downstream()["a"] == ["sink"]
    assert graph.topological_order()[-1] == "sink"


def test_step_options_are_validated_at_construction() -> None:
    with pytest.raises(PipelineDefinitionError, match="retries must be"):
        StepSpec(name="s", fn=print, retries=-1)
    with pytest.raises(PipelineDefinitionError, match="timeout must be"):
        StepSpec(name="s", fn=print, timeout=0)
    spec = StepSpec(name="s", fn=print)
    assert spec.with_options(retries=2).retries == 2 and spec.retries == 0
