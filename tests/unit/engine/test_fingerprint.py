from __future__ import annotations

import os
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.engine import fingerprint
from conveyor.engine._fingerprint import is_user_code


def _module(tmp_path: Path, name: str, source: str) -> types.ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


def _fp(tmp_path: Path, source: str, name: str = "step") -> str:
    module = _module(tmp_path, f"fp_{abs(hash(source))}", source)
    fn: Callable[..., object] = getattr(module, name)
    return fingerprint(fn)


BASE = """
SCALE = 2
def helper(x):
    return x * SCALE
def step(x):
    return helper(x) + 1
"""


@pytest.mark.parametrize(
    ("changed", "same"),
    [
        (BASE.replace("+ 1", "+ 2"), False),  # the body
        (BASE.replace("x * SCALE", "x * SCALE * 1.5"), False),  # a helper it calls
        (BASE.replace("SCALE = 2", "SCALE = 3"), False),  # a constant the helper reads
        (BASE.replace("def step(x):", "# a comment\n\ndef step(x):  # why\n"), True),
        (BASE.replace("def step(x):", "def unrelated():\n    return 5\ndef step(x):"), True),
    ],
)
def test_fingerprint_follows_code_and_user_helpers(
    tmp_path: Path, changed: str, same: bool
) -> None:
    assert (_fp(tmp_path, BASE) == _fp(tmp_path, changed)) is same


def test_default_values_are_part_of_the_code(tmp_path: Path) -> None:
    first = _fp(tmp_path, "def step(x, k=1):\n    return x + k\n")
    second = _fp(tmp_path, "def step(x, k=2):\n    return x + k\n")
    assert first != second


def test_library_functions_are_not_followed() -> None:
    import json

    def uses_json(x: object) -> str:
        return json.dumps(x)

    assert len(fingerprint(uses_json)) == 64  # hashes without walking into the standard library


def test_a_fingerprint_is_the_same_in_every_process(tmp_path: Path) -> None:
    """Set literals and object constants have a per-process repr (string hashing is salted,
    default reprs hold addresses); the fingerprint must not depend on either."""
    import subprocess

    (tmp_path / "fp_stable.py").write_text(
        "MARKERS = frozenset({'alpha', 'beta', 'gamma', 'delta'})\n"
        "SENTINEL = (object(),)\n"
        "def step(x, *, opts={'b': 1, 'a': 2}):\n"
        "    return x in {'one', 'two', 'three', 'four'} or x in MARKERS or SENTINEL\n"
    )
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import fp_stable;"
        "from conveyor.engine import fingerprint; print(fingerprint(fp_stable.step))"
    )
    found = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        found.add(done.stdout.strip())
    assert len(found) == 1, found


def test_conveyor_s_own_steps_are_not_followed_into_conveyor() -> None:
    from conveyor.registry import register_model

    walked = fingerprint(register_model.spec.fn)
    assert len(walked) == 64
    assert not is_user_code("conveyor.registry._versions")
