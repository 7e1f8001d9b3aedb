"""API tokens and roles: making a token, authenticating with it, and what each role may do.
The memory store stands in for the database (the contract suites show they behave alike)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.errors import AuthenticationFailed, ConveyorError, PermissionDenied, UserNotFound
from conveyor.store import (
    PROTECTED_ALIASES,
    ROLES,
    MemoryMetadataStore,
    UserRecord,
    allowed,
    authenticate,
    create_token,
    hash_token,
    require,
    role_to_promote,
)
from conveyor.store._tokens import TOUCH_EVERY, new_secret, token_prefix

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> MemoryMetadataStore:
    created = MemoryMetadataStore()
    created.add_user(UserRecord("ana", "editor", T0))
    return created


def test_a_secret_is_cvt_and_256_random_bits_url_safe() -> None:
    secret = new_secret()
    assert re.fullmatch(r"cvt_[A-Za-z0-9_-]{43}", secret)
    assert new_secret() != secret
    assert token_prefix(secret) == secret[4:12]
    assert hash_token(secret) == hashlib.sha256(secret.encode()).hexdigest()


def test_a_created_token_is_stored_by_hash_and_the_secret_nowhere(
    store: MemoryMetadataStore,
) -> None:
    secret, record = create_token(store, "ana", at=T0, name="ci", expires_at=T0 + timedelta(1))
    assert store.list_tokens("ana") == [record]
    assert record.id.startswith("tok-")
    assert record.hash == hash_token(secret)
    assert record.prefix == secret[4:12]
    assert (record.name, record.created_at, record.expires_at) == ("ci", T0, T0 + timedelta(1))
    assert secret not in repr(store.list_tokens()) + repr(store.audit())


def test_a_token_for_an_unknown_user_or_expiring_at_once_is_refused(
    store: MemoryMetadataStore,
) -> None:
    with pytest.raises(UserNotFound):
        create_token(store, "bob", at=T0)
    with pytest.raises(ConveyorError, match="expire after it is created"):
        create_token(store, "ana", at=T0, expires_at=T0)
    assert store.list_tokens() == []


def test_a_valid_token_gives_its_user_and_records_the_use(store: MemoryMetadataStore) -> None:
    secret, record = create_token(store, "ana", at=T0)
    assert authenticate(store, secret, T0 + timedelta(seconds=5)) == store.get_user("ana")
    assert store.list_tokens()[0].last_used_at == T0 + timedelta(seconds=5)
    # uses closer together than TOUCH_EVERY are not written: a busy client is not a writer
    authenticate(store, secret, T0 + timedelta(seconds=30))
    assert store.list_tokens()[0].last_used_at == T0 + timedelta(seconds=5)
    later = T0 + timedelta(seconds=5) + TOUCH_EVERY
    authenticate(store, secret, later)
    assert store.list_tokens()[0].last_used_at == later
    authenticate(store, secret, later + 2 * TOUCH_EVERY, touch=False)
    assert store.list_tokens()[0].last_used_at == later
    assert record.last_used_at is None


@pytest.mark.parametrize("token", ["", "Bearer cvt_x", "ghp_abcdef", "cvt_" + "é" * 10, 42])
def test_a_malformed_token_is_refused_without_a_look_up(
    store: MemoryMetadataStore, token: object
) -> None:
    with pytest.raises(AuthenticationFailed, match="not a conveyor API token") as caught:
        authenticate(store, token, T0)  # type: ignore[arg-type]
    assert caught.value.details["reason"] == "malformed"


def test_an_unknown_token_is_refused_and_never_repeated(store: MemoryMetadataStore) -> None:
    guess = new_secret()
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(store, guess, T0)
    assert caught.value.details == {"reason": "unknown"}
    assert guess not in str(caught.value)


def test_a_revoked_token_is_refused(store: MemoryMetadataStore) -> None:
    secret, record = create_token(store, "ana", at=T0)
    store.revoke_token(record.id, at=T0 + timedelta(hours=1))
    with pytest.raises(AuthenticationFailed, match="was revoked on 2026-04-01 10:00") as caught:
        authenticate(store, secret, T0 + timedelta(hours=2))
    assert caught.value.details == {"reason": "revoked", "token_id": record.id}


def test_a_token_is_refused_from_the_moment_it_expires(store: MemoryMetadataStore) -> None:
    expires = T0 + timedelta(days=90)
    secret, _ = create_token(store, "ana", at=T0, expires_at=expires)
    authenticate(store, secret, expires - timedelta(microseconds=1))
    with pytest.raises(AuthenticationFailed, match="expired on 2026-06-30") as caught:
        authenticate(store, secret, expires)
    assert caught.value.details["reason"] == "expired"


def test_a_disabled_or_removed_user_cannot_authenticate(store: MemoryMetadataStore) -> None:
    secret, _ = create_token(store, "ana", at=T0)
    store.set_disabled("ana", True, at=T0)
    with pytest.raises(AuthenticationFailed, match="user 'ana' is disabled") as caught:
        authenticate(store, secret, T0)
    assert caught.value.details["reason"] == "disabled"
    store.set_disabled("ana", False, at=T0)
    assert authenticate(store, secret, T0).name == "ana"
    store.remove_user("ana", at=T0)
    with pytest.raises(AuthenticationFailed) as gone:
        authenticate(store, secret, T0)
    assert gone.value.details["reason"] == "unknown"


def test_a_naive_time_is_refused(store: MemoryMetadataStore) -> None:
    secret, _ = create_token(store, "ana", at=T0)
    with pytest.raises(ConveyorError, match="timezone-aware"):
        authenticate(store, secret, datetime(2026, 4, 1))


def test_roles_are_ordered_viewer_editor_admin() -> None:
    assert ROLES == ("viewer", "editor", "admin")
    table = {(r, n): allowed(r, n) for r in ROLES for n in ROLES}
    assert [pair for pair, ok in table.items() if ok] == [
        ("viewer", "viewer"),
        ("editor", "viewer"),
        ("editor", "editor"),
        ("admin", "viewer"),
        ("admin", "editor"),
        ("admin", "admin"),
    ]
    with pytest.raises(ConveyorError, match="one of viewer, editor, admin"):
        allowed("owner", "viewer")  # type: ignore[arg-type]


def test_require_names_the_user_their_role_and_the_role_needed() -> None:
    viewer = UserRecord("bob", "viewer", T0)
    require(viewer, "viewer", "read runs")
    with pytest.raises(PermissionDenied, match="'bob' is a viewer and may not register") as no:
        require(viewer, "editor", "register models")
    assert no.value.details == {
        "user": "bob",
        "role": "viewer",
        "needed": "editor",
        "action": "register models",
    }


def test_only_an_admin_may_move_a_protected_alias() -> None:
    assert "production" in PROTECTED_ALIASES
    assert role_to_promote("production") == "admin"
    assert role_to_promote("staging") == "editor"
    assert role_to_promote("staging", protected={"staging", "production"}) == "admin"
    editor = UserRecord("ana", "editor", T0)
    require(editor, role_to_promote("staging"), "promote churn to staging")
    with pytest.raises(PermissionDenied):
        require(editor, role_to_promote("production"), "promote churn to production")
