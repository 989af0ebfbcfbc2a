"""Database errors as the store's own exceptions, for the citizen services.

Messages name the failure and never the values (see attentions._translate):
statement parameters are names, phone numbers and documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from crm_bridge.attentions import _translate


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise SQLAlchemy errors inside the block as StoreError subclasses."""
    try:
        yield
    except SQLAlchemyError as err:
        raise _translate(err, what) from err
