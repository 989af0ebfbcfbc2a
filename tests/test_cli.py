"""The `atiende` command as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from atiende.cli import main
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from crm_bridge.sync.testing import WebhookReceiver
from ivr.testing import FakeAsterisk, FakeCall
from telephony.ami.testing import AmiTestServer
from tests.conftest import SCENARIOS
from tests.support.ports import free_port
from tests.support.queue_log import parse_queue_log

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_jsonl(recordings: Path, scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--jsonl", str(recordings / f"{scenario}.ami")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    log_path = recordings / f"{scenario}.queue_log"
    queued = parse_queue_log(log_path).calls if log_path.exists() else {}
    by_id = {row["linkedid"]: row for row in rows}
    assert len(by_id) == len(rows)
    for uniqueid, expected in queued.items():
        assert by_id[uniqueid]["queues"] == expected.queues
        assert by_id[uniqueid]["agent"] == expected.agent
    required = {
        "linkedid", "caller_number", "caller_name", "queues", "queue", "agent", "agents",
        "outcome", "wait_seconds", "talk_seconds", "arrived_at", "answered_at", "ended_at",
        "ivr_path",
    }  # fmt: skip
    assert all(required <= set(row) for row in rows)


def test_replay_summary_with_queues_conf(
    recordings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = recordings / "lab-config" / "queues.conf"
    capture = recordings / "burst.ami"
    assert main(["replay", "--summary", "--queues-conf", str(conf), str(capture)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["consultas"]["service_level_seconds"] == 20
    assert summary["reclamos"]["service_level_seconds"] == 30
    assert main(["replay", "--summary", "--queue-service-level", "reclamos=5", str(capture)]) == 0
    assert json.loads(capsys.readouterr().out)["reclamos"]["service_level_seconds"] == 5
    offered = sum(queue["offered"] for queue in summary.values())
    answered = sum(queue["answered"] for queue in summary.values())
    abandoned = sum(queue["abandoned"] for queue in summary.values())
    assert (offered, answered, abandoned) == (24, 15, 9)


def test_replay_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "absent.ami")]) == 2
    assert "absent.ami" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["replay", "--queue-service-level", "consultas=veinte", "x.ami"])
    assert raised.value.code == 2


async def test_serve_records_calls_and_stops_on_sigterm(recordings: Path, tmp_path: Path) -> None:
    """`atiende serve` as a process: configured by ATIENDE_* variables only,
    it records the calls it hears and leaves cleanly on SIGTERM."""
    database = tmp_path / "atiende.db"
    capture = (recordings / "answered.ami").read_bytes()
    metrics_port = free_port()
    ivr_port = free_port()
    api_port = free_port()
    crm = WebhookReceiver("crm-secret")
    crm.start()
    async with AmiTestServer(capture, secret="serve-secret") as server:
        env = {
            **os.environ,
            "ATIENDE_DATABASE_URL": f"sqlite:///{database}",
            "ATIENDE_AMI__PORT": str(server.port),
            "ATIENDE_AMI__SECRET": "serve-secret",
            "ATIENDE_AMI__SYSTEM_NAME": "serve-test",
            "ATIENDE_QUEUES_CONF": str(recordings / "lab-config" / "queues.conf"),
            "ATIENDE_METRICS_PORT": str(metrics_port),
            "ATIENDE_IVR__PORT": str(ivr_port),
            "ATIENDE_API__PORT": str(api_port),
            "ATIENDE_CRM__ADAPTER": "webhook",
            "ATIENDE_CRM__WEBHOOK_URL": crm.url,
            "ATIENDE_CRM__WEBHOOK_SECRET": "crm-secret",
            "ATIENDE_CRM__RELAY_INTERVAL": "0.2",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "atiende.cli", "serve",
            env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await asyncio.wait_for(server.replayed(), timeout=30)
            await asyncio.wait_for(_until_recorded(database), timeout=30)
            # The attention reaches the CRM (no Redis here: jobs run in-process).
            while not crm.attentions:
                await asyncio.sleep(0.05)
            metrics = await asyncio.to_thread(_scrape, metrics_port)
            exposition = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
            page = await asyncio.to_thread(_get, f"http://127.0.0.1:{api_port}/")
            openapi = json.loads(
                await asyncio.to_thread(_get, f"http://127.0.0.1:{api_port}/api/openapi.json")
            )
            # The IVR answers on FastAGI as Asterisk reaches it from the dialplan.
            ivr_call = await FakeAsterisk(FakeCall(dtmf=["1"])).run("127.0.0.1", ivr_port)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    crm.stop()
    assert process.returncode == 0, stderr.decode()
    assert len(crm.attentions) == 1 and crm.bad_signatures == 0
    assert b"crm-secret" not in stderr
    assert b"serve-secret" not in stderr
    # Out of hours the flow says so and hangs up; in hours it routes to a queue.
    assert ivr_call.prompts[0] == "atiende/bienvenida"
    assert ivr_call.hung_up_by_ivr or ivr_call.variables.get("ATIENDE_QUEUE")
    assert 'lang="es' in page
    # Reports and the wallboard are mounted on the panel (and ask for a session).
    assert "/api/reportes/colas" in openapi["paths"]
    assert "/api/wallboard" in openapi["paths"]
    assert any(path.startswith("/api/session") for path in openapi["paths"])
    assert metrics["atiende_ami_connected"] == 1
    assert 'atiende_sla_alerts_open{level="vencido"} 0.0' in exposition
    assert "atiende_crm_outbox_failed 0.0" in exposition
    # The quality indicators are served (no survey yet: the families, no series).
    assert "# TYPE atiende_survey_responses gauge" in exposition
    assert "# TYPE atiende_ticket_sla_tickets gauge" in exposition
    assert metrics["atiende_ami_events_total"] > 0
    assert metrics["atiende_ami_malformed_messages_total"] == 0
    assert metrics["atiende_store_rows_written_total"] >= 1
    assert metrics["atiende_ami_queue_depth"] == 0
    rows = _attentions(database)
    assert [(row.system, row.agent, row.outcome) for row in rows] == [
        ("serve-test", "Ana Gómez", "answered")
    ]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body.decode()


def _scrape(port: int) -> dict[str, float]:
    text = _get(f"http://127.0.0.1:{port}/metrics")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("system") == "serve-test"
    }


def _attentions(database: Path) -> list[Attention]:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with session_factory(engine)() as session:
            rows = list(session.scalars(select(Attention)).all())
            session.expunge_all()
            return rows
    except OperationalError:  # the schema may not be there yet
        return []
    finally:
        engine.dispose()


async def _until_recorded(database: Path) -> None:
    while not any(row.outcome == "answered" for row in _attentions(database)):
        await asyncio.sleep(0.1)


def test_user_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent_api.auth import Passwords
    from agent_api.users import UserStore

    database = f"sqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setenv("ATIENDE_DATABASE_URL", database)
    monkeypatch.setenv("ATIENDE_USER_PASSWORD", "una-clave-larga-123")
    args = ["user", "add", "ana", "--role", "ejecutivo", "--name", "Ana Gómez"]
    assert main([*args, "--interface", "Local/4001@agents/n"]) == 0
    assert main(args) == 1  # taken
    assert "taken" in capsys.readouterr().err
    monkeypatch.setenv("ATIENDE_USER_PASSWORD", "corta")
    assert main(["user", "add", "bruno", "--role", "supervisor", "--name", "Bruno"]) == 1
    assert "must have 10 to 1024 characters" in capsys.readouterr().err  # says the minimum
    monkeypatch.delenv("ATIENDE_USER_PASSWORD")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["user", "add", "carla", "--role", "admin", "--name", "Carla"]) == 2

    engine = make_engine(database)
    try:
        users = UserStore(engine, Passwords())
        ana = users.authenticate("ana", "una-clave-larga-123")
        assert ana is not None and ana.display_name == "Ana Gómez"
        assert users.interface_map() == {"Local/4001@agents/n": ana.id}
        assert users.authenticate("bruno", "corta") is None
    finally:
        engine.dispose()


def test_worker_needs_redis_and_a_crm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATIENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.delenv("ATIENDE_REDIS_URL", raising=False)
    monkeypatch.setenv("ATIENDE_CRM__ADAPTER", "webhook")
    monkeypatch.setenv("ATIENDE_CRM__WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("ATIENDE_CRM__WEBHOOK_SECRET", "s3cret")
    assert main(["worker"]) == 2


def test_configuration_errors_stop_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATIENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("ATIENDE_CRM__ADAPTER", "webhook")
    monkeypatch.setenv("ATIENDE_CRM__WEBHOOK_URL", "http://127.0.0.1:9/hook")
    assert main(["serve"]) == 2
    assert "ATIENDE_CRM__" in capsys.readouterr().err
    monkeypatch.setenv("ATIENDE_CRM__ADAPTER", "none")
    monkeypatch.setenv("ATIENDE_QUEUES_CONF", str(tmp_path / "absent.conf"))
    assert main(["serve"]) == 2
    assert "absent.conf" in capsys.readouterr().err
    monkeypatch.delenv("ATIENDE_QUEUES_CONF")
    monkeypatch.setenv("ATIENDE_MAIL__SMTP_HOST", "127.0.0.1")  # replies from no one
    assert main(["serve"]) == 2
    assert "ATIENDE_MAIL__SENDER" in capsys.readouterr().err
    assert not (tmp_path / "c.db").exists()


def test_import_queue_log_is_idempotent(
    recordings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "history.db"
    monkeypatch.setenv("ATIENDE_DATABASE_URL", f"sqlite:///{database}")
    log_file = recordings / "burst.queue_log"
    args = ["import-queue-log", str(log_file), "--system", "history"]
    assert main(args) == 0
    first = [(row.linkedid, row.outcome) for row in _attentions(database)]
    assert main(args) == 0
    assert [(row.linkedid, row.outcome) for row in _attentions(database)] == first
    expected = parse_queue_log(log_file).calls
    assert {linkedid: outcome for linkedid, outcome in first} == {
        uniqueid: call.outcome for uniqueid, call in expected.items()
    }
    assert main(["import-queue-log", str(tmp_path / "absent.queue_log")]) == 1
