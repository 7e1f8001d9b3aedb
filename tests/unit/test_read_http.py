"""``read_http`` against a real HTTP server on 127.0.0.1 that answers from a script of replies
per path: pages, links between them, failures that pass and failures that last."""

from __future__ import annotations

import json
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pytest

import conveyor as cv
from conveyor.data._dataset import persist
from conveyor.data._http import HttpPartition, read_http
from conveyor.errors import ConveyorError, DataSourceError
from conveyor.testing import MemoryArtifactStore

BACKOFF = 0.01  # retries wait 10, 20, 40 ms


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded, unless bytes (sent as they are)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering


class FakeApi:
    """What the server answers, by request path (with the query): each request takes the next
    reply of its path's script, and the last reply repeats. Unknown paths get a 404."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.replies: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def route(self, path: str, *replies: Reply) -> str:
        """Script the replies to ``path``; returns its full URL."""
        self.replies[path] = list(replies)
        return self.base + path

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def next_reply(self, path: str, headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append((path, headers))
            script = self.replies.get(path)
            if not script:
                return Reply(404, {"error": f"no route {path}"})
            return script.pop(0) if len(script) > 1 else script[0]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake: FakeApi

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = fake.next_reply(self.path, dict(self.headers))
            time.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (the timeout tests)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakeApi(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def records(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"r{i}"} for i in range(start, stop)]


def ids(dataset: cv.Dataset) -> list[int]:
    values: list[int] = dataset.to_arrow().column("id").to_pylist()
    return values


# -- where the records are -------------------------------------------------------------------


def test_a_bare_json_list_is_the_records(api: FakeApi) -> None:
    url = api.route("/items", Reply(body=records(0, 3)))
    table = read_http(url).to_arrow()
    assert table.to_pylist() == records(0, 3)
    assert table.schema == pa.schema([("id", pa.int64()), ("name", pa.string())])


def test_records_are_found_under_the_data_key_by_default(api: FakeApi) -> None:
    url = api.route("/items", Reply(body={"data": records(0, 2), "total": 2}))
    assert ids(read_http(url)) == [0, 1]


def test_records_key_names_where_the_records_are(api: FakeApi) -> None:
    url = api.route("/items", Reply(body={"results": records(0, 2), "count": 2}))
    assert ids(read_http(url, records_key="results")) == [0, 1]


def test_records_with_different_fields_make_one_table_with_nulls(api: FakeApi) -> None:
    url = api.route("/items", Reply(body=[{"id": 1, "a": "x"}, {"id": 2, "b": 2.5}]))
    table = read_http(url).to_arrow()
    assert table.column_names == ["id", "a", "b"]
    assert table.to_pylist() == [{"id": 1, "a": "x", "b": None}, {"id": 2, "a": None, "b": 2.5}]


def test_a_missing_records_key_is_reported_with_the_keys_the_body_has(api: FakeApi) -> None:
    url = api.route("/items", Reply(body={"results": [], "count": 0}))
    with pytest.raises(DataSourceError, match=r"'data' is missing.*'results', 'count'"):
        read_http(url).to_arrow()


# -- following pages -------------------------------------------------------------------------


def test_next_in_the_body_is_followed_absolute_or_relative(api: FakeApi) -> None:
    second = api.base + "/items?page=2"
    url = api.route("/items", Reply(body={"data": records(0, 2), "next": second}))
    api.route("/items?page=2", Reply(body={"data": records(2, 4), "next": "?page=3"}))
    api.route("/items?page=3", Reply(body={"data": records(4, 5), "next": None}))
    dataset = read_http(url)
    assert [t.num_rows for t in dataset.iter_tables()] == [2, 2, 1]
    assert ids(dataset) == [0, 1, 2, 3, 4]


def test_a_relative_next_path_is_resolved_against_the_page(api: FakeApi) -> None:
    url = api.route("/v1/items", Reply(body={"data": records(0, 1), "next": "more"}))
    api.route("/v1/more", Reply(body={"data": records(1, 2)}))
    assert ids(read_http(url)) == [0, 1]


def test_a_relative_next_is_resolved_against_the_url_a_redirect_led_to(api: FakeApi) -> None:
    url = api.route("/items", Reply(302, b"", headers={"Location": "/v2/items"}))
    api.route("/v2/items", Reply(body={"data": records(0, 1), "next": "more"}))
    api.route("/v2/more", Reply(body={"data": records(1, 2)}))
    assert ids(read_http(url)) == [0, 1]


def test_a_link_header_with_rel_next_is_followed(api: FakeApi) -> None:
    link = f'<{api.base}/items?page=2>; rel="next", <{api.base}/items?page=9>; rel="last"'
    url = api.route("/items", Reply(body=records(0, 2), headers={"Link": link}))
    api.route("/items?page=2", Reply(body=records(2, 3)))
    assert ids(read_http(url)) == [0, 1, 2]


def test_pages_caps_how_many_pages_are_read(api: FakeApi) -> None:
    url = api.route("/p1", Reply(body={"data": records(0, 2), "next": "/p2"}))
    api.route("/p2", Reply(body={"data": records(2, 4), "next": "/p3"}))
    api.route("/p3", Reply(body={"data": records(4, 6)}))
    assert ids(read_http(url, pages=2)) == [0, 1, 2, 3]
    assert api.hits("/p3") == 0


def test_pages_that_link_in_a_circle_are_refused(api: FakeApi) -> None:
    url = api.route("/a", Reply(body={"data": records(0, 1), "next": "/b"}))
    api.route("/b", Reply(body={"data": records(1, 2), "next": "/a"}))
    with pytest.raises(DataSourceError, match="round in a circle"):
        read_http(url).to_arrow()


def test_empty_pages_give_an_empty_table(api: FakeApi) -> None:
    url = api.route("/items", Reply(body={"data": []}))
    assert read_http(url).to_arrow().num_rows == 0


def test_headers_are_sent_and_never_shown(api: FakeApi) -> None:
    url = api.route("/items", Reply(body=records(0, 1)))
    dataset = read_http(url, headers={"Authorization": "Bearer s3cret"})
    dataset.to_arrow()
    (_, sent), *_ = api.requests
    assert sent["Authorization"] == "Bearer s3cret" and sent["Accept"] == "application/json"
    assert "s3cret" not in repr(dataset.partitions[0]) + repr(dataset)


# -- retries and failures --------------------------------------------------------------------


def test_a_server_error_is_retried_and_then_the_page_is_read(api: FakeApi) -> None:
    url = api.route("/items", Reply(500, {"error": "busy"}), Reply(body=records(0, 2)))
    assert ids(read_http(url, backoff=BACKOFF)) == [0, 1]
    assert api.hits("/items") == 2


def test_a_lasting_server_error_fails_after_the_retries_with_the_count(api: FakeApi) -> None:
    url = api.route("/items?page=3", Reply(503, {"error": "down"}))
    with pytest.raises(DataSourceError) as caught:
        read_http(url, retries=3, backoff=BACKOFF).to_arrow()
    assert str(caught.value) == f"GET {url}: HTTP 503 after 4 attempts"
    assert caught.value.details["attempts"] == 4 and caught.value.details["status"] == 503
    assert api.hits("/items?page=3") == 4


def test_retries_wait_longer_each_time(api: FakeApi) -> None:
    url = api.route("/items", Reply(500))
    started = time.perf_counter()
    with pytest.raises(DataSourceError, match="after 3 attempts"):
        read_http(url, retries=2, backoff=0.05).to_arrow()
    assert time.perf_counter() - started >= 0.05 + 0.1


def test_a_timeout_is_retried_and_then_reported(api: FakeApi) -> None:
    url = api.route("/slow", Reply(body=records(0, 1), delay=0.5))
    with pytest.raises(DataSourceError) as caught:
        read_http(url, timeout=0.05, retries=1, backoff=BACKOFF).to_arrow()
    assert str(caught.value) == f"GET {url}: no answer within 0.05 s after 2 attempts"
    assert api.hits("/slow") == 2


def test_a_slow_answer_then_a_quick_one_succeeds(api: FakeApi) -> None:
    url = api.route("/slow", Reply(body=records(0, 1), delay=1.0), Reply(body=records(0, 2)))
    assert ids(read_http(url, timeout=0.3, retries=1, backoff=BACKOFF)) == [0, 1]


def test_a_client_error_fails_at_once_with_the_status_and_the_body(api: FakeApi) -> None:
    url = api.route("/items", Reply(404, {"error": "no such collection"}))
    with pytest.raises(DataSourceError) as caught:
        read_http(url, retries=3, backoff=BACKOFF).to_arrow()
    message = str(caught.value)
    assert message.startswith(f"GET {url}: HTTP 404 Not Found: ")
    assert "no such collection" in message and caught.value.details["status"] == 404
    assert api.hits("/items") == 1


def test_too_many_requests_is_retried(api: FakeApi) -> None:
    url = api.route("/items", Reply(429, {"error": "slow down"}), Reply(body=records(0, 1)))
    assert ids(read_http(url, backoff=BACKOFF)) == [0]


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/items"
    with pytest.raises(DataSourceError, match=r"connection failed .* after 2 attempts"):
        read_http(url, retries=1, backoff=BACKOFF).to_arrow()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>oops</html>", "not valid JSON"),
        (b'"just a string"', "expected a JSON list of records"),
        (b"[1, 2, 3]", "record 0 is int, not a JSON object"),
        (b'{"data": {"id": 1}}', "'data' is not a list"),
    ],
)
def test_a_body_without_a_list_of_records_names_the_url(
    api: FakeApi, body: bytes, problem: str
) -> None:
    url = api.route("/items", Reply(body=body))
    with pytest.raises(DataSourceError, match=problem) as caught:
        read_http(url).to_arrow()
    assert f"GET {url}" in str(caught.value)


def test_secret_query_values_are_hidden_in_messages(api: FakeApi) -> None:
    url = api.route("/items?api_key=s3cret&page=2", Reply(404, {}))
    with pytest.raises(DataSourceError) as caught:
        read_http(url).to_arrow()
    assert "s3cret" not in str(caught.value) and "api_key=***&page=2" in str(caught.value)


# -- the dataset -----------------------------------------------------------------------------


def test_nothing_is_fetched_until_rows_are_read(api: FakeApi) -> None:
    url = api.route("/items", Reply(body=records(0, 1)))
    dataset = read_http(url)
    assert api.requests == []
    assert dataset.partitions[0].describe() is None
    assert ids(dataset) == [0]


def test_the_partition_pickles_and_reads_again(api: FakeApi) -> None:
    url = api.route("/items", Reply(body=records(0, 2)))
    part = read_http(url, version="v1").partitions[0]
    again = pickle.loads(pickle.dumps(part))
    assert isinstance(again, HttpPartition) and again == part
    assert again.read().num_rows == 2


def test_a_dataset_kept_by_a_step_is_stored_one_part_per_page(api: FakeApi) -> None:
    url = api.route("/p1", Reply(body={"data": records(0, 2), "next": "/p2"}))
    api.route("/p2", Reply(body={"data": records(2, 5)}))
    stored = persist(read_http(url), MemoryArtifactStore())  # what the engine does on return
    assert [p.num_rows for p in stored.partitions] == [2, 3]
    assert all(p.describe() is not None for p in stored.partitions)
    api.replies.clear()  # the stored copy no longer needs the API
    assert ids(stored) == [0, 1, 2, 3, 4]


def test_every_dataset_has_a_new_fingerprint_unless_a_version_is_given() -> None:
    url = "http://example.invalid/items"
    assert read_http(url).fingerprint() != read_http(url).fingerprint()
    assert read_http(url, version="1").fingerprint() == read_http(url, version="1").fingerprint()
    assert read_http(url, version="1").fingerprint() != read_http(url, version="2").fingerprint()


@pytest.mark.parametrize(
    ("url", "options", "problem"),
    [
        ("file:///etc/passwd", {}, "http:// or https://"),
        ("http://x/items", {"pages": 0}, "pages must be >= 1"),
        ("http://x/items", {"retries": -1}, "retries must be >= 0"),
        ("http://x/items", {"timeout": 0}, "timeout must be > 0"),
    ],
)
def test_bad_arguments_are_refused_at_once(url: str, options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConveyorError, match=problem):
        read_http(url, **options)
