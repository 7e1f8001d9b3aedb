from __future__ import annotations

import subprocess
import sys

HEAVY = {
    "sqlalchemy",
    "alembic",
    "starlette",
    "pandas",
    "numpy",
    "pyarrow",
    "polars",
    "sklearn",
    "fsspec",
    "dask",
    "ray",
    "cloudpickle",
    "rich",
}


def _loaded_after(code: str) -> set[str]:
    script = code + "\nimport sys; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_import_conveyor_pulls_no_heavy_dependencies() -> None:
    assert not _loaded_after("import conveyor") & HEAVY
    assert not _loaded_after("import conveyor as cv\ncv.step, cv.pipeline, cv.Run") & HEAVY


def test_the_cli_starts_without_importing_the_engine() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, conveyor.cli; print('conveyor.engine' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_the_cli_help_pulls_no_heavy_dependencies() -> None:
    loaded = _loaded_after(
        "from conveyor.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not loaded & HEAVY
