"""What flows through the bounded queue between the AMI socket and the tracker.

The protocol puts every AMI event it reads (including the list entries that
answer the resync actions: CoreShowChannel, QueueParams, QueueMember,
QueueEntry and their ...Complete markers) into the queue as a header mapping,
in the order Asterisk sent them. The connection adds the markers below so the
tracker knows when the stream was broken and when a resync starts and ends.
"""

from __future__ import annotations

from dataclasses import dataclass

# Header name -> value, as Asterisk sent them. A header that appears more than
# once (ChanVariable, for example) keeps every value, joined with "\n" (AMI
# values can never hold a newline, so the join is lossless).
Headers = dict[str, str]


@dataclass(frozen=True, slots=True)
class Connected:
    """A new AMI session was logged in; `at` is the bridge's wall clock."""

    at: float


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The session ended (socket closed, ping unanswered, Asterisk shut down)."""

    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class ResyncStarted:
    """The list events that follow, up to ResyncFinished, describe the whole
    state of Asterisk at this point: what they do not mention no longer exists."""

    at: float


@dataclass(frozen=True, slots=True)
class ResyncFinished:
    at: float


StreamMarker = Connected | Disconnected | ResyncStarted | ResyncFinished
StreamItem = Headers | StreamMarker
