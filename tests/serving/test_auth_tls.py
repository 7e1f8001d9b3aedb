"""API keys on every route but the probes, compared in constant time; TLS through uvicorn."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from conveyor.serving import create_app
from tests.serving._servers import free_port, wait_until
from tests.serving.conftest import Registered, wait_loaded

ROW = {"data": [[1.0] * 30]}


@pytest.fixture
def locked(registered: Registered) -> Iterator[TestClient]:
    app = create_app(
        "bc@production",
        settings=registered.settings,
        api_keys=["s3cret", "other-key"],
        log_predictions=False,
    )
    with TestClient(app) as client:
        wait_loaded(client)
        yield client


def test_requests_without_a_key_are_refused(locked: TestClient) -> None:
    answer = locked.post("/predict", json=ROW)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "needs an API key" in answer.json()["error"]["message"]
    assert locked.get("/metrics").status_code == 401


def test_a_wrong_key_is_refused(locked: TestClient) -> None:
    answer = locked.post("/predict", json=ROW, headers={"Authorization": "Bearer s3cre"})
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "the API key is not valid"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer s3cret"},
        {"authorization": "bearer other-key"},
        {"X-API-Key": "s3cret"},
    ],
)
def test_any_configured_key_is_accepted(locked: TestClient, headers: dict[str, str]) -> None:
    assert locked.post("/predict", json=ROW, headers=headers).status_code == 200


def test_probes_need_no_key(locked: TestClient) -> None:
    assert locked.get("/healthz").status_code == 200
    assert locked.get("/readyz").status_code == 200


def test_an_empty_key_is_a_configuration_error(registered: Registered) -> None:
    from conveyor.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="must not be empty"):
        create_app("bc@production", settings=registered.settings, api_keys=[""])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.slow
def test_tls_with_a_certificate(registered: Registered, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    app = create_app("bc@production", settings=registered.settings, log_predictions=False)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 60, "the TLS server did not start")
        trusted = ssl.create_default_context(cafile=str(cert))
        url = f"https://127.0.0.1:{port}"
        with httpx.Client(verify=trusted) as client:
            wait_until(lambda: client.get(f"{url}/readyz").status_code == 200, 60, "not ready")
            assert client.post(f"{url}/predict", json=ROW).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz")  # the default trust store does not know the certificate
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # plain HTTP is not served
    finally:
        server.should_exit = True
        thread.join(timeout=30)
