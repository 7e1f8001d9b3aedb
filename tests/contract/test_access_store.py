"""The AccessStore contract (users, roles, API tokens), run against memory, SQLite and
PostgreSQL; each change also leaves its audit entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.core import acting_as
from conveyor.errors import ConveyorError, StoreError, TokenNotFound, UserNotFound
from conveyor.store import MetadataStore, TokenRecord, UserRecord, hash_token
from tests._threads import run_on_threads
from tests.contract._local_stores import BACKENDS, open_store

T0 = datetime(2026, 4, 1, 9, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    yield from open_store(request, tmp_path)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def user(name: str = "ana", role: str = "editor", **changes: object) -> UserRecord:
    return dataclasses.replace(UserRecord(name, role, T0), **changes)  # type: ignore[arg-type]


def token(
    token_id: str = "tok-1", owner: str = "ana", secret: str = "cvt_one", **changes: object
) -> TokenRecord:
    record = TokenRecord(
        id=token_id,
        user=owner,
        name="ci",
        prefix=secret[4:12],
        hash=hash_token(secret),
        created_at=T0,
        expires_at=at(86400),
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


# -- users ------------------------------------------------------------------------------------


def test_users_round_trip_and_are_listed_by_name(store: MetadataStore) -> None:
    for name, role in (("zoe", "viewer"), ("ana", "admin"), ("Bob", "editor")):
        assert store.add_user(user(name, role)) == user(name, role)
    assert store.get_user("ana") == user("ana", "admin")
    assert [u.name for u in store.list_users()] == ["Bob", "ana", "zoe"]  # by code point
    assert store.get_user("zoe").disabled is False


def test_a_user_name_is_taken_once_and_the_refusal_says_so(store: MetadataStore) -> None:
    store.add_user(user())
    with pytest.raises(StoreError, match="user 'ana' already exists"):
        store.add_user(user(role="admin"))
    assert store.get_user("ana").role == "editor"
    assert [e.action for e in store.audit()] == ["user.add"]  # the refusal left no entry


def test_an_unknown_user_is_named_with_the_users_there_are(store: MetadataStore) -> None:
    with pytest.raises(UserNotFound, match="users: none"):
        store.get_user("ana")
    store.add_user(user("bob"))
    with pytest.raises(UserNotFound, match="no user named 'ana'; users: bob") as caught:
        store.get_user("ana")
    assert caught.value.details["users"] == ["bob"]
    for change in (
        lambda: store.set_role("ana", "admin", at=T0),
        lambda: store.set_disabled("ana", True, at=T0),
        lambda: store.remove_user("ana", at=T0),
    ):
        with pytest.raises(UserNotFound):
            change()


@pytest.mark.parametrize("name", ["", "a b", "local:ana", "x" * 101, "ana\n", 7])
def test_bad_user_names_are_refused(store: MetadataStore, name: object) -> None:
    with pytest.raises(ConveyorError, match="cannot name a user"):
        store.add_user(user(name))  # type: ignore[arg-type]
    assert store.list_users() == []


def test_an_unknown_role_is_refused_naming_the_roles(store: MetadataStore) -> None:
    with pytest.raises(ConveyorError, match="one of viewer, editor, admin"):
        store.add_user(user(role="owner"))
    store.add_user(user())
    with pytest.raises(ConveyorError, match="unknown role 'root'"):
        store.set_role("ana", "root", at=T0)  # type: ignore[arg-type]
    assert store.get_user("ana").role == "editor"


def test_a_naive_time_is_refused(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="timezone-aware"):
        store.add_user(user(created_at=datetime(2026, 1, 1)))
    store.add_user(user())
    with pytest.raises(StoreError, match="timezone-aware"):
        store.set_role("ana", "admin", at=datetime(2026, 1, 1))


def test_a_role_change_is_stored_and_audited_with_both_roles(store: MetadataStore) -> None:
    store.add_user(user())
    with acting_as("root"):
        changed = store.set_role("ana", "admin", at=at(5))
    assert changed == user(role="admin")
    assert store.get_user("ana").role == "admin"
    entry = store.audit(action="user.set_role")[0]
    assert (entry.actor, entry.target, entry.at) == ("root", "user:ana", at(5))
    assert entry.details == {"from": "editor", "to": "admin"}
    store.set_role("ana", "admin", at=at(6))  # no change: nothing to audit
    assert len(store.audit(action="user.set_role")) == 1


def test_a_disabled_user_can_be_enabled_again(store: MetadataStore) -> None:
    store.add_user(user())
    assert store.set_disabled("ana", True, at=at(1)).disabled is True
    assert store.get_user("ana").disabled is True
    assert store.set_disabled("ana", True, at=at(2)).disabled is True  # already: no entry
    assert store.set_disabled("ana", False, at=at(3)).disabled is False
    assert [e.action for e in store.audit(target="user:ana")] == [
        "user.enable",
        "user.disable",
        "user.add",
    ]


def test_removing_a_user_removes_their_tokens_but_not_their_history(
    store: MetadataStore,
) -> None:
    store.add_user(user())
    store.add_user(user("bob"))
    store.add_token(token("tok-a1", secret="cvt_a1"))
    store.add_token(token("tok-a2", secret="cvt_a2"))
    store.add_token(token("tok-b1", "bob", secret="cvt_b1"))
    removed = store.remove_user("ana", at=at(10))
    assert removed == user()
    assert [u.name for u in store.list_users()] == ["bob"]
    assert [t.id for t in store.list_tokens()] == ["tok-b1"]
    assert store.token_by_hash(hash_token("cvt_a1")) is None
    entry = store.audit(action="user.remove")[0]
    assert entry.details == {"role": "editor", "tokens_removed": 2}
    assert len(store.audit(target="user:ana")) == 2  # added, then removed
    store.add_user(user(role="viewer"))  # the name may be used again
    assert store.list_tokens("ana") == []


def test_concurrent_adds_of_one_name_let_exactly_one_through(store: MetadataStore) -> None:
    def work(worker: int) -> None:
        store.add_user(user(role=("viewer", "editor", "admin")[worker % 3]))

    errors = run_on_threads(work, 6)
    assert len(errors) == 5
    assert all("already exists" in str(e) for e in errors)
    assert len(store.audit(action="user.add")) == 1


# -- tokens -----------------------------------------------------------------------------------


def test_a_token_round_trips_and_is_found_by_its_hash(store: MetadataStore) -> None:
    store.add_user(user())
    stored = store.add_token(token())
    assert stored == token()
    assert store.token_by_hash(hash_token("cvt_one")) == stored
    assert store.token_by_hash(hash_token("cvt_two")) is None
    entry = store.audit(action="token")[0]
    assert (entry.action, entry.target) == ("token.create", "token:tok-1")
    assert entry.details == {
        "user": "ana",
        "name": "ci",
        "prefix": "one",
        "expires_at": at(86400).isoformat(),
    }
    assert hash_token("cvt_one") not in str(entry.details)  # the hash is never audited


def test_a_token_needs_an_existing_user(store: MetadataStore) -> None:
    with pytest.raises(UserNotFound, match="no user named 'ana'"):
        store.add_token(token())
    assert store.list_tokens() == []
    assert store.audit() == []


def test_a_token_id_and_a_hash_are_taken_once(store: MetadataStore) -> None:
    store.add_user(user())
    store.add_token(token())
    with pytest.raises(StoreError, match="tok-1"):
        store.add_token(token(secret="cvt_other"))
    with pytest.raises(StoreError):
        store.add_token(token("tok-2"))  # the same secret's hash
    assert [t.id for t in store.list_tokens()] == ["tok-1"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hash": "abc"}, "64 lowercase hex"),
        ({"hash": "A" * 64}, "64 lowercase hex"),
        ({"id": ""}, "token's id"),
        ({"name": "x" * 101}, "token's name"),
        ({"name": "bad\x00name"}, "control characters"),
        ({"expires_at": datetime(2026, 5, 1)}, "timezone-aware"),
    ],
)
def test_bad_tokens_are_refused(
    store: MetadataStore, changes: dict[str, object], message: str
) -> None:
    store.add_user(user())
    with pytest.raises(StoreError, match=message):
        store.add_token(token(**changes))
    assert store.list_tokens() == []


def test_tokens_are_listed_oldest_first_and_by_user(store: MetadataStore) -> None:
    store.add_user(user())
    store.add_user(user("bob"))
    store.add_token(token("tok-3", secret="cvt_3", created_at=at(3)))
    store.add_token(token("tok-1", "bob", secret="cvt_1", created_at=at(1)))
    store.add_token(token("tok-2", secret="cvt_2", created_at=at(2), expires_at=None))
    assert [t.id for t in store.list_tokens()] == ["tok-1", "tok-2", "tok-3"]
    assert [t.id for t in store.list_tokens("ana")] == ["tok-2", "tok-3"]
    assert store.list_tokens("nobody") == []
    assert store.list_tokens("ana")[0].expires_at is None


def test_a_revoked_token_stays_revoked(store: MetadataStore) -> None:
    store.add_user(user())
    store.add_token(token())
    with acting_as("root"):
        revoked = store.revoke_token("tok-1", at=at(60))
    assert revoked == token(revoked_at=at(60))
    assert store.token_by_hash(hash_token("cvt_one")) == revoked  # still found, to say why
    again = store.revoke_token("tok-1", at=at(120))
    assert again.revoked_at == at(60)
    entries = store.audit(action="token.revoke")
    assert [(e.actor, e.target, e.at) for e in entries] == [("root", "token:tok-1", at(60))]
    with pytest.raises(TokenNotFound, match="no API token with id 'tok-9'"):
        store.revoke_token("tok-9", at=at(60))


def test_a_use_moves_last_used_forward_only_and_is_not_audited(store: MetadataStore) -> None:
    store.add_user(user())
    store.add_token(token())
    store.touch_token("tok-1", at(30))
    store.touch_token("tok-1", at(10))  # a slower request finishing later
    assert store.list_tokens()[0].last_used_at == at(30)
    store.touch_token("tok-1", at(40))
    assert store.list_tokens()[0].last_used_at == at(40)
    assert [e.action for e in store.audit()] == ["token.create", "user.add"]
    with pytest.raises(TokenNotFound):
        store.touch_token("tok-9", at(50))
