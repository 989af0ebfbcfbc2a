"""Errors of the telephony package that cross its boundary.

Everything the rest of the product may catch from telephony derives from
TelephonyError, so callers (the agent API, the IVR) can map one family of
errors to a clear answer. The AMI-specific errors live in
telephony.ami.exceptions and derive from these.
"""

from __future__ import annotations


class TelephonyError(Exception):
    """Base of every error telephony raises on purpose."""


class InvalidActionValue(TelephonyError, ValueError):
    """A value meant for an AMI action was refused before it was sent.

    `field` names the offending field so the API can tell the user which
    input was wrong without echoing the (possibly hostile) value back.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class QueueConfigError(TelephonyError):
    """Asterisk's queues.conf could not be read; names the file and line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem
