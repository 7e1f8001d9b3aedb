from __future__ import annotations
import __future__

import json
import subprocess
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import pytest

import conveyor.data
from conveyor.core._errors import ConveyorError, PickleFallbackWarning, StoreError
from conveyor.data import (
    MATERIALIZER_VERSION,
    Materialized,
    Materializer,
    _materializers,
    load,
    materialize,
    register_materializer,
)

HEAVY = {"pandas", "numpy", "pyarrow", "polars", "sklearn", "joblib", "cloudpickle"}


def test_import_conveyor_data_pulls_in_no_heavy_library() -> None:
    code = "import sys, conveyor.data; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = {name.partition(".")[0] for name in result.stdout.split()}
    assert not loaded & HEAVY


def test_materializing_json_values_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, conveyor.data as d\n"
        "for v in (1, 'a', 1.5, None, True, [1], {'a': [1]}): d.materialize(v)\n"
        "print('\\n'.join(sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = {name.partition(".")[0] for name in result.stdout.split()}
    assert not loaded & HEAVY


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(conveyor.data).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType | __future__._Feature)  # from __future__ import …
    }
    assert sorted(conveyor.data.__all__) == sorted(public)


def test_the_materializer_version_is_a_non_empty_string() -> None:
    assert isinstance(MATERIALIZER_VERSION, str)
    assert MATERIALIZER_VERSION


def test_materialized_is_immutable() -> None:
    stored = materialize(1)
    with pytest.raises(AttributeError):
        stored.data = b"2"  # type: ignore[misc]


def test_an_unknown_materializer_is_a_store_error_naming_it() -> None:
    with pytest.raises(StoreError, match="'skops'") as caught:
        load("skops", "sklearn.svm.SVC", b"", {})
    assert caught.value.details == {"materializer": "skops", "type_name": "sklearn.svm.SVC"}


def test_unreadable_json_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="stored as json"):
        load("json", "dict", b"{not json", {})


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class PointMaterializer:
    """A user's format: Points as "x,y" text."""

    name = "point"
    version = "1"

    def handles(self, value: object) -> bool:
        return type(value) is Point

    def dump(self, value: object) -> Materialized:
        assert isinstance(value, Point)
        return Materialized(f"{value.x},{value.y}".encode(), self.name, "Point", None, {})

    def load(self, type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
        x, y = data.decode().split(",")
        return Point(int(x), int(y))


class EveryIntAsText:
    name = "int-text"
    version = "1"

    def handles(self, value: object) -> bool:
        return type(value) is int

    def dump(self, value: object) -> Materialized:
        return Materialized(str(value).encode(), self.name, "int", None, {"text": True})

    def load(self, type_name: str, data: bytes, meta: Mapping[str, object]) -> object:
        return int(data)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test end with it."""
    monkeypatch.setattr(_materializers, "_registered", ())


@pytest.mark.usefixtures("registry")
def test_a_registered_materializer_stores_and_loads_its_type_without_pickling() -> None:
    materializer: Materializer = PointMaterializer()
    register_materializer(materializer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PickleFallbackWarning)
        stored = materialize(Point(1, 2))
    assert stored.materializer == "point"
    assert stored.data == b"1,2"
    assert load(stored.materializer, stored.type_name, stored.data, stored.meta) == Point(1, 2)


@pytest.mark.usefixtures("registry")
def test_registered_materializers_come_before_the_built_ins() -> None:
    register_materializer(EveryIntAsText())
    assert materialize(5).materializer == "int-text"
    assert materialize("five").materializer == "json"


@pytest.mark.usefixtures("registry")
def test_registering_a_name_again_replaces_the_earlier_materializer() -> None:
    register_materializer(EveryIntAsText())
    register_materializer(PointMaterializer())
    register_materializer(PointMaterializer())
    assert [m.name for m in _materializers._registered] == ["int-text", "point"]


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize("name", ["", "json", "parquet", "cloudpickle"])
def test_a_registered_materializer_cannot_take_a_built_in_name(name: str) -> None:
    class Named(PointMaterializer):
        pass

    Named.name = name
    with pytest.raises(ConveyorError, match="cannot register"):
        register_materializer(Named())


@pytest.mark.usefixtures("registry")
def test_a_registered_materializer_must_mark_what_it_dumps_with_its_name() -> None:
    class Mislabelled(PointMaterializer):
        def dump(self, value: object) -> Materialized:
            return Materialized(b"", "json", "Point", None, {})

    register_materializer(Mislabelled())
    with pytest.raises(ConveyorError, match="'point' returned a value marked 'json'"):
        materialize(Point(0, 0))


def test_meta_is_json_able_for_every_built_in_format() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    values: list[object] = [1, {"a": 1}, np.arange(3), pd.DataFrame({"a": [1]}), pd.Series([1])]
    for value in values:
        json.dumps(materialize(value).meta)
