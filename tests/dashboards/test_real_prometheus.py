"""A real Prometheus (Debian's package) scrapes `atiende serve`'s /metrics
while a recording is replayed through the real bridge; the values it stores
must be what Asterisk's queue_log says, every dashboard query must be valid
PromQL for it, and the alert rules must load and fire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate, start_metrics
from telephony.ami.testing import AmiTestServer
from tests.dashboards.test_grafana import BOARDS, load, panels
from tests.support.ports import free_port
from tests.support.queue_log import parse_queue_log

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULES = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus" / "rules.yml"
SECRET = "prom-secret"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read().decode())


@contextlib.contextmanager
def prometheus(tmp_path: Path, target_port: int) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus not installed (Debian package prometheus)")
    # The shipped rules with every `for:` cut to nothing, so they fire at the
    # first evaluation instead of minutes later.
    rules = tmp_path / "rules.yml"
    text = RULES.read_text(encoding="utf-8")
    for duration in ("15s", "1m", "5m"):
        text = text.replace(f"for: {duration}", "for: 0s")
    rules.write_text(text, encoding="utf-8")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n  - job_name: atiende\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8",
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "prometheus did not start: " + (tmp_path / "prometheus.log").read_text()
                )
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def scraping(tmp_path: Path, registry: CollectorRegistry) -> Iterator[str]:
    """A real Prometheus scraping `registry`, served over HTTP as /metrics is."""
    port = free_port()
    server, thread = start_http_server(port, "127.0.0.1", registry)
    try:
        with prometheus(tmp_path, port) as base:
            yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def query(base: str, expr: str) -> dict[str, Any]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return get_json(url)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as err:  # a bad query answers 400 with a JSON body
        return json.loads(err.read().decode())  # type: ignore[no-any-return]


def per_queue(base: str, expr: str) -> dict[str, float]:
    result = query(base, expr)
    assert result["status"] == "success", result
    return {r["metric"]["queue"]: float(r["value"][1]) for r in result["data"]["result"]}


async def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


async def test_prometheus_scrapes_the_replayed_burst(recordings: Path, tmp_path: Path) -> None:
    log = parse_queue_log(recordings / "burst.queue_log")
    legs = [leg for call in log.calls.values() for leg in call.legs]
    queues = sorted({leg.queue for leg in legs})
    expected = {
        "offered": {q: sum(1 for leg in legs if leg.queue == q) for q in queues},
        "answered": {
            q: sum(1 for leg in legs if leg.queue == q and leg.outcome == "answered")
            for q in queues
        },
        "abandoned": {
            q: sum(1 for leg in legs if leg.queue == q and leg.outcome == "abandoned")
            for q in queues
        },
    }
    assert sum(expected["abandoned"].values()) == 9  # the README's figure for burst

    database = f"sqlite:///{tmp_path / 'atiende.db'}"
    metrics_port = free_port()
    async with AmiTestServer((recordings / "burst.ami").read_bytes(), secret=SECRET) as server:
        settings = Settings(
            database_url=database,
            metrics_host="127.0.0.1",
            metrics_port=metrics_port,
            queues_conf=recordings / "lab-config" / "queues.conf",
            ami=AmiSettings(
                host="127.0.0.1",
                port=server.port,
                secret=SECRET,
                system_name="prom-test",
                ping_interval=1.0,
                ping_timeout=1.0,
                reconnect_min=0.05,
                reconnect_max=0.5,
            ),
        )
        await asyncio.to_thread(migrate, settings)
        service = build_bridge(settings)
        await service.start()
        http = start_metrics(settings, service)
        assert http is not None
        try:
            with prometheus(tmp_path, metrics_port) as base:
                await asyncio.wait_for(server.replayed(), timeout=60)
                await asyncio.wait_for(service.caught_up(), timeout=30)

                def scraped_all() -> bool:
                    got = per_queue(base, "atiende_queue_calls_answered_total")
                    return got == {q: float(n) for q, n in expected["answered"].items()}

                await wait_for(scraped_all, 30, "a scrape after the replay")
                for kind, counts in expected.items():
                    got = per_queue(base, f"atiende_queue_calls_{kind}_total")
                    assert got == {q: float(n) for q, n in counts.items()}, kind
                assert per_queue(base, "atiende_queue_calls_waiting") == dict.fromkeys(queues, 0.0)
                assert per_queue(base, 'atiende_queue_wait_seconds_count{outcome="answered"}') == {
                    q: float(n) for q, n in expected["answered"].items()
                }
                thresholds = per_queue(base, "atiende_queue_service_level_threshold_seconds")
                assert thresholds == {"consultas": 20.0, "reclamos": 30.0}  # lab queues.conf
                members = per_queue(base, "sum by (queue) (atiende_queue_agents)")
                assert members["consultas"] >= 2 and members["reclamos"] >= 1

                # Every dashboard query is valid PromQL against the real metrics.
                for name in BOARDS:
                    board = load(name)
                    for panel in panels(board):
                        for target in panel.get("targets", []):
                            expr = target["expr"].replace("$queue", ".*")
                            result = query(base, expr.replace('queue=".*"', 'queue=~".*"'))
                            assert result["status"] == "success", (name, expr, result)

                rules = get_json(f"{base}/api/v1/rules")["data"]["groups"]
                loaded = {rule["name"] for group in rules for rule in group["rules"]}
                assert "AtiendeAmiDisconnected" in loaded
                for group in rules:
                    for rule in group["rules"]:
                        assert rule["health"] != "err", rule

                # The AMI server goes away: the bridge-disconnected alert fires.
                await server.close()

                def disconnected_alert() -> bool:
                    alerts = get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
                    return any(
                        a["labels"]["alertname"] == "AtiendeAmiDisconnected"
                        and a["labels"].get("system") == "prom-test"
                        and a["state"] == "firing"
                        for a in alerts
                    )

                await wait_for(disconnected_alert, 30, "AtiendeAmiDisconnected to fire")
        finally:
            http.shutdown()
            await service.stop()
