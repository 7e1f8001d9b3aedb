"""The AccessStore port in memory (a base of MemoryMetadataStore). Each change appends its
audit entry under the same lock."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from conveyor.core._errors import StoreError
from conveyor.store import _access_checks, _audit_entries, _checks
from conveyor.store._access_records import Role, TokenRecord, UserRecord
from conveyor.store._memory_audit import MemoryAudit


class MemoryAccess(MemoryAudit):
    """Users and tokens in dicts, behind one lock; records are immutable, so they are returned
    as stored."""

    def __init__(self) -> None:
        MemoryAudit.__init__(self)
        self._access_lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}  # by id

    # -- users ----------------------------------------------------------------------------

    def add_user(self, record: UserRecord) -> UserRecord:
        record = _access_checks.user(record)
        entry = self._audit_checked(_audit_entries.user_added(record))
        with self._access_lock:
            if record.name in self._users:
                raise _access_checks.duplicate_user(record.name)
            self._users[record.name] = record
            self._audit_append(entry)
        return record

    def get_user(self, name: str) -> UserRecord:
        with self._access_lock:
            return self._user(name)

    def list_users(self) -> list[UserRecord]:
        with self._access_lock:
            return [self._users[name] for name in sorted(self._users)]

    def set_role(self, name: str, role: Role, *, at: datetime) -> UserRecord:
        role = _access_checks.role(role)
        at = _checks.utc(at, "at")
        with self._access_lock:
            found = self._user(name)
            if found.role == role:
                return found
            entry = self._audit_checked(_audit_entries.role_set(name, found.role, role, at))
            changed = self._users[name] = dataclasses.replace(found, role=role)
            self._audit_append(entry)
        return changed

    def set_disabled(self, name: str, disabled: bool, *, at: datetime) -> UserRecord:
        if not isinstance(disabled, bool):
            raise StoreError(f"disabled must be a bool, got {disabled!r}")
        at = _checks.utc(at, "at")
        with self._access_lock:
            found = self._user(name)
            if found.disabled == disabled:
                return found
            entry = self._audit_checked(_audit_entries.user_disabled(name, disabled, at))
            changed = self._users[name] = dataclasses.replace(found, disabled=disabled)
            self._audit_append(entry)
        return changed

    def remove_user(self, name: str, *, at: datetime) -> UserRecord:
        at = _checks.utc(at, "at")
        with self._access_lock:
            found = self._user(name)
            owned = [t.id for t in self._tokens.values() if t.user == name]
            entry = self._audit_checked(_audit_entries.user_removed(found, len(owned), at))
            del self._users[name]
            for token_id in owned:
                del self._tokens[token_id]
            self._audit_append(entry)
        return found

    # -- tokens ---------------------------------------------------------------------------

    def add_token(self, record: TokenRecord) -> TokenRecord:
        record = _access_checks.token(record)
        entry = self._audit_checked(_audit_entries.token_created(record))
        with self._access_lock:
            self._user(record.user)
            if record.id in self._tokens:
                raise _access_checks.duplicate_token(record.id)
            if any(t.hash == record.hash for t in self._tokens.values()):
                raise StoreError("a token with this hash exists already; make a new secret")
            self._tokens[record.id] = record
            self._audit_append(entry)
        return record

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._access_lock:
            return next((t for t in self._tokens.values() if t.hash == token_hash), None)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        with self._access_lock:
            found = [t for t in self._tokens.values() if user in (None, t.user)]
        return sorted(found, key=lambda t: (t.created_at, t.id))

    def revoke_token(self, token_id: str, *, at: datetime) -> TokenRecord:
        at = _checks.utc(at, "at")
        with self._access_lock:
            found = self._token(token_id)
            if found.revoked_at is not None:
                return found
            entry = self._audit_checked(_audit_entries.token_revoked(found, at))
            revoked = self._tokens[token_id] = dataclasses.replace(found, revoked_at=at)
            self._audit_append(entry)
        return revoked

    def touch_token(self, token_id: str, last_used_at: datetime) -> None:
        at = _checks.utc(last_used_at, "last_used_at")
        with self._access_lock:
            found = self._token(token_id)
            if found.last_used_at is None or found.last_used_at < at:
                self._tokens[token_id] = dataclasses.replace(found, last_used_at=at)

    def _user(self, name: str) -> UserRecord:
        found = self._users.get(name)
        if found is None:
            raise _access_checks.user_not_found(name, self._users)
        return found

    def _token(self, token_id: str) -> TokenRecord:
        found = self._tokens.get(token_id)
        if found is None:
            raise _access_checks.token_not_found(token_id)
        return found
