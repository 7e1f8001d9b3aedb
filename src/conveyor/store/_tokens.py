"""API tokens and roles: making a token, checking one, and what each role may do.

Here rather than in ``core`` because ``authenticate`` and ``create_token`` work through the
AccessStore port, which ``core`` cannot see; the rest is pure and stdlib-only, kept beside them
so one module holds every rule about tokens and roles. A server calls ``authenticate`` once per
request and ``require`` before each action.

A token is ``cvt_`` and 43 URL-safe characters (256 random bits). The store keeps only its
SHA-256: with that much entropy no one can search for a secret from its hash, so the slow,
salted hashes that passwords need buy nothing here and would cost every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from conveyor.core._errors import (
    AuthenticationFailed,
    ConveyorError,
    PermissionDenied,
    TokenNotFound,
    UserNotFound,
)
from conveyor.core._ids import new_id
from conveyor.store import _checks
from conveyor.store._access_checks import role as checked_role
from conveyor.store._access_records import ROLES, Role, TokenRecord, UserRecord
from conveyor.store._ports import AccessStore

TOKEN_PREFIX = "cvt_"
PREFIX_SHOWN = 8  # characters after "cvt_" kept in the clear, to tell tokens apart
SECRET_BYTES = 32
# A token's last use is written at most this often, so a busy client does not make every
# request a write.
TOUCH_EVERY = timedelta(minutes=1)
PROTECTED_ALIASES: frozenset[str] = frozenset({"production"})


def new_secret() -> str:
    """A fresh token secret: ``cvt_`` + ``secrets.token_urlsafe(32)``."""
    return TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_token(secret: str) -> str:
    """The SHA-256 of the whole secret, hex: what the store keeps and looks tokens up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_prefix(secret: str) -> str:
    """The first characters after ``cvt_``, shown in listings to recognise a token by."""
    return secret[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + PREFIX_SHOWN]


def create_token(
    store: AccessStore,
    user: str,
    *,
    at: datetime,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[str, TokenRecord]:
    """Make a token for ``user`` and store its hash.

    Returns:
        The secret, which is not stored and cannot be shown again, and the stored record.

    Raises:
        UserNotFound: there is no such user.
    """
    created = _checks.utc(at, "at")
    if expires_at is not None and _checks.utc(expires_at, "expires_at") <= created:
        raise ConveyorError("a token must expire after it is created", expires_at=str(expires_at))
    secret = new_secret()
    record = TokenRecord(
        id=new_id("tok"),
        user=user,
        name=name,
        prefix=token_prefix(secret),
        hash=hash_token(secret),
        created_at=created,
        expires_at=expires_at,
    )
    return secret, store.add_token(record)


def authenticate(
    store: AccessStore, token: str, now: datetime, *, touch: bool = True
) -> UserRecord:
    """The user a bearer token belongs to, if the token may be used at ``now``.

    With ``touch`` (the default) the token's ``last_used_at`` is moved to ``now`` when it is
    older than ``TOUCH_EVERY``.

    Raises:
        AuthenticationFailed: ``details['reason']`` is ``malformed``, ``unknown``, ``revoked``,
            ``expired`` or ``disabled``. The message never repeats the token.
    """
    now = _checks.utc(now, "now")
    if (
        not isinstance(token, str)
        or not token.startswith(TOKEN_PREFIX)
        or len(token) > 200
        or not token.isascii()
    ):
        raise AuthenticationFailed(
            "not a conveyor API token: a token starts with 'cvt_' "
            "(`conveyor tokens create --user NAME` makes one)",
            reason="malformed",
        )
    digest = hash_token(token)
    found = store.token_by_hash(digest)
    # The look-up is by a hash of 256 random bits, so its timing reveals nothing worth having;
    # the comparison that accepts the token is constant-time all the same.
    if found is None or not hmac.compare_digest(found.hash, digest):
        raise AuthenticationFailed("the API token is not known", reason="unknown")
    if found.revoked_at is not None:
        raise AuthenticationFailed(
            f"the API token {found.id} was revoked on {found.revoked_at:%Y-%m-%d %H:%M} UTC",
            reason="revoked",
            token_id=found.id,
        )
    if found.expires_at is not None and now >= found.expires_at:
        raise AuthenticationFailed(
            f"the API token {found.id} expired on {found.expires_at:%Y-%m-%d %H:%M} UTC; "
            "create a new one with `conveyor tokens create`",
            reason="expired",
            token_id=found.id,
        )
    user = _user_of(store, found)
    if user.disabled:
        raise AuthenticationFailed(
            f"user {user.name!r} is disabled", reason="disabled", user=user.name
        )
    if touch and (found.last_used_at is None or now - found.last_used_at >= TOUCH_EVERY):
        try:
            store.touch_token(found.id, now)
        except TokenNotFound:  # its user was removed while the request was on its way
            raise AuthenticationFailed("the API token is not known", reason="unknown") from None
    return user


def allowed(role: Role, needed: Role) -> bool:
    """Whether ``role`` may do what ``needed`` may: viewer < editor < admin."""
    return ROLES.index(checked_role(role)) >= ROLES.index(checked_role(needed))


def require(user: UserRecord, needed: Role, action: str) -> None:
    """Refuse ``action`` (words like "promote churn to production") unless the user's role
    is at least ``needed``.

    Raises:
        PermissionDenied: naming the user, their role and the role needed.
    """
    if not allowed(user.role, needed):
        raise PermissionDenied(
            f"user {user.name!r} is a {user.role} and may not {action}: that needs {needed}",
            user=user.name,
            role=user.role,
            needed=needed,
            action=action,
        )


def role_to_promote(alias: str, protected: Collection[str] = PROTECTED_ALIASES) -> Role:
    """The role that may move ``alias``: admin for a protected alias, else editor."""
    return "admin" if alias in protected else "editor"


def _user_of(store: AccessStore, token: TokenRecord) -> UserRecord:
    try:
        return store.get_user(token.user)
    except UserNotFound:  # removed while the request was on its way
        raise AuthenticationFailed("the API token is not known", reason="unknown") from None
