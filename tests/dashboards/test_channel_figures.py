"""Volume, service level and satisfaction per channel agree with the attentions
stored: the report rows, the /metrics series and the gerente's page all equal a
count made here from the rows themselves, and the figures worked out by hand.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agent_api.web.reportes import ReportSources
from citizen.channels import Channel
from crm_bridge.contacts import ContactAttentions
from crm_bridge.db import make_engine, upgrade
from crm_bridge.models import Attention
from crm_bridge.organisms import Role
from dashboards.channel_figures import (
    DEFAULT_THRESHOLDS,
    ChannelCollector,
    ChannelCounts,
    channel_report,
    threshold_of,
)
from dashboards.metric_names import CHANNEL_ATTENTIONS, exposed_names
from dashboards.report_queries import ReportSpan
from telephony.domain import Outcome
from tests.agent_api.conftest import build_panel
from tests.agent_api.test_web_pages import form_login
from tests.support.postgres import fresh_database

TZ = ZoneInfo("America/Montevideo")
DAY = datetime(2026, 4, 6, tzinfo=TZ)
SPAN = ReportSpan(DAY, DAY + timedelta(days=1), TZ)


def at(hour: int, minute: int = 0, second: int = 0, *, days: int = 0) -> datetime:
    return (DAY + timedelta(days=days, hours=hour, minutes=minute, seconds=second)).astimezone(UTC)


def _call(
    linkedid: str, arrived: datetime, wait: float | None, outcome: str, score: int | None
) -> Attention:
    answered = None if outcome != "answered" or wait is None else arrived + timedelta(seconds=wait)
    return Attention(
        system="pbx",
        linkedid=linkedid,
        channel="telefonico",
        caller_number_raw="",
        caller_number=None,
        caller_name="",
        arrived_at=arrived,
        answered_at=answered,
        ended_at=arrived + timedelta(minutes=5),
        ivr_path=[],
        queues=["consultas"],
        queue="consultas",
        agent="ana" if answered else None,
        agents=["ana"] if answered else [],
        legs=[],
        wait_seconds=wait,
        outcome=outcome,
        hangup_side="caller",
        variables={},
        survey_score=score,
    )


def load(engine: Engine) -> None:
    """The day, by channel (T: telefonico 20 s, presencial 15 min, web 24 h):

    telefonico: 5 arrived — answered at 10 s (score 5), at 20 s (the `<=`
      rule: within; score 3), at 45 s (late; score 1), abandoned at 30 s,
      finished in the IVR → answered 3, within 2, abandoned 1, SL 2/4 = 50 %.
      Plus one the day before: outside the span.
    presencial: 3 — answered after 10 min (score 4), after 20 min (late),
      left unattended → answered 2, within 1, abandoned 1, SL 1/3.
    web: 2 — answered (first response) after 2 h, one still waiting →
      answered 1, within 1, abandoned 0, SL 1/1 = 100 %.
    """
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                _call("c1", at(9), 10, "answered", 5),
                _call("c2", at(9, 5), 20, "answered", 3),
                _call("c3", at(9, 10), 45, "answered", 1),
                _call("c4", at(9, 15), 30, "abandoned", None),
                _call("c5", at(9, 20), None, "ivr_completed", None),
                _call("c0", at(9, days=-1), 5, "answered", 5),
            ]
        )
    contacts = ContactAttentions(engine)
    w1 = contacts.open(Channel.PRESENCIAL, arrived_at=at(10))
    contacts.answer(w1, agent="bea", at=at(10, 10))
    contacts.close(w1, at=at(10, 20))
    w2 = contacts.open(Channel.PRESENCIAL, arrived_at=at(11))
    contacts.answer(w2, agent="bea", at=at(11, 20))
    contacts.close(w2, at=at(11, 30))
    w3 = contacts.open(Channel.PRESENCIAL, arrived_at=at(12))
    contacts.close(w3, at=at(12, 40), outcome=Outcome.ABANDONED)
    r1 = contacts.open(Channel.WEB, arrived_at=at(13))
    contacts.answer(r1, agent="rita", at=at(15))
    contacts.close(r1, at=at(15))
    contacts.open(Channel.WEB, arrived_at=at(16))
    with Session(engine) as session, session.begin():
        row = session.scalars(select(Attention).where(Attention.linkedid == w1.linkedid)).one()
        row.survey_score = 4


HAND = {
    "telefonico": ChannelCounts(attentions=5, answered=3, answered_within=2, abandoned=1),
    "presencial": ChannelCounts(attentions=3, answered=2, answered_within=1, abandoned=1),
    "web": ChannelCounts(attentions=2, answered=1, answered_within=1, abandoned=0),
}


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "chanfig", migrate=True) as db:
        yield db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('chanfig') / 'store.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
    built = make_engine(url)
    load(built)
    yield built
    built.dispose()


def counted_from_rows(engine: Engine) -> dict[str, ChannelCounts]:
    """The definitions applied in Python to every stored attention of the span."""
    with Session(engine) as session:
        rows = session.scalars(select(Attention)).all()
        found: dict[str, ChannelCounts] = {}
        for row in rows:
            arrived = (
                row.arrived_at if row.arrived_at.tzinfo else row.arrived_at.replace(tzinfo=UTC)
            )
            if not SPAN.start <= arrived < SPAN.end:
                continue
            answered = row.answered_at is not None
            within = answered and (row.wait_seconds or 0) <= threshold_of(row.channel)
            found[row.channel] = found.get(row.channel, ChannelCounts()) + ChannelCounts(
                1, int(answered), int(within), int(row.outcome == "abandoned")
            )
    return found


def test_service_level_arithmetic() -> None:
    assert ChannelCounts(5, 3, 2, 1).service_level == 0.5
    assert ChannelCounts(5, 3, 2, 1).other == 1 and ChannelCounts(5, 3, 2, 1).answered_late == 1
    assert ChannelCounts(2, 0, 0, 0).service_level is None  # nothing settled: no figure
    assert threshold_of("telefonico") == 20 and threshold_of("fax") == 24 * 3600


def test_the_report_agrees_with_the_stored_attentions(engine: Engine) -> None:
    rows = channel_report(engine, SPAN)
    by_channel = {r.channel: r.counts for r in rows}
    assert by_channel == HAND == counted_from_rows(engine)
    assert [r.channel for r in rows] == ["telefonico", "presencial", "web"]  # vocabulary order
    assert by_channel["telefonico"].service_level == 0.5
    assert by_channel["presencial"].service_level == pytest.approx(1 / 3)
    assert by_channel["web"].service_level == 1.0
    # Satisfaction per channel is the indicators' CSAT: (5 + 3 + 1) / 3 and 4 / 1.
    satisfaction = {r.channel: r.satisfaction for r in rows}
    assert satisfaction["telefonico"].responses == 3 and satisfaction["telefonico"].mean == 3.0
    assert satisfaction["presencial"].mean == 4.0 and satisfaction["web"].responses == 0
    # The day before counts only in its own span.
    before = channel_report(engine, ReportSpan(SPAN.start - timedelta(days=1), SPAN.start, TZ))
    assert [(r.channel, r.counts.attentions) for r in before] == [("telefonico", 1)]


def test_the_metrics_series_add_up_to_the_report(engine: Engine) -> None:
    registry = CollectorRegistry()
    registry.register(ChannelCollector(engine, window_days=1, clock=lambda: SPAN.end))
    series: dict[tuple[str, str], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            assert sample.name in exposed_names()
            if sample.name == CHANNEL_ATTENTIONS:
                assert set(sample.labels) == {"window", "channel", "state"}
                series[sample.labels["channel"], sample.labels["state"]] = sample.value
    for channel, counts in HAND.items():
        assert series[channel, "answered_within"] == counts.answered_within
        assert series[channel, "answered_late"] == counts.answered_late
        assert series[channel, "abandoned"] == counts.abandoned
        assert sum(v for (c, _), v in series.items() if c == channel) == counts.attentions
    assert (
        registry.get_sample_value("atiende_channel_sl_threshold_seconds", {"channel": "web"})
        == DEFAULT_THRESHOLDS["web"]
    )


@pytest.mark.postgres
def test_the_gerente_reads_the_same_figures(pg_url: str) -> None:
    panel = build_panel(pg_url)
    with Session(panel.engine) as session:
        if session.scalars(select(Attention.id).limit(1)).first() is None:
            load(panel.engine)  # run alone, without the parametrised tests first
    try:
        panel.app.state.report_sources = ReportSources(panel.engine, TZ)
        client = panel.client()
        form_login(client, panel.usernames[Role.GERENTE])
        page = client.get("/reportes?desde=2026-04-06&hasta=2026-04-06")
        assert page.status_code == 200, page.text
        html = page.text
        assert '<table id="tabla-canales">' in html
        phone = (
            '<tr data-canal="telefonico"><td>Teléfono</td><td class="num">5</td>'
            '<td class="num">3</td><td class="num">2</td><td class="num">1</td>'
            '<td class="num">00:20</td><td class="num">50,0 %</td>'
            '<td class="num">3</td><td class="num">3,00</td></tr>'
        )
        assert phone in html
        assert '<tr data-canal="web"><td>Web</td><td class="num">2</td>' in html
    finally:
        panel.engine.dispose()
