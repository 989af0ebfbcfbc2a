"""Caller numbers as Uruguayan trunks deliver them (national plan: 8-digit
subscriber numbers, mobiles 09X XXX XXX, Montevideo landlines 2XXX XXXX)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.phones import mask_number, normalise_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("099123456", "+59899123456"),  # mobile, national format with trunk prefix 0
        ("99123456", "+59899123456"),  # mobile without the trunk prefix
        ("+59829001234", "+59829001234"),  # already E.164 (Montevideo landline)
        ("29001234", "+59829001234"),
        ("0059829001234", "+59829001234"),  # Uruguay's international prefix 00
        (" 099 123 456 ", "+59899123456"),
        ("+54 11 4321-5678", "+541143215678"),  # Buenos Aires landline
    ],
)
def test_valid_numbers_become_e164(raw: str, expected: str) -> None:
    assert normalise_number(raw, "UY") == expected


@pytest.mark.parametrize(
    "raw",
    ["<unknown>", "", "   ", "anonymous", "Anonymous", "abc", "0" * 40, "9" * 40, "1001", "+", "-"],
)
def test_what_is_not_a_number_normalises_to_none(raw: str) -> None:
    assert normalise_number(raw, "UY") is None


def test_region_decides_the_national_reading() -> None:
    assert normalise_number("01143215678", "AR") == "+541143215678"
    assert normalise_number("01143215678", "UY") != "+541143215678"


@given(st.text(max_size=60))
def test_never_raises(raw: str) -> None:
    result = normalise_number(raw, "UY")
    assert result is None or (result.startswith("+") and result[1:].isdigit())


def test_mask_keeps_only_the_last_three_characters() -> None:
    assert mask_number("+59899123456") == "*********456"
    assert mask_number("12") == "**"
    assert mask_number("") == "<none>"
    assert "99123" not in mask_number("099123456")
