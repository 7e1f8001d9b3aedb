"""Cache keys and their explanations. Pure: strings in, strings out.

A key covers the step's code, its declared version, its parameters, its inputs' content
hashes and the materializer version. The parts are kept so a miss can say what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from conveyor.core import canonical_json

CODE, VERSION, MATERIALIZER, OUTPUTS = "code", "version", "materializer", "outputs"
VALIDATION = "validation"
FIRST_RUN = "first run of this step"
PARAM, INPUT = "param:", "input:"


def key_of(parts: Mapping[str, str]) -> str:
    """The cache key for a set of named parts (order of the mapping does not matter)."""
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()


def explain_miss(current: Mapping[str, str], previous: Mapping[str, str] | None) -> str:
    """Why a step executed: what differs from the key of its last run."""
    if previous is None:
        return FIRST_RUN
    changes: list[str] = []
    if current.get(CODE) != previous.get(CODE):
        changes.append("code changed")
    if current.get(VERSION) != previous.get(VERSION):
        before, after = previous.get(VERSION) or "none", current.get(VERSION) or "none"
        changes.append(f"version changed ({before} -> {after})")
    changes.extend(_named_changes(current, previous, PARAM, "parameter"))
    changes.extend(_named_changes(current, previous, INPUT, "input"))
    if current.get(VALIDATION) != previous.get(VALIDATION):
        changes.append("validation schemas changed")
    if current.get(MATERIALIZER) != previous.get(MATERIALIZER):
        changes.append("storage format version changed")
    if current.get(OUTPUTS) != previous.get(OUTPUTS):
        changes.append("number of outputs changed")
    return "; ".join(changes) if changes else "no cached result (the last run of this step failed)"


def _named_changes(
    current: Mapping[str, str], previous: Mapping[str, str], prefix: str, label: str
) -> list[str]:
    names = {k for k in current if k.startswith(prefix)} | {
        k for k in previous if k.startswith(prefix)
    }
    changed = sorted(k[len(prefix) :] for k in names if current.get(k) != previous.get(k))
    if not changed:
        return []
    plural = "s" if len(changed) > 1 else ""
    return [f"{label}{plural} {', '.join(changed)} changed"]
