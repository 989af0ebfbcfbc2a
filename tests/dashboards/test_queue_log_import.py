"""`atiende import-queue-log`: the recordings' queue_log files loaded into
the attention store, compared with what the queue_log itself says (read by
tests/support/queue_log.py, written independently of the importer), and
idempotent when run twice."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from crm_bridge.db import make_engine, upgrade
from crm_bridge.models import AgentStateInterval, Attention
from dashboards import kpi
from dashboards.queue_log_import import import_queue_log, import_queue_log_main, parse_calls
from dashboards.report_queries import ReportSpan, agent_report, queue_report
from tests.support.queue_log import parse_queue_log

SCENARIOS = ["answered", "abandoned", "burst", "sip_mixed", "ring_no_answer", "tricky_caller_id"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_attentions_match_the_queue_log(
    recordings: Path, store: tuple[str, Engine], scenario: str
) -> None:
    _url, engine = store
    path = recordings / f"{scenario}.queue_log"
    expected = parse_queue_log(path).calls
    result = import_queue_log(path, engine, "historia", progress_stream=io.StringIO())
    assert (result.read, result.inserted, result.rejected) == (len(expected), len(expected), 0)
    with engine.connect() as conn:
        rows = {r.linkedid: r for r in conn.execute(select(Attention)).all()}
    assert set(rows) == set(expected)
    for uniqueid, call in expected.items():
        row = rows[uniqueid]
        assert row.system == "historia"
        assert row.queue == call.queues[-1], uniqueid
        assert row.queues == call.queues
        assert row.outcome == call.outcome, uniqueid
        assert row.agent == call.agent
        assert row.wait_seconds == call.wait
        assert row.talk_seconds == call.talk
        assert row.caller_number_raw == call.caller_number


def test_second_import_adds_nothing(recordings: Path, store: tuple[str, Engine]) -> None:
    url, engine = store
    path = recordings / "burst.queue_log"
    first, second = io.StringIO(), io.StringIO()
    assert import_queue_log_main(path, url, "historia", out=first, err=io.StringIO()) == 0
    with engine.connect() as conn:
        before = conn.execute(select(Attention.linkedid, Attention.outcome)).all()
    assert import_queue_log_main(path, url, "historia", out=second, err=io.StringIO()) == 0
    with engine.connect() as conn:
        after = conn.execute(select(Attention.linkedid, Attention.outcome)).all()
    calls = len(parse_queue_log(path).calls)
    assert len(before) == calls and sorted(after) == sorted(before)
    assert f"{calls} calls read, {calls} attentions added" in first.getvalue()
    assert f"{calls} calls read, 0 attentions added, {calls} already stored" in second.getvalue()


def test_another_system_name_is_another_history(
    recordings: Path, store: tuple[str, Engine]
) -> None:
    url, engine = store
    path = recordings / "answered.queue_log"
    for system in ("sede-centro", "sede-norte"):
        import_queue_log_main(path, url, system, out=io.StringIO(), err=io.StringIO())
    with engine.connect() as conn:
        systems = sorted(conn.execute(select(Attention.system)).scalars())
    assert systems == ["sede-centro", "sede-norte"]


def test_missing_file_fails(tmp_path: Path, store: tuple[str, Engine]) -> None:
    url, _engine = store
    err = io.StringIO()
    assert import_queue_log_main(tmp_path / "nada.log", url, "x", out=io.StringIO(), err=err) == 1
    assert "not a file" in err.getvalue()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_report_over_imported_history_agrees_with_queue_log(
    recordings: Path, store: tuple[str, Engine], scenario: str
) -> None:
    _url, engine = store
    path = recordings / f"{scenario}.queue_log"
    import_queue_log(path, engine, "historia", progress_stream=io.StringIO())
    calls = parse_queue_log(path).calls.values()
    first = min(leg.entered_at for call in calls for leg in call.legs)
    day = datetime.fromtimestamp(first, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    threshold = 20.0
    rows = queue_report(
        engine,
        ReportSpan(day - timedelta(days=1), day + timedelta(days=2), UTC),
        default=kpi.QueueKpiDefinition(service_level_seconds=threshold),
    )
    for row in rows:
        mine = [c for c in calls if c.queues[-1] == row.queue]
        answered = [c for c in mine if c.outcome == "answered"]
        within = [c for c in answered if (c.wait or 0) <= threshold]
        assert row.counts.offered == len(mine)
        assert row.counts.answered == len(answered)
        assert row.counts.abandoned == sum(c.outcome == "abandoned" for c in mine)
        if answered:
            assert row.service_level == pytest.approx(len(within) / len(answered))
            assert row.asa_seconds == pytest.approx(
                sum(c.wait or 0 for c in answered) / len(answered)
            )
        else:
            assert row.service_level is None
    assert {row.queue for row in rows} == {c.queues[-1] for c in calls}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(recordings: Path, store: tuple[str, Engine]) -> None:
    _url, engine = store
    bar = _Terminal()
    import_queue_log(recordings / "burst.queue_log", engine, "historia", progress_stream=bar)
    assert bar.getvalue().rstrip().endswith("100.0 %")
    quiet = io.StringIO()
    import_queue_log(recordings / "answered.queue_log", engine, "otra", progress_stream=quiet)
    assert quiet.getvalue() == ""


def test_settled_calls_are_yielded_before_the_file_ends() -> None:
    # A call answered and completed, then another one two hours later: the
    # first is written out while reading, not kept until the end.
    lines = [
        "1000|1.0|consultas|NONE|ENTERQUEUE||099000001|1",
        "1003|1.0|consultas|Ana|CONNECT|3|2.0|1",
        "1063|1.0|consultas|Ana|COMPLETECALLER|3|60|1",
        "8200|3.0|consultas|NONE|ENTERQUEUE||099000002|1",
        "8250|3.0|consultas|NONE|ABANDON|1|1|50",
    ]
    read: list[str] = []

    def source() -> Iterator[str]:
        for line in lines:
            read.append(line)
            yield line

    calls = parse_calls(source(), "historia")
    first = next(calls)
    assert first.key.linkedid == "1.0" and len(read) < len(lines)
    assert (first.outcome.value, first.wait_seconds, first.talk_seconds) == ("answered", 3.0, 60.0)
    (second,) = list(calls)
    assert (second.key.linkedid, second.outcome.value, second.wait_seconds) == (
        "3.0",
        "abandoned",
        50.0,
    )


def _pauses_in(path: Path) -> dict[tuple[str, str], list[tuple[float, float, str]]]:
    """PAUSE ... UNPAUSE pairs per member and queue, read straight from the file."""
    opened: dict[tuple[str, str], tuple[float, str]] = {}
    spans: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        at, _uid, queue, agent, event, *data = line.split("|")
        if event == "PAUSE":
            opened[(agent, queue)] = (float(at), data[0])
        elif event == "UNPAUSE" and (agent, queue) in opened:
            began, reason = opened.pop((agent, queue))
            spans.setdefault((agent, queue), []).append((began, float(at), reason))
    return spans


@pytest.mark.parametrize("scenario", ["abandoned", "ring_no_answer"])
def test_pauses_become_agent_intervals(
    recordings: Path, store: tuple[str, Engine], scenario: str
) -> None:
    url, engine = store
    path = recordings / f"{scenario}.queue_log"
    expected = _pauses_in(path)
    assert expected  # the recording has at least one closed pause
    for _ in range(2):  # the second run must not add a span again
        import_queue_log_main(path, url, "historia", out=io.StringIO(), err=io.StringIO())
    with engine.connect() as conn:
        stored = conn.execute(select(AgentStateInterval.__table__)).all()
    got = sorted(
        (i.member_name, i.queue, i.started_at.timestamp(), i.ended_at.timestamp(), i.reason)
        for i in stored
    )
    want = sorted(
        (agent, queue, began, ended, reason)
        for (agent, queue), spans in expected.items()
        for began, ended, reason in spans
    )
    assert got == want
    assert all(i.state == "paused" for i in stored)
    first = min(span[0] for spans in expected.values() for span in spans)
    day = datetime.fromtimestamp(first, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = agent_report(engine, ReportSpan(day, day + timedelta(days=1), UTC))
    for (agent, _queue), spans in expected.items():
        row = next(r for r in rows if r.agent == agent)
        for _began, _ended, reason in spans:
            total = sum(e - b for b, e, r in spans if r == reason)
            assert row.pause_seconds[reason] == pytest.approx(total)
