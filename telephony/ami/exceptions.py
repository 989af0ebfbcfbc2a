"""Errors of the AMI connection, as seen by code that sends actions."""

from __future__ import annotations

from telephony.exceptions import TelephonyError


class AmiError(TelephonyError):
    """Base of every AMI connection error."""


class AmiNotConnected(AmiError):
    """There is no logged-in AMI session to send the action on."""


class AmiTimeout(AmiError):
    """Asterisk did not answer the action in time (the session stays up)."""


class AmiActionFailed(AmiError):
    """Asterisk answered the action with `Response: Error`."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} refused by Asterisk: {message}")
        self.action = action
        self.message = message


class ActionOutcomeUnknown(AmiError):
    """The session ended after a non-idempotent action was sent and before its
    reply arrived: Asterisk may or may not have run it. The bridge never sends
    it again; the caller must look at the state (channels, queue members)
    before deciding to retry."""

    def __init__(self, action: str, action_id: str) -> None:
        super().__init__(
            f"{action} (ActionID {action_id}) was sent but the AMI session ended before "
            "its reply: check the state before retrying"
        )
        self.action = action
        self.action_id = action_id


class AmiLoginFailed(AmiError):
    """Asterisk refused the username/secret (the secret is never in the message)."""
