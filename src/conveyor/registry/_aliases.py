"""Aliases: promote a version (through a gate), roll an alias back, read its history.

Every move is stored with who made it, when and why; a rollback is a move too, so the history
tells the whole story. Rolling back walks the history like a stack: each rollback undoes the
latest promotion that has not been undone yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from conveyor.core import Settings
from conveyor.core._errors import GateFailed, RegistryError
from conveyor.engine import Workspace, current_user
from conveyor.registry._gate import Gate, decide
from conveyor.registry._versions import load
from conveyor.store import MetadataStore
from conveyor.store._tracking_records import AliasMove, GateDecision


def promote(
    name: str,
    version: int,
    alias: str,
    *,
    gate: Gate | None = None,
    reason: str = "",
    actor: str | None = None,
    settings: Settings | None = None,
) -> AliasMove:
    """Point ``alias`` of model ``name`` at ``version``, if it passes ``gate``.

    The gate's decision is stored whether it passes or not.

    Raises:
        ModelNotFound: the model or version does not exist.
        GateFailed: the version did not pass; the message names each failing criterion and
            ``details["decision"]`` holds every figure.
    """
    ws = Workspace.for_api(settings)
    who = actor if actor is not None else current_user()

    def score(v: int) -> object:
        return load(f"{name}@{v}", settings=ws.settings)

    return promote_on(
        ws.metadata, name, version, alias, gate=gate, reason=reason, actor=who, score=score
    )


def promote_on(
    store: MetadataStore,
    name: str,
    version: int,
    alias: str,
    *,
    gate: Gate | None,
    reason: str,
    actor: str,
    score: Callable[[int], object],
) -> AliasMove:
    """``promote`` on ``store`` as ``actor``, a gate loading a version with ``score``: what a
    team server does for a signed-in user."""
    candidate = store.get_model_version(name, _version_number(version))
    decision: GateDecision | None = None
    if gate is not None:
        holder = None
        if gate.beat is not None:
            held = store.aliases(name).get(gate.beat)
            holder = store.get_model_version(name, held) if held is not None else None
        decision = store.record_gate_decision(decide(gate, candidate, holder, alias, actor, score))
        if not decision.passed:
            failing = [c for c in decision.criteria if not c.get("passed")]
            lines = "; ".join(str(c.get("message", c.get("criterion"))) for c in failing)
            raise GateFailed(
                f"{name}@{candidate.version} did not pass the gate for {alias!r}: {lines}",
                name=name,
                version=candidate.version,
                alias=alias,
                decision={"id": decision.id, "criteria": [dict(c) for c in decision.criteria]},
            )
    return store.move_alias(
        AliasMove(
            name=name,
            alias=alias,
            version=candidate.version,
            previous=None,
            kind="promote",
            moved_at=datetime.now(UTC),
            actor=actor,
            reason=reason,
            decision_id=decision.id if decision is not None else None,
        )
    )


def rollback(
    name: str,
    alias: str,
    *,
    reason: str = "",
    actor: str | None = None,
    settings: Settings | None = None,
) -> AliasMove:
    """Move ``alias`` back to the version it pointed to before its latest promotion.

    Raises:
        RegistryError: the alias has no earlier version to go back to.
    """
    store = Workspace.for_api(settings).metadata
    who = actor if actor is not None else current_user()
    return roll_back(store, name, alias, actor=who, reason=reason)


def roll_back(store: MetadataStore, name: str, alias: str, *, actor: str, reason: str) -> AliasMove:
    """``rollback`` on ``store`` as ``actor``: what a team server does for a signed-in user."""
    stack = held_versions(store.alias_history(name, alias))
    if len(stack) < 2:
        current = f"it points to version {stack[-1]}" if stack else "it points to nothing"
        raise RegistryError(
            f"cannot roll back {name}@{alias}: {current} and no earlier version held it",
            name=name,
            alias=alias,
        )
    return store.move_alias(
        AliasMove(
            name=name,
            alias=alias,
            version=stack[-2],
            previous=None,
            kind="rollback",
            moved_at=datetime.now(UTC),
            actor=actor,
            reason=reason or f"rollback from version {stack[-1]}",
        )
    )


def held_versions(moves: list[AliasMove]) -> list[int]:
    """The versions an alias went through, as a stack with the current one on top."""
    stack: list[int] = []
    for move in moves:
        if move.kind == "rollback":
            if stack:
                stack.pop()
        elif move.kind == "remove":
            stack.clear()
        elif move.version is not None and (not stack or stack[-1] != move.version):
            stack.append(move.version)
    return stack


def history(
    name: str, alias: str | None = None, *, settings: Settings | None = None
) -> list[AliasMove]:
    """Every move of the model's aliases (or of one), oldest first."""
    store = Workspace.for_api(settings).metadata
    store.list_model_versions(name)  # ModelNotFound for an unknown model
    return store.alias_history(name, alias)


def remove_alias(
    name: str,
    alias: str,
    *,
    reason: str = "",
    actor: str | None = None,
    settings: Settings | None = None,
) -> AliasMove:
    """Delete the alias; the removal stays in its history."""
    store = Workspace.for_api(settings).metadata
    if alias not in store.aliases(name):
        raise RegistryError(f"model {name!r} has no alias {alias!r}", name=name, alias=alias)
    return store.move_alias(
        AliasMove(
            name=name,
            alias=alias,
            version=None,
            previous=None,
            kind="remove",
            moved_at=datetime.now(UTC),
            actor=actor if actor is not None else current_user(),
            reason=reason,
        )
    )


def _version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise RegistryError(f"a version is a number, got {version!r}")
    text = str(version)
    if not text.isdigit() or int(text) < 1:
        raise RegistryError(f"a version is a positive number, got {version!r}")
    return int(text)
