"""Alert rules: promtool's syntax check and rule unit tests, and metric names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.metric_names import exposed_names

RULES_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool not installed (Debian package prometheus)")
    return subprocess.run(
        [PROMTOOL, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=60, check=False
    )


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_rules_use_exported_metrics_and_cover_the_alerts() -> None:
    rules = yaml.safe_load((RULES_DIR / "rules.yml").read_text(encoding="utf-8"))
    known = exposed_names()
    alerts = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            alerts.add(rule["alert"])
            unknown = set(re.findall(r"\batiende_[a-z0-9_]+\b", rule["expr"])) - known
            assert not unknown, (rule["alert"], unknown)
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}
    assert {
        "AtiendeServiceLevelBelowTarget",
        "AtiendeCallerWaitingTooLong",
        "AtiendeNoAgentAvailable",
        "AtiendeAmiDisconnected",
    } <= alerts
    tested = yaml.safe_load((RULES_DIR / "rules_test.yml").read_text(encoding="utf-8"))
    covered = {
        case["alertname"]
        for test in tested["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert covered == alerts, alerts - covered
