"""The AuditStore port in memory (a base of MemoryMetadataStore, through MemoryAccess).

Adapters of audited changes check their entry with ``_audit_checked`` before changing anything
and append it with ``_audit_append`` under the lock of the change, so the change and its entry
land together, as one SQL transaction would.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime
from typing import cast

from conveyor.core._actor import current_actor
from conveyor.store import _access_checks, _checks
from conveyor.store._access_records import AuditEntry


class MemoryAudit:
    """Audit entries in a list (id is the position + 1), behind their own lock, which is only
    ever taken last."""

    def __init__(self) -> None:
        self._audit_lock = threading.Lock()
        self._audit_log: list[AuditEntry] = []

    def record_audit(self, entry: AuditEntry) -> AuditEntry:
        return self._audit_append(self._audit_checked(entry))

    def audit(
        self,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        since = _access_checks.audit_query(since, limit)
        with self._audit_lock:
            found = [
                e
                for e in reversed(self._audit_log)
                if _access_checks.matches(e, actor, target, action)
                and (since is None or e.at >= since)
            ][:limit]
        return [_copied(e) for e in found]

    def _audit_checked(self, entry: AuditEntry) -> AuditEntry:
        if entry.actor == "":
            entry = dataclasses.replace(entry, actor=current_actor())
        return _access_checks.audit_entry(entry)

    def _audit_append(self, checked: AuditEntry) -> AuditEntry:
        with self._audit_lock:
            stored = dataclasses.replace(checked, id=len(self._audit_log) + 1)
            self._audit_log.append(stored)
        return _copied(stored)


def _copied(entry: AuditEntry) -> AuditEntry:
    details = cast(dict[str, object], _checks.json_copy(dict(entry.details), "details"))
    return dataclasses.replace(entry, details=details)
