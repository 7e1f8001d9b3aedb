"""The web UI's model pages and its two changes, promote and roll back: the role each needs,
the form token each must carry, the registry's rules (gate, rollback stack), and the audit log
naming the signed-in user."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conveyor.core import content_address
from conveyor.store import (
    AliasMove,
    ArtifactRecord,
    MemoryMetadataStore,
    MetadataStore,
    ModelVersionRecord,
    WriteBatch,
)
from tests.server._ui_clients import T0, USERS, signed_in


@pytest.fixture
def store() -> MetadataStore:
    """churn versions 1 (accuracy 0.9), 2 (0.95), 3 (0.7); production went 1 → 2."""
    found = MemoryMetadataStore()
    for version, accuracy in ((1, 0.9), (2, 0.95), (3, 0.7)):
        blob = f"model {version}".encode()
        record = ArtifactRecord(content_address(blob), "skops", "Forest", len(blob), T0)
        found.commit(WriteBatch(artifacts=(record,)))
        found.register_model_version(
            ModelVersionRecord("churn", 0, record.id, "sklearn", T0, metrics={"accuracy": accuracy})
        )
    for version in (1, 2):
        found.move_alias(AliasMove("churn", "production", version, None, "promote", T0, "ci"))
    return found


@pytest.fixture
def as_role(store: MetadataStore, tmp_path: Path) -> Iterator[dict[str, TestClient]]:
    clients = {role: signed_in(store, tmp_path, token) for token, (_, role) in USERS.items()}
    yield clients
    for client in clients.values():
        client.close()


def form_token(client: TestClient, path: str = "/ui/models/churn") -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', client.get(path).text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, action: str, **fields: str) -> Any:
    fields.setdefault("csrf", form_token(client))
    return client.post(f"/ui/models/churn/{action}", data=fields, follow_redirects=False)


def test_the_models_page_lists_each_model_with_its_aliases(as_role: dict[str, TestClient]) -> None:
    html = as_role["viewer"].get("/ui/models").text
    assert '<a href="/ui/models/churn">churn</a>' in html
    assert "production → 2" in html


def test_a_model_page_shows_versions_aliases_history_and_who_may_move_them(
    as_role: dict[str, TestClient],
) -> None:
    admin = as_role["admin"].get("/ui/models/churn").text
    assert "Roll back to 1" in admin and ">Promote</button>" in admin
    assert admin.count("<td>ci</td>") == 2  # the history's actor, newest first
    assert "accuracy 0.95" in admin
    editor = as_role["editor"].get("/ui/models/churn").text
    assert "Roll back to 1" not in editor and "moving it needs the admin role" in editor
    assert ">Promote</button>" in editor  # unprotected aliases are theirs to move
    viewer = as_role["viewer"].get("/ui/models/churn").text
    assert "Roll back" not in viewer and ">Promote</button>" not in viewer
    assert "You are a viewer" in viewer


def test_an_admin_rolls_back_and_promotes_recorded_as_themselves(
    store: MetadataStore, as_role: dict[str, TestClient]
) -> None:
    admin = as_role["admin"]
    back = post(admin, "rollback", alias="production", reason="bad canary")
    assert back.status_code == 303
    assert back.headers["location"] == "/ui/models/churn?moved=production#aliases"
    assert store.aliases("churn") == {"production": 1}
    move = store.alias_history("churn", "production")[-1]
    assert (move.kind, move.version, move.actor, move.reason) == (
        "rollback",
        1,
        "ada",
        "bad canary",
    )
    assert (
        "production now points to version 1" in admin.get("/ui/models/churn?moved=production").text
    )
    ahead = post(admin, "promote", alias="production", version="2", gate="beat")
    assert ahead.status_code == 303
    assert store.aliases("churn") == {"production": 2}
    (decision,) = store.gate_decisions("churn")
    assert decision.passed and decision.actor == "ada"
    assert store.alias_history("churn", "production")[-1].decision_id == decision.id
    audited = store.audit(target="churn@production", limit=3)
    assert [e.actor for e in audited[:2]] == ["ada", "ada"]


def test_a_viewer_is_refused_the_rollback_with_a_403_page(
    store: MetadataStore, as_role: dict[str, TestClient]
) -> None:
    refused = post(as_role["viewer"], "rollback", alias="production")
    assert refused.status_code == 403
    assert "needs the admin role; vera is a viewer" in refused.text
    assert store.aliases("churn") == {"production": 2}


def test_an_editor_may_move_other_aliases_but_not_a_protected_one(
    store: MetadataStore, as_role: dict[str, TestClient]
) -> None:
    editor = as_role["editor"]
    refused = post(editor, "promote", alias="production", version="3")
    assert refused.status_code == 403
    said = html.unescape(refused.text)
    assert "promoting the protected alias 'production' needs the admin role; ed is" in said
    assert post(editor, "promote", alias="staging", version="3").status_code == 303
    assert store.aliases("churn") == {"production": 2, "staging": 3}
    assert store.alias_history("churn", "staging")[-1].actor == "ed"


@pytest.mark.parametrize("csrf", ["", "0" * 64, None])
def test_a_change_without_the_sessions_form_token_is_refused(
    store: MetadataStore, as_role: dict[str, TestClient], csrf: str | None
) -> None:
    admin = as_role["admin"]
    fields = {"alias": "production"} if csrf is None else {"alias": "production", "csrf": csrf}
    refused = admin.post("/ui/models/churn/rollback", data=fields, follow_redirects=False)
    assert refused.status_code == 403
    assert "security token is missing or out of date" in refused.text
    assert store.aliases("churn") == {"production": 2}


def test_another_sessions_form_token_does_not_pass(
    store: MetadataStore, as_role: dict[str, TestClient]
) -> None:
    stolen = form_token(as_role["editor"])
    refused = post(as_role["admin"], "rollback", alias="production", csrf=stolen)
    assert refused.status_code == 403
    assert store.aliases("churn") == {"production": 2}


def test_a_version_worse_than_the_holder_fails_the_gate_with_its_figures(
    store: MetadataStore, as_role: dict[str, TestClient]
) -> None:
    admin = as_role["admin"]
    refused = post(admin, "promote", alias="production", version="3", gate="beat")
    assert refused.status_code == 409
    assert "did not pass the gate" in refused.text and "accuracy 0.7 vs 0.95" in refused.text
    assert store.aliases("churn") == {"production": 2}
    page = admin.get("/ui/models/churn").text
    assert 'id="decision-1"' in page and "refused" in page


@pytest.mark.parametrize(
    ("action", "fields", "status", "says"),
    [
        ("rollback", {"alias": "staging"}, 409, "cannot roll back churn@staging"),
        ("promote", {"alias": "production", "version": "9"}, 404, "9"),
        ("promote", {"alias": "production", "version": "two"}, 400, "a version is a number"),
        ("promote", {"alias": "12", "version": "1"}, 400, "cannot name an alias"),
        ("promote", {"alias": "", "version": "1"}, 400, "name the alias"),
    ],
)
def test_bad_changes_get_a_page_saying_what_is_wrong(
    store: MetadataStore,
    as_role: dict[str, TestClient],
    action: str,
    fields: dict[str, str],
    status: int,
    says: str,
) -> None:
    answer = post(as_role["admin"], action, **fields)
    assert answer.status_code == status
    assert says in answer.text
    assert store.aliases("churn") == {"production": 2}


def test_an_unknown_model_is_a_404_page(as_role: dict[str, TestClient]) -> None:
    admin = as_role["admin"]
    assert admin.get("/ui/models/nope").status_code == 404
    token = form_token(admin)
    moved = admin.post("/ui/models/nope/rollback", data={"alias": "staging", "csrf": token})
    assert moved.status_code == 404 and "nope" in moved.text
