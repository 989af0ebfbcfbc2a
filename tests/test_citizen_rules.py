"""Cédula check digit and Uruguay's holidays, from first principles."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from citizen import cedula
from citizen.calendar import BusinessHours, easter_sunday, parse_range, uruguay_holidays

WEIGHTS = (2, 9, 8, 7, 6, 3, 4)


def reference_check(body: int) -> int:
    digits = [int(d) for d in f"{body:07d}"]
    total = sum(d * w for d, w in zip(digits, WEIGHTS, strict=True))
    return (10 - total % 10) % 10


def test_known_cedula() -> None:
    # 1.234.567: 2+18+24+28+30+18+28 = 148 -> (10 - 8) % 10 = 2
    assert cedula.is_valid("12345672")
    assert not cedula.is_valid("12345671")
    # 987 padded to 0000987: 9*6 + 8*3 + 7*4 = 106 -> check 4
    assert cedula.normalise("9874") == "00009874"
    assert not cedula.is_valid("0")
    assert not cedula.is_valid("123456789")


@given(st.integers(min_value=1, max_value=9_999_999))
def test_cedulas_built_from_the_algorithm_are_accepted(body: int) -> None:
    text = f"{body}{reference_check(body)}"
    assert cedula.is_valid(text)
    assert cedula.normalise(text) == f"{body:07d}{reference_check(body)}"


@given(st.integers(min_value=1, max_value=9_999_999), st.integers(min_value=1, max_value=9))
def test_a_changed_check_digit_is_refused(body: int, delta: int) -> None:
    wrong = (reference_check(body) + delta) % 10
    assert not cedula.is_valid(f"{body}{wrong}")


@given(st.text(max_size=12))
def test_non_digit_text_is_never_valid(text: str) -> None:
    if not (text.isascii() and text.isdigit()):
        assert not cedula.is_valid(text)


def test_easter_known_dates() -> None:
    assert easter_sunday(2024) == dt.date(2024, 3, 31)
    assert easter_sunday(2025) == dt.date(2025, 4, 20)
    assert easter_sunday(2026) == dt.date(2026, 4, 5)
    assert easter_sunday(2000) == dt.date(2000, 4, 23)


def test_uruguay_holidays_2026() -> None:
    days = set(uruguay_holidays(2026))
    expected = {
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 6),
        dt.date(2026, 2, 16),  # Carnaval: Monday and Tuesday before Ash Wednesday
        dt.date(2026, 2, 17),
        dt.date(2026, 4, 2),  # Turismo: Holy Thursday and Good Friday
        dt.date(2026, 4, 3),
        dt.date(2026, 5, 1),
        dt.date(2026, 7, 18),
        dt.date(2026, 8, 25),
        dt.date(2026, 12, 25),
    }
    assert days == expected


def hours(**kwargs: object) -> BusinessHours:
    weekly = {d: (parse_range("09:00-18:00"),) for d in ("mon", "tue", "wed", "thu", "fri")}
    return BusinessHours("America/Montevideo", weekly, **kwargs)  # type: ignore[arg-type]


def uy(y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    # Montevideo is UTC-3 all year (no DST since 2015).
    return dt.datetime(y, m, d, hh + 3, mm, tzinfo=dt.UTC)


def test_business_hours() -> None:
    h = hours()
    assert h.is_open(uy(2026, 11, 24, 10))  # a Tuesday
    assert not h.is_open(uy(2026, 11, 24, 8, 59))
    assert not h.is_open(uy(2026, 11, 24, 18))
    assert not h.is_open(uy(2026, 11, 28, 10))  # Saturday
    assert not h.is_open(uy(2026, 4, 2, 10))  # Holy Thursday
    assert not h.is_open(uy(2026, 8, 25, 10))
    extra = hours(extra_holidays=frozenset({dt.date(2026, 11, 24)}))
    assert not extra.is_open(uy(2026, 11, 24, 10))
    reopened = hours(extra_open_days=frozenset({dt.date(2026, 8, 25)}))
    assert reopened.is_open(uy(2026, 8, 25, 10))
