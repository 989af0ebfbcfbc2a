"""deploy/prometheus/prometheus.yml, checked by promtool with the rule files
mounted where docker-compose.yml mounts them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "dashboards" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_scrapes_atiende_and_loads_the_rules() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    targets = [
        target
        for job in config["scrape_configs"]
        if job["job_name"] == "atiende"
        for group in job["static_configs"]
        for target in group["targets"]
    ]
    assert targets == ["atiende-serve:9464"]
    assert config["rule_files"] == ["rules/rules.yml"]


def test_promtool_check_config(tmp_path: Path) -> None:
    if not Path(PROMTOOL).exists():
        pytest.skip("promtool not installed")
    if not (RULES / "rules.yml").exists():
        pytest.skip("dashboards/prometheus/rules.yml not written yet")
    # The layout of the container: the config, and the rules folder beside it.
    shutil.copy(CONFIG, tmp_path / "prometheus.yml")
    (tmp_path / "rules").symlink_to(RULES)
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    assert "rules found" in result.stdout + result.stderr
