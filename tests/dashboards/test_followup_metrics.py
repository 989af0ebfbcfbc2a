"""SLA alerts and the CRM backlog on /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import metric_names as names
from dashboards.followup_metrics import FollowupCollector


@dataclass
class Backlog:
    pending: int
    failed: int
    oldest_pending_seconds: float


class Alerts:
    def __init__(self, counts: Mapping[Any, int] | None) -> None:
        self._counts = counts

    def counts(self) -> Mapping[Any, int]:
        if self._counts is None:
            raise OSError("database unreachable")
        return self._counts


def scrape(collector: FollowupCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_values() -> None:
    values = scrape(
        FollowupCollector(
            alerts=Alerts({"por_vencer": 2, "vencido": 1}),
            outbox=lambda: Backlog(pending=5, failed=1, oldest_pending_seconds=42.5),
        )
    )
    assert values[(names.SLA_ALERTS_OPEN, (("level", "por_vencer"),))] == 2
    assert values[(names.SLA_ALERTS_OPEN, (("level", "vencido"),))] == 1
    assert values[(names.CRM_OUTBOX_PENDING, ())] == 5
    assert values[(names.CRM_OUTBOX_FAILED, ())] == 1
    assert values[(names.CRM_OUTBOX_OLDEST, ())] == 42.5
    assert {name for name, _ in values} <= names.exposed_names()


def test_a_store_that_does_not_answer_leaves_only_its_families_out() -> None:
    values = scrape(
        FollowupCollector(
            alerts=Alerts(None),
            outbox=lambda: Backlog(pending=0, failed=0, oldest_pending_seconds=0.0),
        )
    )
    assert {name for name, _ in values} == {
        names.CRM_OUTBOX_PENDING,
        names.CRM_OUTBOX_FAILED,
        names.CRM_OUTBOX_OLDEST,
    }


def test_overdue_pending_cases_are_one_unlabelled_gauge() -> None:
    values = scrape(FollowupCollector(overdue_followups=lambda: 3))
    assert values == {(names.FOLLOWUPS_OVERDUE, ()): 3}


def test_overdue_pending_cases_skipped_when_the_store_fails() -> None:
    def broken() -> int:
        raise OSError("database unreachable")

    values = scrape(FollowupCollector(overdue_followups=broken, alerts=Alerts({"vencido": 1})))
    assert (names.FOLLOWUPS_OVERDUE, ()) not in values
    assert values[(names.SLA_ALERTS_OPEN, (("level", "vencido"),))] == 1


def test_citizen_notices_by_status() -> None:
    values = scrape(FollowupCollector(notices=lambda: {"pendiente": 2, "enviada": 7, "fallida": 1}))
    assert values[(names.CITIZEN_NOTICES, (("status", "fallida"),))] == 1
    assert values[(names.CITIZEN_NOTICES, (("status", "enviada"),))] == 7
    assert {name for name, _ in values} <= names.exposed_names()
