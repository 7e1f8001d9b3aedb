"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests._postgres import PostgresServer, find_bin_dir

# --- PostgreSQL (store tests) ------------------------------------------------------------------
# One real server per session, a fresh database per test. Without the server binaries the
# tests skip locally and fail in CI, where the test script installs them.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL server binaries not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_session_url(postgres_server: PostgresServer) -> str:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/conveyor_test``, shared by the session."""
    return postgres_server.url("conveyor_test")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL to a new, empty database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


# --- end PostgreSQL ----------------------------------------------------------------------------


# -- CI: a skipped test is a failure ---------------------------------------------------------
# Locally a test that needs a missing component may skip with its reason; in CI every component
# is installed by the test script, so a skip there means something silently did not run.


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        for report in skipped:
            reporter.write_line(f"CI: skipped test counts as a failure: {report.nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
