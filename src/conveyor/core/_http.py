"""Sending one HTTP request with retries: what reading a paged API and calling a webhook share.

5xx and 429 answers, timeouts and connection errors are retried, waiting ``backoff * 2**n``
seconds before retry ``n``; any other 4xx says the request itself is wrong and is not. Only the
standard library speaks HTTP (``urllib.request``), imported on first use: it pulls in ssl and
email, too much for ``import conveyor``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import urllib.request
    from email.message import Message

_SNIPPET = 200  # characters of a response body a message shows


class HttpFailure(Exception):
    """The request did not succeed. ``problem`` says why, without the URL (the caller shows
    the URL as it may: it can hold secrets); ``status`` is the last HTTP status, if any."""

    def __init__(self, problem: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(problem)
        self.problem = problem
        self.status = status
        self.attempts = attempts


def send(
    request: urllib.request.Request, *, timeout: float, retries: int, backoff: float
) -> tuple[bytes, Message, str]:
    """The body, headers and final URL (after redirects) of a 2xx answer to ``request``.

    Raises:
        HttpFailure: a 4xx other than 429 at once ("HTTP 404 Not Found: 'body…'"), a URL that
            cannot be used, or what the last attempt met once the retries are spent
            ("HTTP 503 after 3 attempts").
    """
    import http.client
    import urllib.error
    import urllib.request

    attempts = retries + 1
    problem = ""
    status: int | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read(), response.headers, response.geturl()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, _error_body(exc)
            if exc.code < 500 and exc.code != 429:  # 429 passes with time, like a 5xx
                raise HttpFailure(
                    f"HTTP {exc.code} {exc.reason}: {snippet(body)}", status=exc.code
                ) from None
            problem = f"HTTP {exc.code}"
        except ValueError as exc:  # urllib's word for a URL it cannot use
            raise HttpFailure(str(exc)) from None
        except TimeoutError:
            status, problem = None, f"no answer within {timeout:g} s"
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            status, problem = None, _connection_problem(exc, timeout)
    raise HttpFailure(
        f"{problem} after {attempts} attempt{'s' if attempts > 1 else ''}",
        status=status,
        attempts=attempts,
    )


def snippet(body: bytes) -> str:
    """The start of a response body, on one line, for a message."""
    text = " ".join(body.decode("utf-8", "replace").split())
    if not text:
        return "(empty body)"
    return repr(text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…")


def _error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(64 * 1024)
    except Exception:  # the body is only for the message: a status without it still says enough
        return b""
    finally:
        exc.close()


def _connection_problem(exc: BaseException, timeout: float) -> str:
    reason = getattr(exc, "reason", exc)  # URLError wraps the socket's error
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"connection failed ({reason})"
