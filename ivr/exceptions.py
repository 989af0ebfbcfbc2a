"""Errors of the IVR package that cross its boundary.

Everything the IVR raises on purpose derives from IvrError, so the composition
root can catch one family.
"""

from __future__ import annotations


class IvrError(Exception):
    """Base of every error the IVR raises on purpose."""


class AgiProtocolError(IvrError):
    """The peer sent something that is not AGI (or not AGI we accept)."""


class AgiCommandError(IvrError, ValueError):
    """A command could not be built safely (bad token, too long)."""


class AgiHangup(IvrError):
    """The channel hung up (HANGUP notice, 511 reply or the socket closed)."""


class AgiTimeout(IvrError):
    """Asterisk did not answer a command in time."""


class FlowError(IvrError, ValueError):
    """A flow file is invalid. The message names the file and the node."""

    def __init__(self, source: str, node: str | None, problem: str) -> None:
        where = f"{source}: node '{node}'" if node is not None else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.node = node
        self.problem = problem


class FlowRuntimeError(IvrError):
    """A flow reached a state it cannot leave (a loop with no action, a missing value)."""


class ServicesUnavailable(IvrError):
    """The product's services (database, CRM) could not answer."""
