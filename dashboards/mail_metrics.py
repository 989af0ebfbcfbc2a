"""The email intake's totals for Prometheus: messages per mailbox and outcome,
failed reads, and when each mailbox was last read (an alert can watch it go stale).

Labels are the mailbox's configured short name and the outcome: no addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crm_bridge.mail_intake import MailStats
from dashboards import metric_names as names


class MailIntakeCollector(Collector):
    def __init__(self, stats: Callable[[], MailStats], mailboxes: list[str]) -> None:
        self._stats = stats
        self._mailboxes = list(mailboxes)

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        messages = CounterMetricFamily(
            names.MAIL_MESSAGES,
            "Email messages read from the mailboxes, by what they became",
            labels=["mailbox", "outcome"],
        )
        for (mailbox, outcome), count in sorted(stats.messages.items()):
            messages.add_metric([mailbox, outcome], count)
        yield messages
        failures = CounterMetricFamily(
            names.MAIL_READ_FAILURES,
            "Passes over a mailbox that failed (IMAP unreachable, login refused...)",
            labels=["mailbox"],
        )
        for mailbox in self._mailboxes:
            failures.add_metric([mailbox], stats.read_failures.get(mailbox, 0))
        yield failures
        last = GaugeMetricFamily(
            names.MAIL_LAST_READ,
            "When the mailbox was last read completely (Unix time)",
            labels=["mailbox"],
        )
        for mailbox in self._mailboxes:
            if mailbox in stats.last_read:
                last.add_metric([mailbox], stats.last_read[mailbox])
        yield last
