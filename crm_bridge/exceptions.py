"""Errors raised by the CRM bridge (attention store, migrations, writer)."""

from __future__ import annotations


class CrmBridgeError(Exception):
    """Base of every error the crm_bridge package raises."""


class StoreError(CrmBridgeError):
    """The attention store could not do what was asked."""


class StoreUnavailableError(StoreError):
    """The database could not be reached; the operation may succeed later."""


class RecordRejectedError(StoreError):
    """The database refused these values; retrying the same values cannot help."""


class MigrationError(StoreError):
    """The schema could not be brought up to date."""


class WriterClosedError(StoreError):
    """Something was submitted to an attention writer that was already closed."""


class NotFoundError(StoreError, LookupError):
    """The person, ticket, unit or user asked for does not exist."""


class InvalidValueError(StoreError, ValueError):
    """A value was refused before reaching the database (bad cédula, unknown role...)."""


class ConsentRequiredError(InvalidValueError):
    """A value belongs to a data category the person has not consented to keep."""


class InvalidTransitionError(InvalidValueError):
    """A ticket action is not allowed in the ticket's current status."""


class DeliveryError(CrmBridgeError):
    """A response could not be delivered to the person through its channel."""
