"""``conveyor serve``: check the references, then run the server on uvicorn."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import click

from conveyor.core._errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from conveyor.serving import ServingOptions

_GRACEFUL_SHUTDOWN_S = 30


@click.command("serve")
@click.argument("refs", nargs=-1, required=True, metavar="NAME@ALIAS...")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes; each batches its own requests.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most rows in one predict call.",
)
@click.option(
    "--max-latency-ms",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Longest a request waits for others to join its batch.",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    default=None,
    help="Require an API key: the environment variable VAR holds the key(s), comma-separated.",
)
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between reads of the aliases served (a moved alias is hot-swapped).",
)
@click.option(
    "--max-body-mb",
    type=click.FloatRange(min=0.001),
    default=10.0,
    show_default=True,
    help="Largest request body accepted (413 beyond).",
)
@click.option("--no-prediction-log", is_flag=True, help="Do not log requests and predictions.")
@click.option(
    "--no-logged-probabilities",
    is_flag=True,
    help="Do not compute and log a binary classifier's probability with each prediction "
    "(live AUC needs it).",
)
@click.option(
    "--monitor-metrics-ttl",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long /metrics reuses the monitor evaluations it read from the store.",
)
@click.option("--access-log", is_flag=True, help="Log every request line (uvicorn's log).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--print-k8s",
    is_flag=True,
    help="Print a Kubernetes Deployment, Service and HorizontalPodAutoscaler, and exit.",
)
@click.option(
    "--image",
    default="conveyor:latest",
    show_default=True,
    help="Container image for --print-k8s.",
)
def serve_command(
    refs: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
    max_batch_size: int,
    max_latency_ms: float,
    api_key_env: str | None,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    poll_interval: float,
    max_body_mb: float,
    no_prediction_log: bool,
    no_logged_probabilities: bool,
    monitor_metrics_ttl: float,
    access_log: bool,
    log_level: str,
    print_k8s: bool,
    image: str,
) -> None:
    """Serve registered models over HTTP: conveyor's /predict, the Open Inference Protocol
    (/v2/...) and MLflow's /invocations, with adaptive batching, /metrics for Prometheus,
    a prediction log, and hot swaps when an alias moves.

    \b
    Examples:
      conveyor serve churn@production
      conveyor serve churn@production fraud@production --port 9000 --workers 2
    """
    from conveyor.serving._options import ServingOptions

    options = ServingOptions(
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        poll_interval_s=poll_interval,
        log_predictions=not no_prediction_log,
        log_probabilities=not no_logged_probabilities,
        monitor_metrics_ttl_s=monitor_metrics_ttl,
    )
    if print_k8s:
        from conveyor.serving._k8s import manifests

        args = [
            f"--workers={workers}",
            f"--max-batch-size={max_batch_size}",
            f"--max-latency-ms={max_latency_ms:g}",
        ]
        if api_key_env:
            args.append(f"--api-key-env={api_key_env}")
        args += [flag for flag, on in _OFF_FLAGS.items() if on(options)]
        click.echo(manifests(refs, args=args, port=port, image=image), nl=False)
        return
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ConfigurationError("TLS needs both --ssl-certfile and --ssl-keyfile")
    _serve(
        refs,
        options,
        api_key_env,
        host,
        port,
        workers,
        ssl_certfile,
        ssl_keyfile,
        access_log,
        log_level,
    )


_OFF_FLAGS: dict[str, Callable[[ServingOptions], bool]] = {
    "--no-prediction-log": lambda o: not o.log_predictions,
    "--no-logged-probabilities": lambda o: not o.log_probabilities,
}


def _serve(
    refs: tuple[str, ...],
    options: ServingOptions,
    api_key_env: str | None,
    host: str,
    port: int,
    workers: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    access_log: bool,
    log_level: str,
) -> None:
    import uvicorn

    from conveyor.cli._commands import settings
    from conveyor.registry._versions import resolve
    from conveyor.serving import create_app
    from conveyor.serving._factory import CONFIG_ENV, api_keys

    keys = api_keys(api_key_env)  # fail before starting if the variable is empty
    current = settings()
    for ref in refs:  # an unknown model or alias is an error now, not an unready server
        found = resolve(ref, settings=current)
        click.echo(f"serving {ref} (version {found.version}, {found.flavor})", err=True)
    common: dict[str, object] = {
        "host": host,
        "port": port,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "access_log": access_log,
        "log_level": log_level,
        "timeout_graceful_shutdown": _GRACEFUL_SHUTDOWN_S,
        "server_header": False,
        "log_config": _log_config(log_level),
    }
    if workers == 1:
        app = create_app(refs, settings=current, options=replace(options, api_keys=keys))
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    config = {
        "refs": list(refs),
        "options": {k: v for k, v in asdict(options).items() if k != "api_keys"},
        "api_key_env": api_key_env,
    }
    os.environ[CONFIG_ENV] = json.dumps(config)
    # each worker counts on its own; /metrics sums the workers' files
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="conveyor-metrics-"))
    uvicorn.run(
        "conveyor.serving._factory:app_from_environment",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )


def _log_config(level: str) -> dict[str, object]:
    """uvicorn's logging, with the server's own messages (swaps, load failures) beside it."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    loggers: dict[str, object] = config["loggers"]
    loggers["conveyor"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
