"""Checks of users, tokens and audit entries before either adapter stores them, the errors both
adapters raise, and the audit filters both apply in the same way.

Pure functions: no I/O, no SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import cast

from conveyor.core._errors import ConveyorError, StoreError, TokenNotFound, UserNotFound
from conveyor.store import _checks
from conveyor.store._access_records import ROLES, AuditEntry, Role, TokenRecord, UserRecord

USER_NAME_MAX = 100
_USER_NAME = re.compile(r"[A-Za-z0-9_.@+-]+")  # no ':', so "local:…" actors never clash
TOKEN_ID_MAX = 64
TOKEN_NAME_MAX = 100
PREFIX_MAX = 16
ACTOR_MAX = 255
ACTION_MAX = 100
TARGET_MAX = 255
_HASH = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def user_name(name: str) -> str:
    """``name`` if it can name a user: 1-100 letters, digits, ``_ . @ + -``."""
    if not isinstance(name, str) or len(name) > USER_NAME_MAX or _USER_NAME.fullmatch(name) is None:
        raise ConveyorError(
            f"{name!r} cannot name a user: use 1 to {USER_NAME_MAX} letters, digits, "
            "'_', '.', '@', '+' or '-'",
            name=repr(name),
        )
    return name


def role(value: str) -> Role:
    """``value`` if it is a role, else an error naming the roles there are."""
    if value not in ROLES:
        raise ConveyorError(
            f"unknown role {value!r}; a role is one of {', '.join(ROLES)} "
            "(viewer reads, editor also runs and registers, admin also promotes to protected "
            "aliases and manages users)",
            role=repr(value),
            roles=list(ROLES),
        )
    return value


def user(record: UserRecord) -> UserRecord:
    if not isinstance(record.disabled, bool):
        raise StoreError(f"disabled must be a bool, got {record.disabled!r}")
    checked = dataclasses.replace(
        record,
        name=user_name(record.name),
        role=role(record.role),
        created_at=_checks.utc(record.created_at, "created_at"),
    )
    return _checks.fields(checked)


def token(record: TokenRecord) -> TokenRecord:
    _text(record.id, "a token's id", TOKEN_ID_MAX, empty=False)
    _text(record.name, "a token's name", TOKEN_NAME_MAX, empty=True)
    _text(record.prefix, "a token's prefix", PREFIX_MAX, empty=True)
    if not isinstance(record.hash, str) or _HASH.fullmatch(record.hash) is None:
        raise StoreError("a token's hash is the SHA-256 of its secret in 64 lowercase hex digits")
    checked = dataclasses.replace(
        record,
        user=user_name(record.user),
        created_at=_checks.utc(record.created_at, "created_at"),
        expires_at=_checks.utc_or_none(record.expires_at, "expires_at"),
        last_used_at=_checks.utc_or_none(record.last_used_at, "last_used_at"),
        revoked_at=_checks.utc_or_none(record.revoked_at, "revoked_at"),
    )
    return _checks.fields(checked)


def audit_entry(entry: AuditEntry) -> AuditEntry:
    _text(entry.actor, "an audit entry's actor", ACTOR_MAX, empty=False)
    _text(entry.action, "an audit entry's action", ACTION_MAX, empty=False)
    _text(entry.target, "an audit entry's target", TARGET_MAX, empty=True)
    if not isinstance(entry.details, Mapping):
        raise StoreError(f"details must be a mapping, got {type(entry.details).__name__}")
    details = _checks.json_copy(dict(entry.details), "details")
    checked = dataclasses.replace(
        entry,
        at=_checks.utc(entry.at, "at"),
        details=cast(dict[str, object], details),
        id=0,
    )
    return _checks.fields(checked)


def audit_query(since: datetime | None, limit: int) -> datetime | None:
    """``since`` in UTC, after checking both filters of an audit read."""
    _checks.limit(limit)
    return _checks.utc_or_none(since, "since")


def matches(entry: AuditEntry, actor: str | None, target: str | None, action: str | None) -> bool:
    """Whether the entry passes the filters of ``AuditStore.audit``; the SQL adapter builds
    the same conditions as a WHERE clause."""
    return (
        (actor is None or entry.actor == actor)
        and (target is None or entry.target == target or entry.target.startswith(target + "@"))
        and (action is None or entry.action == action or entry.action.startswith(action + "."))
    )


def user_not_found(name: str, existing: Iterable[str]) -> UserNotFound:
    names = sorted(existing)
    return UserNotFound(
        f"no user named {name!r}; users: {_checks.listing(names)} "
        "(`conveyor users add NAME --role ROLE` adds one)",
        name=name,
        users=names,
    )


def duplicate_user(name: str) -> StoreError:
    return StoreError(
        f"user {name!r} already exists; `conveyor users set-role` changes a user's role",
        name=name,
    )


def token_not_found(token_id: str) -> TokenNotFound:
    return TokenNotFound(
        f"no API token with id {token_id!r}; `conveyor tokens list` shows them",
        token_id=token_id,
    )


def duplicate_token(token_id: str) -> StoreError:
    return StoreError(f"an API token with id {token_id!r} already exists", token_id=token_id)


def _text(value: object, what: str, most: int, *, empty: bool) -> None:
    if not isinstance(value, str) or len(value) > most or (not empty and not value):
        least = 0 if empty else 1
        raise StoreError(f"{what} is a string of {least} to {most} characters, got {value!r:.80}")
    if _CONTROL.search(value):
        raise StoreError(f"{what} cannot hold control characters, got {value!r:.80}")
