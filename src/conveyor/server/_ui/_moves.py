"""Promoting and rolling back an alias from the web UI, over the server's own store.

The registry's rules, not copies of them: the gate is ``registry``'s ``Gate`` judged by its
``decide`` (here "not worse than the version holding the alias", on the metrics registered with
each version: the UI has no evaluation data to score on), and a rollback walks the alias's
history with the registry's ``held_versions``, so it undoes exactly what ``conveyor models
rollback`` would. The caller runs these inside ``acting_as(user)``, so the audit log names them.
"""

from __future__ import annotations

from conveyor.core._errors import RegistryError
from conveyor.registry import Gate
from conveyor.registry._aliases import held_versions, promote_on, roll_back
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
    gate = Gate(beat=alias) if beat_holder else None
    return promote_on(
        store, name, version, alias, gate=gate, reason=reason, actor=actor, score=_no_scoring
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
