"""The Prometheus files conveyor ships, the Prometheus binaries that check and run them, and
the metric names a PromQL expression reads."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Final

import pytest

import conveyor

DEPLOY: Final = Path(conveyor.__file__).resolve().parent / "deploy"
ALERTS: Final = DEPLOY / "prometheus" / "alerts.yml"
CONFIG: Final = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD: Final = DEPLOY / "grafana" / "conveyor.json"


def binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``. Without it the test skips locally and fails
    in CI, where scripts/test installs it (as for PostgreSQL in conftest.py)."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


_STRINGS = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()")  # a name not called as a function
_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING):
        expr = pattern.sub(" ", expr)
    return {n for n in _NAME.findall(expr) if n.lower() not in _KEYWORDS and not n[0].isdigit()}
