"""Ticket lifecycle rules and numbers, without a database."""

from __future__ import annotations

import pytest

from crm_bridge.exceptions import InvalidTransitionError, InvalidValueError
from crm_bridge.ticket_rules import (
    IVR_STATUS,
    TicketAction,
    TicketStatus,
    format_number,
    next_status,
    parse_number,
)
from ivr.services import RequestStatus

S, A = TicketStatus, TicketAction


def test_the_full_lifecycle_of_a_derived_request() -> None:
    status = S.ABIERTA
    for action, expected in [
        (A.DERIVE, S.DERIVADA),
        (A.START, S.EN_PROCESO),
        (A.RESPOND, S.RESPONDIDA),
        (A.CLOSE, S.CERRADA),
    ]:
        status = next_status(status, action)
        assert status is expected


def test_first_level_answers_without_deriving() -> None:
    assert next_status(S.ABIERTA, A.RESPOND) is S.RESPONDIDA


def test_a_derived_ticket_can_be_derived_again_and_taken_back() -> None:
    assert next_status(S.DERIVADA, A.DERIVE) is S.DERIVADA
    assert next_status(S.EN_PROCESO, A.DERIVE) is S.DERIVADA
    assert next_status(S.RESPONDIDA, A.REOPEN) is S.EN_PROCESO


@pytest.mark.parametrize(
    ("status", "action"),
    [
        # "toda consulta debe tener su respuesta": no closing without one.
        (S.ABIERTA, A.CLOSE),
        (S.DERIVADA, A.CLOSE),
        (S.EN_PROCESO, A.CLOSE),
        (S.EN_PROCESO, A.START),
        (S.RESPONDIDA, A.DERIVE),
        (S.CERRADA, A.REOPEN),
        (S.CERRADA, A.RESPOND),
        (S.CERRADA, A.DERIVE),
        (S.CERRADA, A.CLOSE),
        (S.ABIERTA, A.CREATE),
    ],
)
def test_invalid_transitions_are_refused_by_name(status: S, action: A) -> None:
    with pytest.raises(InvalidTransitionError, match=action.value):
        next_status(status, action)


def test_notes_are_allowed_in_every_status_and_change_nothing() -> None:
    for status in S:
        assert next_status(status, A.NOTE) is status


def test_numbers_are_year_dash_six_digits() -> None:
    assert format_number(2026, 123) == "2026-000123"
    assert parse_number("2026-000123") == (2026, 123)
    assert parse_number(" 2026-999999 ") == (2026, 999_999)
    for bad in ["2026-123", "26-000123", "2026-0001234", "2026-000000", "abcd-000001", ""]:
        assert parse_number(bad) is None
    with pytest.raises(InvalidValueError):
        format_number(2026, 1_000_000)


def test_every_status_has_a_word_the_ivr_reads_out() -> None:
    # The IVR's RequestStatus documents its codes; each ticket status maps onto one.
    documented = {"recibida", "en_proceso", "derivada", "resuelta", "cerrada"}
    assert set(IVR_STATUS) == set(S)
    assert set(IVR_STATUS.values()) == documented
    assert RequestStatus("2026-000001", IVR_STATUS[S.RESPONDIDA]).status == "resuelta"
