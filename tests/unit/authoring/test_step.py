from __future__ import annotations

import pytest

import conveyor as cv
from conveyor.core import Gather, Literal, OutputRef
from conveyor.errors import MissingInputError, PipelineDefinitionError


@cv.step
def load(path: str) -> list[int]:
    return [1, 2, 3]


@cv.step(retries=2, timeout=5, version="2")
def split(rows: list[int]) -> tuple[list[int], list[int]]:
    return rows[:1], rows[1:]


@cv.step
def combine(a: list[int], b: list[int], factor: int = 1) -> int:
    return (sum(a) + sum(b)) * factor


def test_a_step_called_outside_a_pipeline_is_the_plain_function() -> None:
    assert load("x") == [1, 2, 3]
    assert split([5, 6]) == ([5], [6])


def test_options_are_kept_on_the_spec() -> None:
    assert (split.spec.retries, split.spec.timeout, split.spec.version) == (2, 5, "2")
    assert split.spec.n_outputs == 2 and load.spec.n_outputs is None


def test_calling_steps_in_a_pipeline_builds_the_graph_without_running() -> None:
    calls: list[str] = []

    @cv.step
    def noisy() -> int:
        calls.append("ran")
        return 1

    @cv.pipeline
    def pipe(path: str = "data.csv", factor: int = 2) -> None:
        first, rest = split(load(path))
        combine(first, rest, factor=factor)
        noisy()

    graph = pipe.build(factor=3)
    assert calls == []
    assert graph.topological_order()[:2] == ("load", "split")
    node = graph.nodes["combine"]
    assert node.args == ()
    assert node.kwargs == (
        ("a", OutputRef("split", 0)),
        ("b", OutputRef("split", 1)),
        ("factor", Literal(3)),
    )
    assert graph.nodes["load"].kwargs == (("path", Literal("data.csv")),)


def test_the_same_step_twice_gets_numbered_names() -> None:
    @cv.pipeline
    def twice() -> None:
        combine(load("a"), load("b"))

    assert set(twice.build().nodes) == {"load", "load_2", "combine"}


def test_a_list_of_outputs_is_gathered() -> None:
    @cv.step
    def total(parts: list[list[int]]) -> int:
        return sum(map(sum, parts))

    @cv.pipeline
    def fan() -> None:
        total([load("a"), load("b"), [9]])

    ((name, arg),) = fan.build().nodes["total"].kwargs
    assert name == "parts"
    assert arg == Gather((OutputRef("load"), OutputRef("load_2"), Literal([9])))


def test_a_missing_input_is_named() -> None:
    @cv.pipeline
    def broken() -> None:
        combine(load("a"))  # type: ignore[call-arg]

    with pytest.raises(MissingInputError, match="step 'combine' is missing input 'b'"):
        broken.build()


def test_unpacking_a_single_output_explains_how_to_declare_several() -> None:
    @cv.pipeline
    def broken() -> None:
        _a, _b = load("x")  # type: ignore[misc]

    with pytest.raises(PipelineDefinitionError, match=r"annotate its return type as tuple"):
        broken.build()


def test_branching_on_an_output_is_refused_with_a_reason() -> None:
    @cv.pipeline
    def broken() -> None:
        if load("x"):
            pass

    with pytest.raises(PipelineDefinitionError, match="has no value while the pipeline is being"):
        broken.build()


def test_a_pipeline_that_calls_no_step_is_an_error() -> None:
    @cv.pipeline
    def empty() -> None:
        pass

    with pytest.raises(PipelineDefinitionError, match="calls no step"):
        empty.build()


def test_step_rejects_a_non_function() -> None:
    with pytest.raises(PipelineDefinitionError, match="decorates a function"):
        cv.step(42)  # type: ignore[call-overload]


def test_string_annotations_count_outputs() -> None:
    from conveyor.authoring._step import _count_in_text

    assert _count_in_text("tuple[pd.DataFrame, dict[str, int]]") == 2
    assert _count_in_text("tuple[int, ...]") is None
    assert _count_in_text("list[int]") is None
