"""Signing in and out of the web UI: the cookie's protections, where a login leads, the limit on
refused tokens shared with the API, and pages that send anyone not signed in to the login."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conveyor.server._app import create_server_app
from conveyor.store import MemoryArtifactStore, MemoryMetadataStore

USERS = {"tok-viewer": ("vera", "viewer"), "tok-admin": ("ada", "admin")}
REVOKED: set[str] = set()


def check(token: str) -> tuple[str, str]:
    if token not in USERS or token in REVOKED:
        raise ValueError("no such token")
    return USERS[token]


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    REVOKED.clear()
    app = create_server_app(
        MemoryMetadataStore(), MemoryArtifactStore(), check, uploads=tmp_path / "uploads"
    )
    return TestClient(app, raise_server_exceptions=False)


def login(client: TestClient, token: str, target: str = "") -> Any:
    return client.post("/ui/login", data={"token": token, "next": target}, follow_redirects=False)


@pytest.mark.parametrize("path", ["/ui/runs", "/ui/models/churn", "/ui/runs?page=2&status=failed"])
def test_a_page_sends_anyone_not_signed_in_to_the_login_and_back(
    client: TestClient, path: str
) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=%2Fui%2F")
    form = client.get(answer.headers["location"])
    assert form.status_code == 200 and 'name="token"' in form.text
    target = re.search(r'name="next" value="([^"]+)"', form.text)
    assert target is not None
    back = login(client, "tok-viewer", html.unescape(target[1]))
    assert back.headers["location"] == path


def test_the_session_cookie_is_http_only_strict_and_scoped_to_the_ui(client: TestClient) -> None:
    answer = login(client, "tok-admin")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("conveyor_session=tok-admin;")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert answer.headers["location"] == "/ui/runs"


def test_over_https_the_cookie_is_secure(tmp_path: Path) -> None:
    app = create_server_app(
        MemoryMetadataStore(), MemoryArtifactStore(), check, uploads=tmp_path / "uploads"
    )
    with TestClient(app, base_url="https://testserver") as secure:
        answer = login(secure, "tok-admin")
    assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/ui/runs", "/api/v1/models", "/ui\\x"]
)
def test_a_login_never_leads_off_the_ui(client: TestClient, target: str) -> None:
    assert login(client, "tok-viewer", target).headers["location"] == "/ui/runs"


def test_a_refused_token_says_why_and_sets_no_cookie(client: TestClient) -> None:
    answer = client.post("/ui/login", data={"token": "tok-wrong"})
    assert answer.status_code == 401
    assert "token refused: no such token" in answer.text
    assert "set-cookie" not in answer.headers
    assert client.get("/ui/runs", follow_redirects=False).status_code == 303


def test_refused_tokens_are_limited_per_address_like_the_api(tmp_path: Path) -> None:
    app = create_server_app(
        MemoryMetadataStore(), MemoryArtifactStore(), check, uploads=tmp_path / "uploads"
    )
    client = TestClient(app, raise_server_exceptions=False)
    statuses = [client.post("/ui/login", data={"token": "x"}).status_code for _ in range(11)]
    # ten refusals a minute, then a wait (the API's limit, FailureLimit)
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    limited = client.post("/ui/login", data={"token": "tok-admin"})
    assert limited.status_code == 429 and "too many refused tokens" in limited.text
    api = client.get("/api/v1/models", headers={"Authorization": "Bearer tok-admin"})
    assert api.status_code == 429  # one limit, whichever way the tokens came


def test_a_revoked_token_ends_the_session(client: TestClient) -> None:
    login(client, "tok-viewer")
    assert client.get("/ui/runs").status_code == 200
    REVOKED.add("tok-viewer")
    answer = client.get("/ui/runs", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("&expired=1")
    assert 'conveyor_session=""' in answer.headers["set-cookie"]
    assert "Your session ended" in client.get(answer.headers["location"]).text


def test_signing_out_needs_the_form_token_and_forgets_the_session(client: TestClient) -> None:
    login(client, "tok-viewer")
    refused = client.post("/ui/logout", data={"csrf": ""}, follow_redirects=False)
    assert refused.status_code == 403
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get("/ui/runs").text)
    assert token is not None
    out = client.post("/ui/logout", data={"csrf": token[1]}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui/runs", follow_redirects=False).status_code == 303


def test_the_api_does_not_take_the_session_cookie(client: TestClient) -> None:
    client.cookies.set("conveyor_session", "tok-admin")  # even sent to every path
    assert client.get("/api/v1/models").status_code == 401


def test_a_form_that_is_not_url_encoded_is_refused(client: TestClient) -> None:
    login(client, "tok-admin")
    answer = client.post(
        "/ui/models/churn/rollback", content=b"{}", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and "application/x-www-form-urlencoded" in answer.text


def test_pages_carry_a_strict_content_security_policy_and_static_files_are_served(
    client: TestClient,
) -> None:
    page = client.get("/ui/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    assert "addEventListener" in client.get("/ui/static/ui.js").text
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/runs"


def test_an_unknown_page_is_a_404_page_for_the_signed_in(client: TestClient) -> None:
    assert client.get("/ui/nothing/here", follow_redirects=False).status_code == 303
    login(client, "tok-viewer")
    missing = client.get("/ui/nothing/here")
    assert missing.status_code == 404 and "there is no page /ui/nothing/here" in missing.text
    assert client.get("/ui/models/churn/rollback").status_code == 404  # a form's address


def test_a_form_sent_without_a_session_returns_to_its_page_after_the_login(
    client: TestClient,
) -> None:
    sent = client.post(
        "/ui/models/churn/rollback",
        data={"alias": "production"},
        headers={"referer": "http://testserver/ui/models/churn"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/ui/login?next=%2Fui%2Fmodels%2Fchurn"
    elsewhere = client.post(
        "/ui/models/churn/rollback",
        data={"alias": "production"},
        headers={"referer": "https://evil.example/ui/models/churn"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/ui/login?next=%2Fui%2Fruns"
