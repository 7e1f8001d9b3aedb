from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict

import pytest

from conveyor.core import canonical_json
from conveyor.data import Materialized, load, materialize


def roundtrip(value: object) -> tuple[Materialized, object]:
    stored = materialize(value)
    return stored, load(stored.materializer, stored.type_name, stored.data, stored.meta)


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        2**100,
        1.5,
        -0.0,
        1e-300,
        "",
        "plain",
        'quote " backslash \\ newline \n tab \t',
        "unicode é ü 日本 🐍",
        "lone surrogate \ud800",
        [],
        {},
        [1, "a", None, [2.5, {"k": [True]}]],
        {"b": 1, "a": {"nested": [1, 2, {"x": None}]}},
    ],
)
def test_json_values_load_back_equal_and_of_the_same_types(value: object) -> None:
    stored, loaded = roundtrip(value)
    assert stored.materializer == "json"
    assert loaded == value
    assert type(loaded) is type(value)
    assert stored.rows is None
    assert stored.meta == {}


def test_scalars_are_named_by_their_builtin_type() -> None:
    assert materialize(42).type_name == "int"
    assert materialize(True).type_name == "bool"
    assert materialize("s").type_name == "str"
    assert materialize(None).type_name == "NoneType"
    assert materialize([1]).type_name == "list"
    assert materialize({"a": 1}).type_name == "dict"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_use_pythons_json_spelling(value: float) -> None:
    stored, loaded = roundtrip(value)
    assert stored.data == json.dumps(value).encode()
    assert isinstance(loaded, float)
    assert math.isnan(loaded) if math.isnan(value) else loaded == value


@pytest.mark.parametrize(
    "value",
    [
        0,
        True,
        None,
        3.25,
        math.nan,
        "é \ud7ff",
        ["é", 1.0, None],
        {"z": 1, "a": [1, {"y": 2, "b": 3}], "é": "ü"},
    ],
)
def test_bytes_are_canonical_json(value: object) -> None:
    # The fast path for scalars writes by hand what the encoder writes for containers.
    assert materialize(value).data == canonical_json(value).encode()


def test_equal_dicts_give_equal_bytes_whatever_their_key_order() -> None:
    assert materialize({"a": 1, "b": [1, 2]}).data == materialize({"b": [1, 2], "a": 1}).data
    assert materialize({"a": 1, "b": 2}).data == b'{"a":1,"b":2}'


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ((1, 2), "a tuple would load back as a list"),
        ({1, 2}, "JSON has no sets"),
        ({1: "a"}, "an int key would load back as a str"),
        ({"a": (1,)}, "a nested tuple"),
        ([1, {2: "b"}], "a nested int key"),
        (Colour.RED, "an IntEnum would load back as an int"),
        (OrderedDict(a=1), "a dict subclass would load back as a dict"),
    ],
)
def test_values_json_would_change_are_not_json(value: object, why: str) -> None:
    with pytest.warns(Warning, match="cloudpickle"):
        stored, loaded = roundtrip(value)
    assert stored.materializer == "cloudpickle", why
    assert loaded == value
    assert type(loaded) is type(value)


def test_a_shared_list_keeps_its_identity() -> None:
    shared = [1, 2]
    with pytest.warns(Warning, match="cloudpickle"):
        stored, loaded = roundtrip({"a": shared, "b": shared})
    assert stored.materializer == "cloudpickle"
    assert isinstance(loaded, dict)
    assert loaded["a"] is loaded["b"]


def test_a_cyclic_list_is_stored_without_recursing_forever() -> None:
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    with pytest.warns(Warning, match="cloudpickle"):
        stored, loaded = roundtrip(cyclic)
    assert stored.materializer == "cloudpickle"
    assert isinstance(loaded, list)
    assert loaded[1] is loaded


def test_an_int_too_long_for_text_is_pickled() -> None:
    huge = 10**5000  # past the interpreter's default limit of 4300 digits
    with pytest.warns(Warning, match="too many digits"):
        stored, loaded = roundtrip(huge)
    assert stored.materializer == "cloudpickle"
    assert loaded == huge
