"""Ticket SLA compliance: one outcome per ticket, counted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboards.ticket_sla import Outcome, outcome, tally, total

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
DUE = NOW - timedelta(hours=1)


def test_each_ticket_has_one_outcome() -> None:
    assert outcome(DUE, DUE, NOW) is Outcome.ON_TIME  # answered at the very due moment
    assert outcome(DUE, DUE - timedelta(minutes=1), NOW) is Outcome.ON_TIME
    assert outcome(DUE, DUE + timedelta(seconds=1), NOW) is Outcome.LATE
    assert outcome(DUE, None, NOW) is Outcome.OVERDUE
    assert outcome(NOW + timedelta(hours=2), None, NOW) is Outcome.PENDING
    assert outcome(None, None, NOW) is Outcome.NO_DUE
    assert outcome(None, NOW, NOW) is Outcome.NO_DUE


def test_compliance_counts_only_judged_tickets() -> None:
    rows = tally(
        [
            ("DNIC", "Identificación", DUE, DUE - timedelta(hours=1)),  # on time
            ("DNIC", "Identificación", DUE, DUE + timedelta(hours=1)),  # late
            ("DNIC", "Identificación", DUE, None),  # overdue
            ("DNIC", "Identificación", NOW + timedelta(days=1), None),  # pending: not judged
            ("BPS", "Previsión", None, None),  # no due date: not judged
        ],
        NOW,
    )
    assert [r.group for r in rows] == ["BPS", "DNIC"]
    dnic = rows[1].counts
    assert (dnic.opened, dnic.on_time, dnic.late, dnic.overdue, dnic.pending) == (4, 1, 1, 1, 1)
    assert dnic.compliance == 1 / 3
    assert rows[0].counts.compliance is None  # nothing judged: no figure, not 0 %
    everything = total(rows)
    assert (everything.opened, everything.no_due, everything.judged) == (5, 1, 3)
