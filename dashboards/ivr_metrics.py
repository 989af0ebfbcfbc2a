"""The IVR's health for Prometheus: prompts Asterisk could not play.

A prompt missing on the Asterisk host does not cut callers off (the IVR goes
on with a beep), so nobody hears of it unless it is counted: this counter is
what an alert or a dashboard watches. Labelled by sound name (the flows' own
names, a bounded set); never by call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboards import metric_names as names


class PromptCounts(Protocol):
    def snapshot(self) -> dict[str, int]:
        """Times each prompt could not be played on a live channel."""


class IvrCollector(Collector):
    def __init__(self, missing: PromptCounts) -> None:
        self._missing = missing

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            names.IVR_PROMPTS_MISSING,
            "IVR prompts Asterisk could not play although the caller was on the line",
            labels=["prompt"],
        )
        for prompt, count in sorted(self._missing.snapshot().items()):
            family.add_metric([prompt], count)
        yield family
