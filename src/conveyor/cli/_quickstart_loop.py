"""The quickstart's closing act: a monitor watches production, a new vintage drifts, and the
loop closes on its own: alert, webhook, retraining on the new data, gate, promotion, hot swap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pandas as pd

from conveyor.cli._quickstart_serve import post, wait
from conveyor.core import Settings

_CLIENTS = 8


def close_the_loop(
    url: str, settings: Settings, pipeline_file: Path, new_vintage: pd.DataFrame
) -> None:
    folder = pipeline_file.parent
    import conveyor as cv

    click.secho("\n8. A monitor watches production; a new vintage arrives and drifts", bold=True)
    with _receiver() as (hook_url, received):
        cv.monitor(
            name="wine-drift",
            model="wine@production",
            window=400,  # the latest 400 requests: the new vintage's
            min_rows=200,
            rules=[cv.DriftRule(share_of_features=0.25, psi=0.2)],
            actions=[
                cv.Webhook(hook_url),
                cv.Retrain(pipeline=f"{pipeline_file}:wine", params={"n_estimators": 200}),
                cv.Promote(alias="production", gate=cv.Gate(min={"accuracy": 0.8})),
            ],
            settings=settings,
        )
        click.echo(
            "   cv.monitor('wine-drift', 'wine@production', window=400, rules=[DriftRule(...)], "
            "actions=[Webhook, Retrain, Promote])"
        )
        records = _records(new_vintage)
        before = cv.models.get("wine@production", settings=settings).version
        with _traffic(url, records) as answers:
            wait(lambda: len(answers) >= 500)
            time.sleep(1.5)  # the server writes its prediction log every second
            click.echo(
                f"   {len(answers)} requests of the new vintage answered so far; in another "
                "process, as the scheduler would: conveyor monitor check wine-drift"
            )
            _check_in_another_process(folder)
            for body in received:
                click.echo(
                    f"   the webhook received: monitor={body['monitor']} "
                    f"version={body['version']} drifted={body['drifted']}"
                )
            after = cv.models.get("wine@production", settings=settings).version
            if after != before:
                mark = len(answers)
                wait(lambda: any(v == after for _, v in answers[mark:]))
                time.sleep(0.5)
        failed = sum(1 for status, _ in answers if status != 200)
        versions = sorted({v for _, v in answers if v is not None})
        if after != before:
            click.echo(
                f"   production moved {before} → {after}; {len(answers)} requests answered by "
                f"versions {versions}: {failed} failed"
            )
        else:
            click.echo(f"   production stays on version {before}; {failed} requests failed")
        click.echo("   conveyor monitor history wine-drift   # every evaluation and action")


def _check_in_another_process(folder: Path) -> None:
    """The monitor runs beside the server, not in it: retraining is heavy work that a
    serving process should not carry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "monitor", "check", "wine-drift"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (done.stdout + done.stderr).splitlines():
        click.echo(f"   {line}")
    if done.returncode != 0:
        raise click.ClickException(f"conveyor monitor check exited {done.returncode}")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    frame = frame.assign(
        flavanoid_share=frame["flavanoids"] / frame["total_phenols"],
        color_per_hue=frame["color_intensity"] / frame["hue"],
    )
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]


@contextmanager
def _traffic(url: str, records: list[dict[str, Any]]) -> Iterator[list[tuple[int, Any]]]:
    """Clients sending the records until the block ends; yields (status, version) answers."""
    answers: list[tuple[int, Any]] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        i = offset
        while not stop.is_set():
            body = json.dumps({"records": [records[i % len(records)]]}).encode()
            status, answer = post(f"{url}/predict", body)
            answers.append((status, answer.get("version") if isinstance(answer, dict) else None))
            i += _CLIENTS

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


@contextmanager
def _receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint standing in for a team's chat or paging webhook."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhook", received
    finally:
        server.shutdown()
