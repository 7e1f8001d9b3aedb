from __future__ import annotations

from inspect import ismodule
from types import ModuleType

import pytest

import conveyor
import conveyor.authoring
import conveyor.core
import conveyor.data
import conveyor.engine
import conveyor.errors
import conveyor.monitoring
import conveyor.scheduling
import conveyor.serving
import conveyor.store
import conveyor.testing


@pytest.mark.parametrize(
    "mod",
    [
        conveyor,
        conveyor.core,
        conveyor.authoring,
        conveyor.engine,
        conveyor.store,
        conveyor.data,
        conveyor.errors,
        conveyor.monitoring,
        conveyor.scheduling,
        conveyor.serving,
        conveyor.testing,
    ],
)
def test_all_lists_exactly_the_public_names(mod: ModuleType) -> None:
    for name in mod.__all__:
        getattr(mod, name)  # the facade imports its names on first use
    public = {n for n, v in vars(mod).items() if not n.startswith("_") and not ismodule(v)}
    public -= {"annotations"}  # from __future__
    names = {n for n in mod.__all__ if not ismodule(getattr(mod, n))} - {"__version__"}
    assert sorted(names) == sorted(public)


def test_the_documented_facade_exists() -> None:
    for name in ("step", "pipeline", "current_run", "Run", "errors"):
        assert hasattr(conveyor, name)


def test_every_error_descends_from_conveyor_error() -> None:
    for name in conveyor.errors.__all__:
        cls = getattr(conveyor.errors, name)
        base = (
            conveyor.errors.ConveyorWarning
            if name.endswith("Warning")
            else conveyor.errors.ConveyorError
        )
        assert issubclass(cls, base), name
