"""Due dates in business hours over the IVR's calendar (Uruguay's holidays)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from citizen.calendar import BusinessHours, parse_range
from crm_bridge.sla import add_business_time, business_time_between, office_hours
from ivr.flows import DEFAULT_FLOWS_DIR, load_flow

MVD = ZoneInfo("America/Montevideo")
HOURS = office_hours("09:00-17:00")  # Monday to Friday


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MVD)


def h(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)


def test_within_one_day() -> None:
    assert add_business_time(HOURS, local(2026, 11, 24, 10), h(3)) == local(2026, 11, 24, 13)


def test_friday_afternoon_continues_on_monday() -> None:
    # Friday 2026-11-27 16:00: one hour on Friday, one on Monday 30th.
    assert add_business_time(HOURS, local(2026, 11, 27, 16), h(2)) == local(2026, 11, 30, 10)


def test_created_while_closed_starts_at_the_next_opening() -> None:
    # Saturday night: the allowance starts Monday at 09:00.
    assert add_business_time(HOURS, local(2026, 11, 28, 22), h(1)) == local(2026, 11, 30, 10)
    # Before opening the same day.
    assert add_business_time(HOURS, local(2026, 11, 24, 6), h(1)) == local(2026, 11, 24, 10)


def test_national_holidays_are_skipped() -> None:
    # Thursday 30 April 2026 16:00; Friday 1 May (Día de los Trabajadores) is closed.
    assert add_business_time(HOURS, local(2026, 4, 30, 16), h(2)) == local(2026, 5, 4, 10)
    # Easter 2026 is 5 April: Carnaval is Monday 16 and Tuesday 17 February.
    assert add_business_time(HOURS, local(2026, 2, 13, 16, 30), h(1)) == local(2026, 2, 18, 9, 30)


def test_the_ivr_calendar_file_closes_extra_days() -> None:
    # ivr/calendars/feriados-uy.yaml closes 24 and 31 December 2026 (Thursdays).
    text = (DEFAULT_FLOWS_DIR.parent / "calendars" / "feriados-uy.yaml").read_text()
    assert "2026-12-24" in text
    hours = office_hours("09:00-17:00", extra_holidays=frozenset({dt.date(2026, 12, 24)}))
    # Wednesday 23rd 16:00 + 2h: Thursday 24th closed, Friday 25th Navidad.
    assert add_business_time(hours, local(2026, 12, 23, 16), h(2)) == local(2026, 12, 28, 10)


def test_split_shifts_and_a_multi_day_allowance() -> None:
    hours = office_hours("09:00-12:00,14:00-18:00")  # 7 h a day
    start = local(2026, 11, 24, 11)
    # 1 h before lunch, 4 h in the afternoon, then 7 h on Wednesday: 12 h in all.
    assert add_business_time(hours, start, h(12)) == local(2026, 11, 25, 18)
    assert business_time_between(hours, start, local(2026, 11, 25, 18)) == h(12)


def test_business_time_between_ignores_closed_time() -> None:
    assert business_time_between(HOURS, local(2026, 11, 27, 16), local(2026, 11, 30, 10)) == h(2)
    assert business_time_between(HOURS, local(2026, 11, 30, 10), local(2026, 11, 27, 16)) == h(0)


def test_results_are_utc_and_naive_input_is_refused() -> None:
    due = add_business_time(HOURS, local(2026, 11, 24, 10), h(1))
    assert due.tzinfo is dt.UTC
    assert due == dt.datetime(2026, 11, 24, 14, tzinfo=dt.UTC)  # Montevideo is UTC-3
    with pytest.raises(ValueError, match="aware"):
        add_business_time(HOURS, dt.datetime(2026, 11, 24, 10), h(1))


def test_a_calendar_that_never_opens_is_an_error() -> None:
    closed = BusinessHours(timezone="America/Montevideo", weekly={})
    with pytest.raises(ValueError, match="never open"):
        add_business_time(closed, local(2026, 11, 24, 10), h(1))
    weekend = BusinessHours("America/Montevideo", {"sat": (parse_range("10:00-12:00"),)})
    assert add_business_time(weekend, local(2026, 11, 24, 10), h(3)) == local(2026, 12, 5, 11)


def test_the_calendar_module_is_the_ivrs() -> None:
    # One calendar for both: the SLA takes the IVR's BusinessHours as it is.
    assert isinstance(HOURS, BusinessHours)
    assert HOURS.is_holiday(dt.date(2026, 7, 18))


def test_the_default_ivr_flow_gives_the_ticket_calendar() -> None:
    flow = load_flow(DEFAULT_FLOWS_DIR / "default.yaml")
    hours = flow.business_hours()
    # default.yaml: Monday to Friday 09:00-18:00, national holidays, feriados-uy.yaml.
    assert hours.is_open(local(2026, 11, 24, 17, 30))
    assert not hours.is_open(local(2026, 11, 28, 10))  # Saturday
    assert hours.is_holiday(dt.date(2026, 12, 24))  # from the calendar file
    assert add_business_time(hours, local(2026, 12, 23, 17), h(2)) == local(2026, 12, 28, 10)
    with pytest.raises(ValueError, match="no node"):
        flow.business_hours("bienvenida")
