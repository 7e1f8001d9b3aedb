"""The audit entry of each change the store audits, built the same way by every adapter.

An adapter calls these inside the transaction (or under the lock) of the change itself, so a
change never lands without its entry. The actor is ``conveyor.core.current_actor()``: whoever
the caller is acting as (a server sets it per request), not the ``actor`` text a caller put on
an alias move, which the entry keeps as ``moved_by``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from conveyor.core._actor import current_actor
from conveyor.store._access_records import AuditEntry, Role, TokenRecord, UserRecord
from conveyor.store._tracking_records import AliasMove, GateDecision, ModelVersionRecord


def model_registered(record: ModelVersionRecord) -> AuditEntry:
    return _entry(
        record.created_at,
        "model.register",
        f"{record.name}@{record.version}",
        {
            "model": record.name,
            "version": record.version,
            "flavor": record.flavor,
            "artifact_id": record.artifact_id,
            "run_id": record.run_id,
            "metrics": dict(record.metrics),
        },
    )


def alias_moved(move: AliasMove) -> AuditEntry:
    """``move`` as stored: its ``previous`` filled in by the adapter."""
    return _entry(
        move.moved_at,
        f"alias.{move.kind}",
        f"{move.name}@{move.alias}",
        {
            "model": move.name,
            "alias": move.alias,
            "from": move.previous,
            "to": move.version,
            "reason": move.reason,
            "decision_id": move.decision_id,
            "moved_by": move.actor,
        },
    )


def gate_decided(decision: GateDecision) -> AuditEntry:
    """``decision`` as stored, with its id."""
    failed = [
        str(c.get("criterion", c.get("metric", "?")))
        for c in decision.criteria
        if not c.get("passed")
    ]
    return _entry(
        decision.decided_at,
        "gate.decide",
        f"{decision.name}@{decision.version}",
        {
            "model": decision.name,
            "version": decision.version,
            "alias": decision.alias,
            "outcome": "passed" if decision.passed else "failed",
            "failed": failed,
            "decision_id": decision.id,
            "criteria": [dict(c) for c in decision.criteria],
        },
    )


def user_added(record: UserRecord) -> AuditEntry:
    return _entry(record.created_at, "user.add", user_target(record.name), {"role": record.role})


def role_set(name: str, old: Role, new: Role, at: datetime) -> AuditEntry:
    return _entry(at, "user.set_role", user_target(name), {"from": old, "to": new})


def user_disabled(name: str, disabled: bool, at: datetime) -> AuditEntry:
    return _entry(at, "user.disable" if disabled else "user.enable", user_target(name), {})


def user_removed(record: UserRecord, tokens: int, at: datetime) -> AuditEntry:
    return _entry(
        at,
        "user.remove",
        user_target(record.name),
        {"role": record.role, "tokens_removed": tokens},
    )


def token_created(record: TokenRecord) -> AuditEntry:
    return _entry(
        record.created_at,
        "token.create",
        token_target(record.id),
        {
            "user": record.user,
            "name": record.name,
            "prefix": record.prefix,
            "expires_at": None if record.expires_at is None else record.expires_at.isoformat(),
        },
    )


def token_revoked(record: TokenRecord, at: datetime) -> AuditEntry:
    return _entry(
        at,
        "token.revoke",
        token_target(record.id),
        {"user": record.user, "name": record.name, "prefix": record.prefix},
    )


def user_target(name: str) -> str:
    return f"user:{name}"


def token_target(token_id: str) -> str:
    return f"token:{token_id}"


def _entry(at: datetime, action: str, target: str, details: Mapping[str, object]) -> AuditEntry:
    return AuditEntry(at=at, actor=current_actor(), action=action, target=target, details=details)
