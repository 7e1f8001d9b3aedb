"""An accepted token is remembered for a few seconds, so an API request costs one store call;
a revocation is honoured once that time is up, or at once when ``forget`` is called (as the
server does after any change of users or tokens), and never for the UI's session pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from conveyor.server._app import create_server_app, token_checker
from conveyor.server._auth import Authenticator, Refused
from conveyor.store import MemoryArtifactStore, MemoryMetadataStore, UserRecord, create_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Tokens:
    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.checks = 0

    def __call__(self, token: str) -> tuple[str, str]:
        self.checks += 1
        if token in self.revoked:
            raise ValueError("the API token was revoked")
        return token.removeprefix("tok-"), "editor"


def request(token: str, cookie: bool = False) -> Request:
    header = (
        (b"cookie", f"session={token}".encode())
        if cookie
        else (b"authorization", f"Bearer {token}".encode())
    )
    return Request({"type": "http", "headers": [header], "client": ("10.0.0.1", 5000)})


@pytest.fixture
def parts() -> tuple[Authenticator, Tokens, Clock]:
    tokens, clock = Tokens(), Clock()
    return Authenticator(tokens, remember_s=5.0, clock=clock), tokens, clock


def test_an_accepted_token_is_checked_once_within_the_time(
    parts: tuple[Authenticator, Tokens, Clock],
) -> None:
    auth, tokens, clock = parts
    for _ in range(3):
        assert asyncio.run(auth.identify(request("tok-ada"))).name == "ada"
    assert tokens.checks == 1
    clock.now += 5.1
    asyncio.run(auth.identify(request("tok-ada")))
    assert tokens.checks == 2


def test_a_revoked_token_is_refused_once_the_time_is_up(
    parts: tuple[Authenticator, Tokens, Clock],
) -> None:
    auth, tokens, clock = parts
    asyncio.run(auth.identify(request("tok-ada")))
    tokens.revoked.add("tok-ada")
    assert asyncio.run(auth.identify(request("tok-ada"))).name == "ada"  # still remembered
    clock.now += 5.1
    with pytest.raises(Refused, match="revoked") as refused:
        asyncio.run(auth.identify(request("tok-ada")))
    assert refused.value.status == 401


def test_forget_makes_a_revocation_apply_at_once(
    parts: tuple[Authenticator, Tokens, Clock],
) -> None:
    auth, tokens, _ = parts
    asyncio.run(auth.identify(request("tok-ada")))
    tokens.revoked.add("tok-ada")
    auth.forget()
    with pytest.raises(Refused, match="revoked"):
        asyncio.run(auth.identify(request("tok-ada")))


def test_ui_sessions_are_checked_on_every_page(
    parts: tuple[Authenticator, Tokens, Clock],
) -> None:
    auth, tokens, _ = parts
    asyncio.run(auth.identify_cookie(request("tok-ada", cookie=True), "session"))
    asyncio.run(auth.identify_cookie(request("tok-ada", cookie=True), "session"))
    assert tokens.checks == 2
    tokens.revoked.add("tok-ada")
    with pytest.raises(Refused):
        asyncio.run(auth.identify_cookie(request("tok-ada", cookie=True), "session"))


def test_a_refused_token_is_never_remembered(
    parts: tuple[Authenticator, Tokens, Clock],
) -> None:
    auth, tokens, _ = parts
    tokens.revoked.add("tok-eve")
    for _ in range(2):
        with pytest.raises(Refused):
            asyncio.run(auth.identify(request("tok-eve")))
    assert tokens.checks == 2


def test_a_token_revoked_through_the_api_is_refused_at_the_next_request(tmp_path: Path) -> None:
    store = MemoryMetadataStore()
    now = datetime.now(UTC)
    for name, role in (("ada", "admin"), ("ed", "editor")):
        store.add_user(UserRecord(name, role, now))
    admin, _ = create_token(store, "ada", at=now)
    editor, record = create_token(store, "ed", at=now)
    app = create_server_app(
        store, MemoryArtifactStore(), token_checker(store), uploads=tmp_path / "uploads"
    )
    with TestClient(app) as client:
        as_editor = {"Authorization": f"Bearer {editor}"}
        assert client.get("/api/v1/runs", headers=as_editor).status_code == 200
        revoked = client.post(
            f"/api/v1/tokens/{record.id}/revoke",
            json={"at": now.isoformat()},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert revoked.status_code == 200, revoked.text
        refused = client.get("/api/v1/runs", headers=as_editor)
        assert refused.status_code == 401 and "revoked" in refused.text
