"""Database errors as the store's own exceptions.

Messages name the failure and never the values: statement parameters are
names, phone numbers and documents. Every store module (attentions, the
outbox, the citizen services) translates through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import (
    DataError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from crm_bridge.exceptions import RecordRejectedError, StoreError, StoreUnavailableError


def translate_error(err: SQLAlchemyError, what: str) -> StoreError:
    """`err` as the store's own exception, `what` naming the operation."""
    # Messages name the failure, never the values: SQLAlchemy's own text
    # carries the statement's parameters (caller numbers and names).
    orig = getattr(err, "orig", None)
    kind = type(orig if orig is not None else err).__name__
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        kind = f"{kind} [{sqlstate}]"
    if isinstance(err, IntegrityError | DataError):
        return RecordRejectedError(f"{what}: the database refused the values ({kind})")
    detail = str(orig if orig is not None else err).strip().splitlines()
    reason = f"{kind}: {detail[0]}" if detail else kind
    if isinstance(err, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return StoreUnavailableError(f"{what}: database unavailable ({reason})")
    return StoreError(f"{what}: {reason}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise SQLAlchemy errors inside the block as StoreError subclasses."""
    try:
        yield
    except SQLAlchemyError as err:
        raise translate_error(err, what) from err
