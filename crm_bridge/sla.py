"""Service-level due dates in business hours (pure).

The calendar is the one the IVR keeps too (citizen.calendar.BusinessHours,
taken from the flow by ivr.flows.Flow.business_hours): the same weekly
opening ranges, Uruguay's national holidays and the centre's extra closed or
open days decide both when the phone is answered and how much of a ticket's
allowance a day consumes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from citizen.calendar import WEEKDAYS, BusinessHours, parse_range

# A calendar with no opening hours in this many days has none at all.
_HORIZON_DAYS = 3 * 366


def office_hours(
    ranges: str = "09:00-17:00",
    *,
    timezone: str = "America/Montevideo",
    days: tuple[str, ...] = WEEKDAYS[:5],
    extra_holidays: frozenset[dt.date] = frozenset(),
) -> BusinessHours:
    """Business hours open the same ranges ("09:00-13:00,14:00-18:00") every day of `days`."""
    parsed = tuple(parse_range(part) for part in ranges.split(","))
    return BusinessHours(
        timezone=timezone,
        weekly={day: parsed for day in days},
        extra_holidays=extra_holidays,
    )


def _open_spans(
    hours: BusinessHours, start: dt.datetime
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Opening spans from `start` on, in order, the first one cut at `start`."""
    zone = ZoneInfo(hours.timezone)
    local_start = start.astimezone(zone)
    day = local_start.date()
    for _ in range(_HORIZON_DAYS):
        if not hours.is_holiday(day):
            for span in sorted(
                hours.weekly.get(WEEKDAYS[day.weekday()], ()), key=lambda r: r.start
            ):
                opens = dt.datetime.combine(day, span.start, tzinfo=zone)
                closes = dt.datetime.combine(day, span.end, tzinfo=zone)
                if closes <= local_start:
                    continue
                yield max(opens, local_start), closes
        day += dt.timedelta(days=1)
    raise ValueError("the business hours never open")


def add_business_time(
    hours: BusinessHours, start: dt.datetime, allowance: dt.timedelta
) -> dt.datetime:
    """The moment `allowance` of open time has passed since `start` (UTC).

    A ticket created while closed starts consuming at the next opening.
    """
    if start.tzinfo is None:
        raise ValueError("business time needs an aware datetime")
    remaining = allowance
    if remaining <= dt.timedelta(0):
        return start.astimezone(dt.UTC)
    for opens, closes in _open_spans(hours, start):
        span = closes - opens
        if remaining <= span:
            return (opens + remaining).astimezone(dt.UTC)
        remaining -= span
    raise AssertionError("unreachable: _open_spans raises when exhausted")


def business_time_between(
    hours: BusinessHours, start: dt.datetime, end: dt.datetime
) -> dt.timedelta:
    """Open time between `start` and `end` (zero when end is not after start)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("business time needs aware datetimes")
    total = dt.timedelta(0)
    if end <= start:
        return total
    for opens, closes in _open_spans(hours, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total
