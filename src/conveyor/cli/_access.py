"""``conveyor users``, ``conveyor tokens`` and ``conveyor audit``: who may use a team server,
their API tokens, and the log of every change.

The commands work on the project's store directly, so whoever can open the store (its file,
or its database with the credentials in CONVEYOR_DB_URL) manages users; changes made here are
audited as made by ``local:<OS user>``. The library is imported inside the commands, so
``conveyor --help`` stays light; errors reach ``_app``'s one handler, which prints them on one
line and exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.table import Table

    from conveyor.core import Settings
    from conveyor.store import AuditEntry, MetadataStore, TokenRecord, UserRecord

NOTHING = "—"
_ROLES = ("viewer", "editor", "admin")  # conveyor.store.ROLES, spelled out to keep --help light
_DETAILS_SHOWN = 120


# -- users ------------------------------------------------------------------------------------


@click.group("users")
def users_group() -> None:
    """Users of a team server and their roles: viewer reads; editor also runs pipelines and
    registers models; admin also promotes to protected aliases (production) and manages users.

    Every change is recorded in the audit log (`conveyor audit`).
    """


@users_group.command("add", short_help="Add a user.")
@click.argument("name")
@click.option("--role", type=click.Choice(_ROLES), required=True, help="What the user may do.")
def users_add(name: str, role: str) -> None:
    """Add user NAME (letters, digits, '_', '.', '@', '+', '-') with a role.
    `conveyor tokens create --user NAME` then gives them a token."""
    from conveyor.store import UserRecord, check_role

    added = _store().add_user(UserRecord(name, check_role(role), _now()))
    click.echo(f"added user {added.name} ({added.role})")
    click.echo(f"next: conveyor tokens create --user {added.name}")


@users_group.command("list", short_help="List users.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def users_list(as_json: bool) -> None:
    """Every user with their role, whether they are disabled, and how many tokens they hold
    that can still be used."""
    store = _store()
    found = store.list_users()
    now = _now()
    usable: dict[str, int] = {}
    for token in store.list_tokens():
        if _token_status(token, now) == "active":
            usable[token.user] = usable.get(token.user, 0) + 1
    if as_json:
        body = [_user_json(u) | {"active_tokens": usable.get(u.name, 0)} for u in found]
        click.echo(json.dumps(body, indent=2))
        return
    if not found:
        click.echo("no users: `conveyor users add NAME --role viewer|editor|admin` adds one")
        return
    table = _table("user", "role", "status", "active tokens", "created")
    for record in found:
        table.add_row(
            _escape(record.name),
            record.role,
            "disabled" if record.disabled else "active",
            str(usable.get(record.name, 0)),
            _when(record.created_at),
        )
    _print(table)


@users_group.command("set-role", short_help="Change a user's role.")
@click.argument("name")
@click.argument("role", type=click.Choice(_ROLES))
def users_set_role(name: str, role: str) -> None:
    """Give user NAME the role ROLE (viewer, editor or admin)."""
    from conveyor.store import check_role

    store = _store()
    before = store.get_user(name).role
    changed = store.set_role(name, check_role(role), at=_now())
    if before == changed.role:
        click.echo(f"user {name} is {_article(before)} {before} already")
        return
    click.echo(f"user {name}: {before} -> {changed.role}")


@users_group.command("disable", short_help="Refuse a user's tokens.")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable user NAME: their tokens are refused until `conveyor users enable NAME`. What
    they did stays in the audit log."""
    _store().set_disabled(name, True, at=_now())
    click.echo(f"disabled user {name}: their tokens are refused")


@users_group.command("enable", short_help="Accept a disabled user's tokens again.")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable user NAME again; tokens not revoked or expired work again."""
    _store().set_disabled(name, False, at=_now())
    click.echo(f"enabled user {name}")


@users_group.command("remove", short_help="Delete a user and their tokens.")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete user NAME and every token of theirs. The audit log keeps what they did; to keep
    the user but stop their access, `conveyor users disable NAME`."""
    store = _store()
    tokens = len(store.list_tokens(name))
    store.remove_user(name, at=_now())
    click.echo(f"removed user {name} and {tokens} token(s)")


