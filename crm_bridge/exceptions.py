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
