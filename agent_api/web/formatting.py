"""How the pages write dates, times and phone numbers (pure; Uruguay's conventions).

Dates dd/mm/aaaa, times 24 h, in the centre's time zone; phone numbers in one
format everywhere: the national format for numbers of the centre's region
(``099 123 456``, ``2901 1234``), the international one for the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import phonenumbers


def local(moment: datetime | float | None, zone: ZoneInfo) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    if moment.tzinfo is None:
        # The store keeps naive UTC in a few columns (SQLite in the demo).
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def date_time(moment: datetime | float | None, zone: ZoneInfo) -> str:
    """dd/mm/aaaa HH:MM, or an empty string for no date."""
    value = local(moment, zone)
    return "" if value is None else value.strftime("%d/%m/%Y %H:%M")


def date_only(moment: datetime | float | None, zone: ZoneInfo) -> str:
    value = local(moment, zone)
    return "" if value is None else value.strftime("%d/%m/%Y")


def time_only(moment: datetime | float | None, zone: ZoneInfo) -> str:
    value = local(moment, zone)
    return "" if value is None else value.strftime("%H:%M:%S")


def phone(number: str | None, region: str = "UY") -> str:
    """One format for every number shown; what cannot be parsed is shown as given."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    if phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def duration(seconds: float | None) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"
