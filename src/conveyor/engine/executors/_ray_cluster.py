"""Finding and joining a Ray cluster: its address checked before Ray is asked to join it (Ray
would retry for minutes, then exit the process), and the head watched while attempts run."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from conveyor.core._errors import ConfigurationError, ExecutorLost

CONNECT_TIMEOUT = 5.0  # seconds to open a connection to a cluster's address before joining it


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigurationError(
            "the ray executor needs Ray: pip install 'conveyor[ray]'", missing="ray"
        ) from exc
    return ray


def check_reachable(address: str) -> None:
    """Fail at once when nothing answers at ``address``: joining it, Ray would retry for
    minutes and then exit the process."""
    target = host_port(address)
    if target is None:
        return  # "auto", or not host:port: Ray looks it up, or says what is wrong with it
    host, port = target
    hosts = [host]
    if is_loopback(host):  # Ray joins a head on this machine at its node address
        hosts.append(import_ray().util.get_node_ip_address())
    problems = []
    for candidate in hosts:
        try:
            with socket.create_connection((candidate, port), timeout=CONNECT_TIMEOUT):
                return
        except OSError as exc:
            problems.append(one_line(exc))
    raise ConfigurationError(
        f"cannot reach a Ray cluster at {address}: {problems[0]}", address=address
    )


def head_address(ray: Any) -> tuple[str, int] | None:
    """Where the cluster's control store (GCS) listens, or None when not known here (a
    ``ray://`` client)."""
    try:
        return host_port(str(ray.get_runtime_context().gcs_address))
    except Exception:  # no such attribute in client mode
        return None


def host_port(address: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit("//" + address.removeprefix("ray://"))
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return (host, port) if host is not None and port is not None else None


def answers(address: tuple[str, int], timeout: float) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_same_cluster(ray: Any, address: str | None) -> None:
    if address is None or address == "auto":
        return
    joined = str(ray.get_runtime_context().gcs_address)
    if canonical(address) != canonical(joined):
        raise ConfigurationError(
            f"this process is already connected to the Ray cluster at {joined}, not "
            f"{address}; RayExecutor() without an address uses that connection",
            address=address,
            connected=joined,
        )


def canonical(address: str) -> str:
    """``host:port`` as Ray joins it: a loopback host is this machine's node address."""
    target = host_port(address)
    if target is None:
        return address
    host, port = target
    if is_loopback(host):
        host = import_ray().util.get_node_ip_address()
    return f"{host}:{port}"


def join(ray: Any, address: str, init_options: Mapping[str, Any]) -> None:
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        ray.init(address=address, **{**options, **init_options})
    except (Exception, SystemExit) as exc:  # Ray exits the process when it cannot connect
        with contextlib.suppress(Exception):
            ray.shutdown()
        if isinstance(exc, ValueError | TypeError):
            raise ConfigurationError(
                f"cannot join the Ray cluster at {address}: {exc}", address=address
            ) from exc
        raise ExecutorLost(
            f"could not join the Ray cluster at {address}: {one_line(exc)}", address=address
        ) from exc


def one_line(exc: BaseException) -> str:
    """An error as one line: its type, and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
