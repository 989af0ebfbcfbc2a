"""Free TCP ports: tests never bind fixed ones (`make demo` may hold 8080, 9464...)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for port 0).

    Prefer binding port 0 in the server itself and reading the port back;
    this is for processes that must be told their port before they start."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def closed_port() -> int:
    """A port where a connection is refused: a service that is down."""
    return free_port()
