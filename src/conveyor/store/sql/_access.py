"""Users and API tokens in SQL.

``SqlMetadataStore`` delegates its AccessStore methods here. Each change and its audit entry
are one transaction; a change of a user first locks the user's row, so two changes on
PostgreSQL take turns and each entry records the state it really replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from conveyor.core._errors import StoreError
from conveyor.store import _access_checks, _audit_entries, _checks
from conveyor.store._access_records import AuditEntry, Role, TokenRecord, UserRecord
from conveyor.store.sql import _audit
from conveyor.store.sql._engine import write_transaction
from conveyor.store.sql._numbering import Run
from conveyor.store.sql._tables import api_tokens, users

_USER = [users.c[f.name] for f in dataclasses.fields(UserRecord)]
_TOKEN = [api_tokens.c[f.name] for f in dataclasses.fields(TokenRecord)]
_u = users.c
_t = api_tokens.c


class SqlAccess:
    """The user and token statements of one store."""

    def __init__(self, engine: Engine, reader: Engine, run: Run) -> None:
        self._engine = engine
        self._reader = reader
        self._run = run
        self._user = select(*_USER).where(_u.name == bindparam("name"))
        self._user_for_update = self._user.with_for_update()  # PostgreSQL only
        self._names = select(_u.name)
        self._token = select(*_TOKEN).where(_t.id == bindparam("id"))
        self._token_for_update = self._token.with_for_update()
        self._by_hash = select(*_TOKEN).where(_t.hash == bindparam("hash"))

    # -- users ----------------------------------------------------------------------------

    def add_user(self, record: UserRecord) -> UserRecord:
        record = _access_checks.user(record)
        row = _row(record)

        def action() -> None:
            with write_transaction(self._engine) as connection:
                if connection.execute(self._user, {"name": record.name}).first() is not None:
                    raise _access_checks.duplicate_user(record.name)
                connection.execute(insert(users), row)
                _audit.write(connection, _audit_entries.user_added(record))

        try:
            self._run(action, "add a user")
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # added by another process meanwhile
                raise _access_checks.duplicate_user(record.name) from exc
            raise
        return record

    def get_user(self, name: str) -> UserRecord:
        def action() -> UserRecord:
            with self._reader.connect() as connection:
                return self._existing_user(connection, self._user, name)

        result: UserRecord = self._run(action, "read a user")
        return result

    def list_users(self) -> list[UserRecord]:
        def action() -> list[UserRecord]:
            with self._reader.connect() as connection:
                found = [UserRecord(*row) for row in connection.execute(select(*_USER))]
            return sorted(found, key=lambda u: u.name)  # by code point, whatever the collation

        result: list[UserRecord] = self._run(action, "list users")
        return result

    def set_role(self, name: str, role: Role, at: datetime) -> UserRecord:
        role = _access_checks.role(role)
        at = _checks.utc(at, "at")

        def change(found: UserRecord) -> tuple[UserRecord, AuditEntry] | None:
            if found.role == role:
                return None
            entry = _audit_entries.role_set(name, found.role, role, at)
            return dataclasses.replace(found, role=role), entry

        return self._change_user(name, change, "set a user's role")

    def set_disabled(self, name: str, disabled: bool, at: datetime) -> UserRecord:
        if not isinstance(disabled, bool):
            raise StoreError(f"disabled must be a bool, got {disabled!r}")
        at = _checks.utc(at, "at")

        def change(found: UserRecord) -> tuple[UserRecord, AuditEntry] | None:
            if found.disabled == disabled:
                return None
            entry = _audit_entries.user_disabled(name, disabled, at)
            return dataclasses.replace(found, disabled=disabled), entry

        return self._change_user(name, change, "disable a user" if disabled else "enable a user")

    def remove_user(self, name: str, at: datetime) -> UserRecord:
        at = _checks.utc(at, "at")
        count = select(func.count()).select_from(api_tokens).where(_t.user == name)

        def action() -> UserRecord:
            with write_transaction(self._engine) as connection:
                found = self._existing_user(connection, self._user_for_update, name)
                owned = int(connection.execute(count).scalar() or 0)
                connection.execute(delete(api_tokens).where(_t.user == name))
                connection.execute(delete(users).where(_u.name == name))
                _audit.write(connection, _audit_entries.user_removed(found, owned, at))
            return found

        result: UserRecord = self._run(action, "remove a user")
        return result

    # -- tokens ---------------------------------------------------------------------------

    def add_token(self, record: TokenRecord) -> TokenRecord:
        record = _access_checks.token(record)
        row = _row(record)

        def action() -> None:
            with write_transaction(self._engine) as connection:
                # Locks the user's row, so the user cannot be removed before the token lands.
                self._existing_user(connection, self._user_for_update, record.user)
                if connection.execute(self._token, {"id": record.id}).first() is not None:
                    raise _access_checks.duplicate_token(record.id)
                connection.execute(insert(api_tokens), row)
                _audit.write(connection, _audit_entries.token_created(record))

        try:
            self._run(action, "add an API token")
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StoreError(
                    f"could not add API token {record.id}: its id or hash is taken already, or "
                    f"user {record.user!r} was removed meanwhile; make a new token",
                    token_id=record.id,
                ) from exc
            raise
        return record

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        def action() -> TokenRecord | None:
            with self._reader.connect() as connection:
                row = connection.execute(self._by_hash, {"hash": token_hash}).first()
            return None if row is None else TokenRecord(*row)

        result: TokenRecord | None = self._run(action, "look up an API token")
        return result

    def list_tokens(self, user: str | None) -> list[TokenRecord]:
        query = select(*_TOKEN).order_by(_t.created_at, _t.id)
        if user is not None:
            query = query.where(_t.user == user)

        def action() -> list[TokenRecord]:
            with self._reader.connect() as connection:
                return [TokenRecord(*row) for row in connection.execute(query)]

        result: list[TokenRecord] = self._run(action, "list API tokens")
        return result

    def revoke_token(self, token_id: str, at: datetime) -> TokenRecord:
        at = _checks.utc(at, "at")

        def action() -> TokenRecord:
            with write_transaction(self._engine) as connection:
                row = connection.execute(self._token_for_update, {"id": token_id}).first()
                if row is None:
                    raise _access_checks.token_not_found(token_id)
                found = TokenRecord(*row)
                if found.revoked_at is not None:
                    return found
                connection.execute(update(api_tokens).where(_t.id == token_id), {"revoked_at": at})
                _audit.write(connection, _audit_entries.token_revoked(found, at))
            return dataclasses.replace(found, revoked_at=at)

        result: TokenRecord = self._run(action, "revoke an API token")
        return result

    def touch_token(self, token_id: str, last_used_at: datetime) -> None:
        at = _checks.utc(last_used_at, "last_used_at")
        statement = (
            update(api_tokens)
            .where(_t.id == token_id, or_(_t.last_used_at.is_(None), _t.last_used_at < at))
            .values(last_used_at=at)
        )

        def action() -> bool:
            with write_transaction(self._engine) as connection:
                if connection.execute(statement).rowcount:
                    return True
                return connection.execute(self._token, {"id": token_id}).first() is not None

        if not self._run(action, "record a use of an API token"):
            raise _access_checks.token_not_found(token_id)

    # -- internals ------------------------------------------------------------------------

    def _change_user(
        self,
        name: str,
        change: Callable[[UserRecord], tuple[UserRecord, AuditEntry] | None],
        what: str,
    ) -> UserRecord:
        def action() -> UserRecord:
            with write_transaction(self._engine) as connection:
                found = self._existing_user(connection, self._user_for_update, name)
                changed = change(found)
                if changed is None:
                    return found
                record, entry = changed
                values = {"role": record.role, "disabled": record.disabled}
                connection.execute(update(users).where(_u.name == name), values)
                _audit.write(connection, entry)
            return record

        result: UserRecord = self._run(action, what)
        return result

    def _existing_user(self, connection: Connection, query: Any, name: str) -> UserRecord:
        row = connection.execute(query, {"name": name}).first()
        if row is None:
            names = connection.execute(self._names).scalars().all()
            raise _access_checks.user_not_found(name, names)
        return UserRecord(*row)


def _row(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
