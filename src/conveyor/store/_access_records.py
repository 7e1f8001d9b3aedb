"""Records of access control that cross the store seam: users, API tokens and audit entries.

Plain frozen data like ``_records``. A token record holds the SHA-256 of its secret, never the
secret; ``_tokens`` makes and checks secrets, ``_access_checks`` validates records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")  # each may do what those before it may


@dataclass(frozen=True, slots=True)
class UserRecord:
    """Someone who may call a team server with a token: viewer reads, editor runs and
    registers, admin also promotes to protected aliases and manages users."""

    name: str
    role: Role
    created_at: datetime
    disabled: bool = False  # a disabled user's tokens are refused; the user's history stays


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token of a user. The secret itself is shown once, when the token is made."""

    id: str  # "tok-…": how a token is listed and revoked
    user: str
    name: str  # a label the user chose ("ci", "laptop"); may be empty
    prefix: str  # the first characters of the secret after "cvt_", to recognise it by
    hash: str  # SHA-256 of the whole secret, hex
    created_at: datetime
    expires_at: datetime | None = None  # None: never expires
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change, who made it and the figures it changed.

    ``action`` is ``<subject>.<verb>`` (``model.register``, ``alias.promote``, ``user.set_role``);
    ``target`` what was changed: ``churn@3`` (a version), ``churn@production`` (an alias),
    ``user:ana``, ``token:tok-…``.
    """

    at: datetime
    actor: str  # a user name, or "local:<OS user>" for changes made outside a server
    action: str
    target: str
    details: Mapping[str, object] = field(default_factory=dict)  # JSON-shaped
    id: int = 0  # assigned by the store; later entries have larger ids
