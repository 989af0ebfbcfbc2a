"""The missing-prompt counter on /metrics: named in dashboards.metric_names,
labelled by sound name only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import metric_names as names
from dashboards.ivr_metrics import IvrCollector
from ivr.runner import MissingPrompts


def test_missing_prompts_are_exposed_as_a_counter_per_prompt() -> None:
    missing = MissingPrompts()
    registry = CollectorRegistry()
    registry.register(IvrCollector(missing))
    assert "atiende_ivr_prompts_missing_total{" not in generate_latest(registry).decode()
    missing.record("atiende/menu-principal")
    missing.record("atiende/menu-principal")
    missing.record("beep")
    text = generate_latest(registry).decode()
    samples = {
        (s.name, s.labels["prompt"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.endswith("_total")
    }
    total = f"{names.IVR_PROMPTS_MISSING}_total"
    assert samples == {(total, "atiende/menu-principal"): 2.0, (total, "beep"): 1.0}
    assert total in names.exposed_names()
