"""``conveyor users``, ``conveyor tokens`` and ``conveyor audit`` end to end on SQLite in a
temporary folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.dummy import DummyClassifier

import conveyor as cv
from conveyor.core import Settings, acting_as
from conveyor.engine import Workspace
from conveyor.errors import AuthenticationFailed
from conveyor.store import ROLES, MetadataStore, authenticate
from conveyor.testing import settings_for
from tests._cli import invoke


@pytest.fixture
def settings(cli: CliRunner, tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@pytest.fixture
def store(settings: Settings) -> MetadataStore:
    return Workspace.for_api(settings).metadata


def users_json(cli: CliRunner) -> list[dict[str, object]]:
    result = invoke(cli, "users", "list", "--json")
    assert result.exit_code == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def test_users_are_added_listed_changed_disabled_and_removed(
    cli: CliRunner, store: MetadataStore
) -> None:
    added = invoke(cli, "users", "add", "ana", "--role", "editor")
    assert added.exit_code == 0, added.output
    assert "added user ana (editor)" in added.output
    invoke(cli, "users", "add", "bob", "--role", "viewer")
    table = invoke(cli, "users", "list").output
    assert any(line.split()[:3] == ["ana", "editor", "active"] for line in table.splitlines())
    promoted = invoke(cli, "users", "set-role", "bob", "admin")
    assert "user bob: viewer -> admin" in promoted.output
    assert "already" in invoke(cli, "users", "set-role", "bob", "admin").output
    assert "disabled user ana" in invoke(cli, "users", "disable", "ana").output
    listed = users_json(cli)
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("ana", "editor", True),
        ("bob", "admin", False),
    ]
    assert invoke(cli, "users", "enable", "ana").exit_code == 0
    assert store.get_user("ana").disabled is False
    removed = invoke(cli, "users", "remove", "bob")
    assert "removed user bob and 0 token(s)" in removed.output
    assert [u["name"] for u in users_json(cli)] == ["ana"]


def test_bad_input_is_refused_with_what_to_do(cli: CliRunner, store: MetadataStore) -> None:
    unknown_role = invoke(cli, "users", "add", "ana", "--role", "owner")
    assert unknown_role.exit_code == 2
    assert "'viewer', 'editor', 'admin'" in unknown_role.output
    bad_name = invoke(cli, "users", "add", "local:ana", "--role", "viewer")
    assert bad_name.exit_code == 2 and "cannot name a user" in bad_name.output
    invoke(cli, "users", "add", "ana", "--role", "viewer")
    again = invoke(cli, "users", "add", "ana", "--role", "admin")
    assert again.exit_code == 2 and "user 'ana' already exists" in again.output
    missing = invoke(cli, "users", "set-role", "zoe", "editor")
    assert missing.exit_code == 2 and "no user named 'zoe'; users: ana" in missing.output
    no_user = invoke(cli, "tokens", "create", "--user", "zoe")
    assert no_user.exit_code == 2 and "no user named 'zoe'" in no_user.output
    bad_expiry = invoke(cli, "tokens", "create", "--user", "ana", "--expires", "soon")
    assert bad_expiry.exit_code == 2
    assert "--expires takes a duration like 90d" in bad_expiry.output
    no_token = invoke(cli, "tokens", "revoke", "tok-nope")
    assert no_token.exit_code == 2 and "no API token with id 'tok-nope'" in no_token.output
    bad_since = invoke(cli, "audit", "--since", "last tuesday")
    assert bad_since.exit_code == 2 and "--since takes a duration" in bad_since.output
    assert "Traceback" not in bad_since.output
    assert store.list_tokens() == []
    assert store.get_user("ana").role == "viewer"


def test_a_token_is_printed_once_alone_and_works_until_revoked(
    cli: CliRunner, store: MetadataStore
) -> None:
    invoke(cli, "users", "add", "ci-bot", "--role", "editor")
    created = invoke(
        cli, "tokens", "create", "--user", "ci-bot", "--name", "ci", "--expires", "90d"
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("cvt_") and "\n" not in secret  # stdout holds the token alone
    assert "cannot be shown again" in created.stderr
    (record,) = store.list_tokens("ci-bot")
    assert record.expires_at == record.created_at + timedelta(days=90)
    assert record.name == "ci"
    assert authenticate(store, secret, datetime.now(UTC)).name == "ci-bot"

    table = invoke(cli, "tokens", "list").output
    listed = json.loads(invoke(cli, "tokens", "list", "--user", "ci-bot", "--json").stdout)
    for shown in (table, json.dumps(listed)):
        assert record.hash not in shown and secret not in shown  # never the hash or the secret
    assert f"cvt_{record.prefix}…" in table
    assert [(t["id"], t["prefix"], t["status"]) for t in listed] == [
        (record.id, secret[4:12], "active")
    ]
    assert "hash" not in listed[0]

    revoked = invoke(cli, "tokens", "revoke", record.id)
    assert f"revoked token {record.id} of ci-bot" in revoked.output
    assert "revoked already" in invoke(cli, "tokens", "revoke", record.id).output
    with pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate(store, secret, datetime.now(UTC))
    assert json.loads(invoke(cli, "tokens", "list", "--json").stdout)[0]["status"] == "revoked"


def test_a_token_without_expires_never_expires(cli: CliRunner, store: MetadataStore) -> None:
    invoke(cli, "users", "add", "ana", "--role", "viewer")
    created = invoke(cli, "tokens", "create", "--user", "ana")
    assert "never expires" in created.stderr
    assert store.list_tokens()[0].expires_at is None
    assert "never" in invoke(cli, "tokens", "list").output
    invoke(cli, "users", "add", "bob", "--role", "viewer")
    assert "no tokens for bob" in invoke(cli, "tokens", "list", "--user", "bob").output
    unknown = invoke(cli, "tokens", "list", "--user", "zoe")
    assert unknown.exit_code == 2 and "no user named 'zoe'; users: ana, bob" in unknown.output


def test_the_audit_log_shows_every_change_and_filters_it(
    cli: CliRunner, settings: Settings
) -> None:
    invoke(cli, "users", "add", "ana", "--role", "admin")
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    model = DummyClassifier().fit(frame, [0, 1, 1])
    with acting_as("ana"):
        cv.models.register("churn", model, metrics={"f1": 0.75}, settings=settings)
        cv.models.promote("churn", 1, "production", reason="launch", settings=settings)

    everything = json.loads(invoke(cli, "audit", "--json").stdout)
    assert [e["action"] for e in everything] == ["alias.promote", "model.register", "user.add"]
    assert everything[2]["actor"].startswith("local:")  # the CLI acts as the OS user
    promotion = everything[0]
    assert (promotion["actor"], promotion["target"]) == ("ana", "churn@production")
    assert promotion["details"]["to"] == 1 and promotion["details"]["from"] is None

    table = invoke(cli, "audit", "--target", "churn").output
    assert "alias.promote" in table and "None -> 1" not in table
    assert "— -> 1  reason: launch" in table
    assert "flavor=sklearn f1=0.75" in table
    assert "user.add" not in table

    def actions(*filters: str) -> list[str]:
        result = invoke(cli, "audit", "--json", *filters)
        assert result.exit_code == 0, result.output
        return [e["action"] for e in json.loads(result.stdout)]

    assert actions("--action", "alias") == ["alias.promote"]
    assert actions("--actor", "ana") == ["alias.promote", "model.register"]
    assert actions("-n", "1") == ["alias.promote"]
    assert actions("--since", "1h") == ["alias.promote", "model.register", "user.add"]
    assert actions("--since", "2999-01-01") == []
    assert actions("--target", "user:ana") == ["user.add"]
    assert "no audit entries match" in invoke(cli, "audit", "--actor", "zoe").output


def test_the_cli_offers_exactly_the_roles_the_store_knows() -> None:
    from conveyor.cli._access import _ROLES

    assert _ROLES == ROLES
