"""Promoting and rolling back an alias from the web UI, over the server's own store.

The registry's rules, not copies of them: the gate is ``registry``'s ``Gate`` judged by its
``decide`` (here "not worse than the version holding the alias", on the metrics registered with
each version: the UI has no evaluation data to score on), and a rollback walks the alias's
history with the registry's ``held_versions``, so it undoes exactly what ``conveyor models
rollback`` would. The caller runs these inside ``acting_as(user)``, so the audit log names them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor.core._errors import GateFailed, RegistryError
from conveyor.registry import Gate
from conveyor.registry._aliases import held_versions, roll_back
from conveyor.registry._gate import decide
from conveyor.store import AliasMove, MetadataStore


def promote(
    store: MetadataStore,
    name: str,
    version: int,
    alias: str,
    *,
    actor: str,
    reason: str = "",
    beat_holder: bool = False,
) -> AliasMove:
    """Point ``alias`` at ``version``; with ``beat_holder``, only if it is not worse than the
    version holding the alias now (the decision is stored either way).

    Raises:
        ModelNotFound: no such model or version.
        GateFailed: the gate said no; the message names each failing criterion.
    """
    candidate = store.get_model_version(name, version)
    decision_id = None
    if beat_holder:
        held = store.aliases(name).get(alias)
        holder = store.get_model_version(name, held) if held is not None else None
        decision = store.record_gate_decision(
            decide(Gate(beat=alias), candidate, holder, alias, actor, _no_scoring)
        )
        if not decision.passed:
            failing = "; ".join(
                str(c.get("message", c.get("criterion")))
                for c in decision.criteria
                if not c["passed"]
            )
            raise GateFailed(
                f"{name}@{version} did not pass the gate for {alias!r}: {failing}",
                name=name,
                version=version,
                alias=alias,
                decision={"id": decision.id},
            )
        decision_id = decision.id
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
            decision_id=decision_id,
        )
    )


def rollback(
    store: MetadataStore, name: str, alias: str, *, actor: str, reason: str = ""
) -> AliasMove:
    """Move ``alias`` back to the version it held before its latest promotion.

    Raises:
        ModelNotFound: no such model.
        RegistryError: the alias has no earlier version to go back to.
    """
    store.list_model_versions(name)
    return roll_back(store, name, alias, actor=actor, reason=reason)


def previous_versions(store: MetadataStore, name: str) -> dict[str, int | None]:
    """Alias → the version a rollback would move it to (None: it cannot be rolled back)."""
    found: dict[str, int | None] = {}
    for alias in store.aliases(name):
        stack = held_versions(store.alias_history(name, alias))
        found[alias] = stack[-2] if len(stack) >= 2 else None
    return found


def _no_scoring(version: int) -> object:
    """A gate on registered metrics never loads a model; one that did would need data here."""
    raise RegistryError(f"the web UI's gate compares registered metrics; it cannot score {version}")
