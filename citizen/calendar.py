"""Business hours and Uruguay's national holidays (pure: dates in, answers out)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def uruguay_holidays(year: int) -> dict[dt.date, str]:
    """Days the attention centres close: fixed national dates plus Carnaval and Turismo."""
    easter = easter_sunday(year)
    days = {
        dt.date(year, 1, 1): "Año Nuevo",
        dt.date(year, 1, 6): "Día de Reyes",
        easter - dt.timedelta(days=48): "Carnaval (lunes)",
        easter - dt.timedelta(days=47): "Carnaval (martes)",
        easter - dt.timedelta(days=3): "Semana de Turismo (jueves)",
        easter - dt.timedelta(days=2): "Semana de Turismo (viernes)",
        dt.date(year, 5, 1): "Día de los Trabajadores",
        dt.date(year, 7, 18): "Jura de la Constitución",
        dt.date(year, 8, 25): "Declaratoria de la Independencia",
        dt.date(year, 12, 25): "Navidad",
    }
    return days


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        if self.end == END_OF_DAY:  # "24:00": open through the day's last instant
            return self.start <= moment
        return self.start <= moment < self.end


# "24:00" (the end of the day, as ISO 8601 allows) as a time of that same day.
END_OF_DAY = dt.time.max


def _clock(text: str) -> dt.time:
    return END_OF_DAY if text in ("24:00", "24:00:00") else dt.time.fromisoformat(text)


def parse_range(text: str) -> TimeRange:
    """'08:00-18:00' to a TimeRange ('24:00' ends at midnight); ValueError on anything else."""
    start_text, sep, end_text = text.partition("-")
    if not sep:
        raise ValueError(f"time range must look like 08:00-18:00, got {text!r}")
    start = dt.time.fromisoformat(start_text.strip())
    end = _clock(end_text.strip())
    if end <= start:
        raise ValueError(f"time range ends before it starts: {text!r}")
    return TimeRange(start, end)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening ranges in one time zone, closed on holidays."""

    timezone: str
    weekly: Mapping[str, tuple[TimeRange, ...]]
    national_holidays: bool = True
    extra_holidays: frozenset[dt.date] = field(default_factory=frozenset)
    extra_open_days: frozenset[dt.date] = field(default_factory=frozenset)

    def is_holiday(self, day: dt.date) -> bool:
        if day in self.extra_open_days:
            return False
        if day in self.extra_holidays:
            return True
        return self.national_holidays and day in uruguay_holidays(day.year)

    def is_open(self, moment: dt.datetime) -> bool:
        if moment.tzinfo is None:
            raise ValueError("business hours need an aware datetime")
        local = moment.astimezone(ZoneInfo(self.timezone))
        if self.is_holiday(local.date()):
            return False
        ranges = self.weekly.get(WEEKDAYS[local.weekday()], ())
        clock = local.time().replace(tzinfo=None)
        return any(r.contains(clock) for r in ranges)


def always_open(timezone: str) -> BusinessHours:
    """Every hour of every day, holidays included: the hours of a line whose IVR
    flow has no `hours` node (hours are optional)."""
    whole_day = (TimeRange(dt.time(0, 0), END_OF_DAY),)
    return BusinessHours(timezone, dict.fromkeys(WEEKDAYS, whole_day), national_holidays=False)
