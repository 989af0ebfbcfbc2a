"""What the logs may show of a person: masked numbers, documents and names."""

from __future__ import annotations

from crm_bridge.phones import mask_number

__all__ = ["mask_document", "mask_name", "mask_number"]


def mask_document(value: str | None) -> str:
    """A document keeps its last two characters (enough to tell two apart in a log)."""
    if not value:
        return "<none>"
    return "*" * max(0, len(value) - 2) + value[-2:]


def mask_name(value: str | None) -> str:
    """Initials only: `Ana Gómez` becomes `A. G.`."""
    if not value or not value.strip():
        return "<none>"
    return " ".join(f"{part[0]}." for part in value.split())
