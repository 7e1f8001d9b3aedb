from __future__ import annotations

from pathlib import Path

import pytest

import conveyor as cv
from conveyor.errors import ParameterTypeError, UnknownParameterError


@cv.step
def echo(value: object) -> object:
    return value


@cv.pipeline
def pipe(
    n_estimators: int = 100,
    rate: float = 0.1,
    name: str = "m",
    verbose: bool = False,
    path: Path = Path("data"),
    layers: list[int] | None = None,
    anything=None,  # type: ignore[no-untyped-def]
) -> None:
    echo(n_estimators)


def test_cli_text_is_converted_to_the_annotated_types() -> None:
    converted = pipe.convert(
        {
            "n_estimators": "50",
            "rate": "1e-3",
            "name": "x",
            "verbose": "yes",
            "path": "a/b",
            "layers": "[1, 2]",
            "anything": '{"k": 1}',
        }
    )
    assert converted == {
        "n_estimators": 50,
        "rate": 0.001,
        "name": "x",
        "verbose": True,
        "path": Path("a/b"),
        "layers": [1, 2],
        "anything": {"k": 1},
    }
    assert pipe.convert({"layers": "none"}) == {"layers": None}


def test_text_that_does_not_fit_names_the_parameter_and_type() -> None:
    with pytest.raises(ParameterTypeError, match="-p n_estimators=many is not a valid int"):
        pipe.convert({"n_estimators": "many"})
    with pytest.raises(ParameterTypeError, match="verbose"):
        pipe.convert({"verbose": "perhaps"})


def test_unknown_parameters_are_listed_with_the_known_ones() -> None:
    with pytest.raises(UnknownParameterError, match=r"no parameter 'n_trees'.*n_estimators"):
        pipe.params({"n_trees": 3})


def test_python_values_of_the_wrong_type_are_rejected() -> None:
    with pytest.raises(ParameterTypeError, match="'n_estimators' must be int, got '5'"):
        pipe.params({"n_estimators": "5"})
    assert pipe.params({"rate": 1})["rate"] == 1  # an int is a fine float


def test_a_parameter_without_default_must_be_given() -> None:
    @cv.pipeline
    def needs(size: int) -> None:
        echo(size)

    with pytest.raises(UnknownParameterError, match="needs a value for parameter 'size'"):
        needs.params({})