# -- tokens -----------------------------------------------------------------------------------


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: what a client sends to a team server (`Authorization: Bearer cvt_…`).

    A token is shown once, when it is created; the store keeps only its SHA-256 hash.
    """


@tokens_group.command("create", short_help="Create a token for a user (shown once).")
@click.option("--user", "user", required=True, metavar="NAME", help="Whose token it is.")
@click.option("--name", "label", default="", metavar="LABEL", help="What it is for (ci, laptop).")
@click.option(
    "--expires",
    default=None,
    metavar="DURATION",
    help="How long it may be used: 90d, 12h, 2w, or never (default: never).",
)
def tokens_create(user: str, label: str, expires: str | None) -> None:
    """Create an API token for user NAME and print it. Copy it now: it cannot be shown again.

    The token goes to standard output alone, the rest to standard error, so
    `TOKEN=$(conveyor tokens create --user ci-bot --expires 90d)` keeps just the token.
    """
    from conveyor.store import create_token

    now = _now()
    expires_at = None if expires is None else _expiry(expires, now)
    secret, record = create_token(_store(), user, at=now, name=label, expires_at=expires_at)
    until = "never expires" if expires_at is None else f"expires {_when(expires_at)}"
    label_text = f" ({record.name})" if record.name else ""
    click.echo(f"created token {record.id} for {record.user}{label_text}; it {until}", err=True)
    click.echo(secret)
    click.echo(
        "warning: copy the token now; it is not stored and cannot be shown again "
        f"(`conveyor tokens revoke {record.id}` revokes it)",
        err=True,
    )


@tokens_group.command("list", short_help="List tokens (never their secrets).")
@click.option("--user", "user", default=None, metavar="NAME", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tokens_list(user: str | None, as_json: bool) -> None:
    """Every token, oldest first: whose it is, its label, the first characters of its secret
    (to recognise it by), when it was created, expires and was last used, and its status."""
    store = _store()
    if user is not None:
        store.get_user(user)  # UserNotFound names the users there are
    found = store.list_tokens(user)
    now = _now()
    if as_json:
        click.echo(json.dumps([_token_json(t, now) for t in found], indent=2))
        return
    if not found:
        whose = f" for {user}" if user else ""
        click.echo(f"no tokens{whose}: `conveyor tokens create --user NAME` makes one")
        return
    table = _table("id", "user", "name", "token", "created", "expires", "last used", "status")
    for token in found:
        table.add_row(
            token.id,
            _escape(token.user),
            _escape(token.name) or NOTHING,
            f"cvt_{token.prefix}…",
            _when(token.created_at),
            _when(token.expires_at) if token.expires_at else "never",
            _when(token.last_used_at) if token.last_used_at else NOTHING,
            _token_status(token, now),
        )
    _print(table)


@tokens_group.command("revoke", short_help="Revoke a token for good.")
@click.argument("token_id", metavar="ID")
def tokens_revoke(token_id: str) -> None:
    """Revoke the token with this id (tok-…, from `conveyor tokens list`): it is refused from
    now on and cannot be brought back."""
    now = _now()
    revoked = _store().revoke_token(token_id, at=now)
    if revoked.revoked_at != now:
        click.echo(f"token {revoked.id} of {revoked.user} was revoked already")
        return
    click.echo(f"revoked token {revoked.id} of {revoked.user}")


# -- audit ------------------------------------------------------------------------------------


@click.command("audit")
@click.option("--actor", default=None, help="Only changes by this actor (a user, local:NAME).")
@click.option(
    "--target",
    default=None,
    help="Only changes to this: a model (churn: its versions and aliases), churn@production, "
    "user:NAME, token:ID.",
)
@click.option(
    "--action",
    default=None,
    help="Only this action, or the actions under it: alias (alias.promote, alias.rollback, "
    "alias.remove), model.register, gate, user, token.",
)
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only changes since then: a duration back from now (7d, 12h) or a date or time "
    "(2026-04-01, 2026-04-01T09:00; local time unless it says otherwise).",
)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def audit_command(
    actor: str | None,
    target: str | None,
    action: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The audit log, newest first: every model version registered, alias promoted, rolled
    back or removed, gate decided, and user or token changed, with who did it and the figures."""
    start = None if since is None else _since(since, _now())
    found = _store().audit(actor=actor, target=target, action=action, since=start, limit=limit)
    if as_json:
        click.echo(_json([_entry_json(e) for e in found]))
        return
    if not found:
        click.echo("no audit entries" + (" match" if (actor or target or action or since) else ""))
        return
    table = _table("at", "actor", "action", "target", "details")
    for entry in found:
        table.add_row(
            _when(entry.at),
            _escape(entry.actor),
            entry.action,
            _escape(entry.target),
            _escape(_details(entry.action, entry.details)),
        )
    _print(table)


