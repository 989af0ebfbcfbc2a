"""Errors of the CRM sync: what adapters, jobs and the relay raise."""

from __future__ import annotations

from crm_bridge.exceptions import CrmBridgeError


class CrmError(CrmBridgeError):
    """The CRM did not do what was asked (the job fails and is retried)."""


class CrmUnavailableError(CrmError):
    """The CRM could not be reached, timed out or answered 5xx."""


class CrmProtocolError(CrmError):
    """The CRM answered something that is not its protocol (garbage, wrong shape)."""


class CrmRejectedError(CrmError):
    """The CRM understood the request and refused it (its error code is in the message)."""


class SyncBusyError(CrmError):
    """Another job holds this entity right now; this one is retried later."""


class DispatchError(CrmBridgeError):
    """The job queue could not take a job (Redis unreachable...); the row stays pending."""
