"""A throwaway S3 API for the test session: moto's server, run as its own process.

The server listens on 127.0.0.1 on a free port and accepts any credentials. A process reaches it
the way a deployment reaches MinIO or another S3-compatible store, through the environment
(``env()``): the endpoint in ``AWS_ENDPOINT_URL`` and credentials in the usual variables. Tests
get a fresh bucket each (``create_bucket``), so one server serves the whole session.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving._servers import free_port

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "conveyor-test",
    "AWS_SECRET_ACCESS_KEY": "conveyor-test-secret",
    "AWS_DEFAULT_REGION": REGION,
}
# Shared credentials or a profile on the test machine must not take the place of the above.
IGNORED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3")


def missing() -> str | None:
    """Why an S3 server cannot run here, or None when it can."""
    for module in ("moto.server", "s3fs", "boto3"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return f"{module} is not installed (pip install -e '.[dev]')"
    return None


def session_server() -> Iterator[MotoS3]:
    """The body of a fixture giving a running server, stopped at its end. Without moto the
    tests skip locally and fail in CI, where the dev extras are installed."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = MotoS3()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


class MotoS3:
    """Start with ``start()``, stop with ``stop()``; ``endpoint`` is its URL once started."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="conveyor-s3-"))
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, attempts: int = 3) -> None:
        # Another process may take the free port between choosing it and binding it: try again.
        for _ in range(attempts):
            port = free_port()
            log = self.root / f"moto-{port}.log"
            with log.open("wb") as out:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                )
            self.endpoint = f"http://127.0.0.1:{port}"
            if self._wait(120):
                return
            self.stop()
        raise RuntimeError(f"the moto S3 server did not start:\n{self.log()}")

    def _wait(self, timeout: float) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.endpoint}/moto-api/", timeout=5).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def log(self) -> str:
        logs = sorted(self.root.glob("moto-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace")[-4000:] if logs else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """The variables that point a process's S3 clients at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def process_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) pointed at this server."""
        env = {k: v for k, v in (base or dict(os.environ)).items() if k not in IGNORED}
        return {**env, **self.env()}

    def client(self) -> Any:
        """A boto3 S3 client of this server, apart from any filesystem under test."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, client: Any = None) -> str:
        name = f"conveyor-{uuid.uuid4().hex[:20]}"
        (client or self.client()).create_bucket(Bucket=name)
        return name


def keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every key in ``bucket`` under ``prefix``, sorted."""
    found: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(item["Key"] for item in page.get("Contents", ()))
    return sorted(found)