# -- helpers ----------------------------------------------------------------------------------


def _expiry(text: str, now: datetime) -> datetime | None:
    from conveyor.core._durations import parse_duration
    from conveyor.errors import ConveyorError

    if text.strip().lower() == "never":
        return None
    span = parse_duration(text)
    if span is None or span.total_seconds() <= 0:
        raise ConveyorError(
            f"--expires takes a duration like 90d, 12h or 2w, or never; got {text!r}",
            expires=text,
        )
    return now + span


def _since(text: str, now: datetime) -> datetime:
    from conveyor.core._durations import parse_duration
    from conveyor.errors import ConveyorError

    span = parse_duration(text)
    if span is not None:
        return now - span
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConveyorError(
            f"--since takes a duration back from now (7d, 12h) or a date or time "
            f"(2026-04-01, 2026-04-01T09:00); got {text!r}",
            since=text,
        ) from None
    return parsed.astimezone(UTC)  # a naive time is read as local time


def _token_status(token: TokenRecord, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and now >= token.expires_at:
        return "expired"
    return "active"


def _details(action: str, details: Mapping[str, object]) -> str:
    """The figures that matter for each kind of entry, in a few words; --json has them all."""
    if action.startswith("alias."):
        moved = f"{_shown(details.get('from'))} -> {_shown(details.get('to'))}"
        reason = details.get("reason")
        return moved + (f"  reason: {reason}" if reason else "")
    if action == "gate.decide":
        failed = details.get("failed")
        names = ", ".join(str(f) for f in failed) if isinstance(failed, list) else ""
        text = f"{details.get('outcome')} for {details.get('alias')}"
        return text + (f": failed {names}" if names else "")
    if action == "model.register":
        metrics = details.get("metrics")
        pairs = sorted(metrics.items()) if isinstance(metrics, dict) else []
        return " ".join(
            [f"flavor={details.get('flavor')}", *(f"{k}={_number(v)}" for k, v in pairs)]
        )
    text = " ".join(f"{k}={_shown(v)}" for k, v in details.items() if k != "criteria")
    return text if len(text) <= _DETAILS_SHOWN else text[: _DETAILS_SHOWN - 1] + "…"


def _shown(value: object) -> str:
    return NOTHING if value is None else str(value)


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


def _user_json(record: UserRecord) -> dict[str, object]:
    return {
        "name": record.name,
        "role": record.role,
        "disabled": record.disabled,
        "created_at": record.created_at.isoformat(),
    }


def _token_json(token: TokenRecord, now: datetime) -> dict[str, object]:
    """Everything about a token but its hash."""
    return {
        "id": token.id,
        "user": token.user,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "expires_at": _iso(token.expires_at),
        "last_used_at": _iso(token.last_used_at),
        "revoked_at": _iso(token.revoked_at),
        "status": _token_status(token, now),
    }


def _entry_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": dict(entry.details),
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _when(at: datetime | None) -> str:
    return NOTHING if at is None else at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _now() -> datetime:
    return datetime.now(UTC)


def _store() -> MetadataStore:
    from conveyor.engine import Workspace

    return Workspace.for_api(_settings()).metadata


def _settings() -> Settings:
    from conveyor.cli._commands import settings

    return settings()


def _json(document: object) -> str:
    from conveyor.cli._render import json_text

    return json_text(document)


def _table(*columns: str) -> Table:
    from conveyor.cli._render import table

    return table(*columns, wrapped=("details",))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print(table: Table) -> None:
    from conveyor.cli._render import _console

    _console.print(table)
