"""The public pages' limits shared by API replicas through the real Redis.

Two panels built as `atiende serve` builds its own (atiende.panel_app, the
same secret, each with its own Redis client on the same Redis, as two
replicas are): a guess at one ticket's document spread over both meets one
limit; a panel built again (a restart) finds the count where it was; with
Redis gone both pages refuse with a Spanish 503 page and nothing is logged
but the error's name. No key in Redis holds a number, document, email or
address.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import Engine, func, select

from agent_api.catalog import Catalog
from agent_api.public_limits import KEY_PREFIX, Rule
from agent_api.redis_limits import RedisCounter
from agent_api.testing import RecordingControls
from agent_api.web.publico import UNAVAILABLE, PublicPages
from atiende.panel_app import panel_app
from crm_bridge.models import Ticket
from crm_bridge.tickets import TicketService
from tests.agent_api.conftest import ORIGIN, fast_passwords
from tests.agent_api.test_public_pages import (
    CEDULA,
    built_engine,
    number_in,
    public_hub,
    token_of,
)
from tests.agent_api.test_tickets_api import ALWAYS_OPEN
from tests.support.redis import redis_test_url
from tests.support.tcp import TcpRelay

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

EMAIL = "ana.limites@example.org"
WRONG = "1.111.111-1"


@dataclass
class Replicas:
    engine: Engine
    topic_id: int
    # The secret every replica shares; a fresh one per test, so its keys meet no other test's.
    secret: str
    clients: list[Redis]

    def panel(
        self, redis_url: str | None = None, clock: Callable[[], float] = time.monotonic
    ) -> FastAPI:
        client = Redis.from_url(
            redis_url or redis_test_url(), socket_connect_timeout=1.0, socket_timeout=1.0
        )
        self.clients.append(client)
        app = panel_app(
            engine=self.engine,
            hub=public_hub(self.engine),
            controls=RecordingControls(),
            agents_snapshot=list,
            secret_key=self.secret,
            allowed_origins=[ORIGIN],
            cookie_secure=False,
            passwords=fast_passwords(),
            tickets=TicketService(self.engine, business_hours=ALWAYS_OPEN),
            trusted_proxies=["testclient"],
            public_counter=RedisCounter(client, clock=clock),
        )
        pages: PublicPages = app.state.public
        pages.clock = lambda: time.time() + 5  # as if the person took 5 s to fill the form
        return app

    def tickets(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count(Ticket.id))).scalar_one())


@pytest.fixture
def replicas(panel_db: str) -> Iterator[Replicas]:
    engine = built_engine(panel_db)
    topic_id = next(t.id for t in Catalog(engine).topics() if t.organism_id is not None)
    built = Replicas(engine, topic_id, f"test-secret-{uuid.uuid4().hex}", [])
    try:
        yield built
    finally:
        for client in built.clients:
            client.close()
        engine.dispose()


def client_of(app: FastAPI, address: str = "198.51.100.7") -> TestClient:
    # Behind the trusted proxy "testclient": the forwarded address is the one limited.
    return TestClient(app, headers={"origin": ORIGIN, "x-forwarded-for": address})


def open_request(replicas: Replicas, client: TestClient, **extra: str) -> Any:
    page = client.get("/solicitud")
    data = {
        "token": token_of(page.text), "tipo": "consulta", "tema": str(replicas.topic_id),
        "descripcion": "Consulta sobre límites compartidos", "nombre": "Ana",
        "documento": CEDULA, "correo": EMAIL, "acepto": "on", **extra,
    }  # fmt: skip
    return client.post("/solicitud", data=data)


def track(client: TestClient, number: str, identifier: str) -> int:
    page = client.get("/seguimiento")
    data = {"token": token_of(page.text), "numero": number, "identificacion": identifier}
    return client.post("/seguimiento", data=data).status_code


def test_a_guess_spread_over_two_replicas_meets_one_limit(replicas: Replicas) -> None:
    one, two = replicas.panel(), replicas.panel()
    owner = client_of(one, "198.51.100.7")
    answer = open_request(replicas, owner)
    assert answer.status_code == 201, answer.text
    number = number_in(answer.text)
    # Per (address, number): 5 attempts an hour, wherever they land.
    stranger = [client_of(one, "203.0.113.9"), client_of(two, "203.0.113.9")]
    for attempt in range(5):
        assert track(stranger[attempt % 2], number, WRONG) == 404
    assert track(stranger[1], number, CEDULA) == 429
    assert track(stranger[0], number, CEDULA) == 429
    # The owner, from her own address, on either replica.
    assert track(client_of(two, "198.51.100.7"), number, CEDULA) == 200
    # Per number from every address: the ceiling (4 here) counts both replicas' lookups.
    ceiling = Rule("lookups_per_number", 4, 3600)
    for app in (one, two):
        pages: PublicPages = app.state.public
        pages.limits = replace(pages.limits, lookups_per_number=ceiling)
    other = number_in(open_request(replicas, owner).text)
    for last in range(4):
        app = (one, two)[last % 2]
        assert track(client_of(app, f"192.0.2.{last}"), other, WRONG) == 404
    assert track(client_of(two, "192.0.2.50"), other, CEDULA) == 429
    assert track(client_of(one, "192.0.2.51"), other, CEDULA) == 429


def test_a_restart_keeps_the_count(replicas: Replicas) -> None:
    before = replicas.panel()
    number = number_in(open_request(replicas, client_of(before)).text)
    for _ in range(3):
        assert track(client_of(before, "203.0.113.9"), number, WRONG) == 404
    replicas.clients[0].close()
    after = replicas.panel()  # the API process started again: a new app, a new client
    for _ in range(2):
        assert track(client_of(after, "203.0.113.9"), number, WRONG) == 404
    assert track(client_of(after, "203.0.113.9"), number, CEDULA) == 429


def test_redis_down_refuses_both_pages_in_spanish_without_a_traceback(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = "127.0.0.1", int(redis_test_url().rsplit(":", 1)[1].split("/")[0])
    database = redis_test_url().rsplit("/", 1)[1]
    with TcpRelay(None, (host, port)) as relay:
        now = [0.0]
        app = replicas.panel(f"redis://127.0.0.1:{relay.port}/{database}", lambda: now[0])
        client = client_of(app)
        number = number_in(open_request(replicas, client).text)
        assert track(client, number, CEDULA) == 200
        relay.stop()  # Redis goes away, the panel's pooled connection with it
        before = replicas.tickets()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            page = client.get("/seguimiento")
            lookup = client.post(
                "/seguimiento",
                data={"token": token_of(page.text), "numero": number, "identificacion": CEDULA},
            )
            form = open_request(replicas, client, descripcion="Texto que no se pierde")
        assert lookup.status_code == 503 and UNAVAILABLE in lookup.text
        assert 'id="estado"' not in lookup.text  # refused before the store is read
        assert '<html lang="es-UY">' in lookup.text
        assert form.status_code == 503 and UNAVAILABLE in form.text
        assert "Texto que no se pierde" in form.text  # the citizen's text comes back
        assert replicas.tickets() == before
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
        refusals = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(refusals) == 2
        logged = "\n".join(r.getMessage() for r in caplog.records)
        for personal in (number, "1234567", EMAIL, "198.51.100.7"):
            assert personal not in logged
        relay.start()  # Redis is back: the pages follow without a restart,
        tried = relay.connections
        # not at once: for 2 s after a failure nothing waits on Redis (a flood
        # of posts during an outage must not hold every worker thread),
        assert track(client, number, CEDULA) == 503 and relay.connections == tried
        now[0] += 2.0
        assert track(client, number, CEDULA) == 200  # then it is tried again


def test_no_redis_key_holds_a_number_document_email_or_address(replicas: Replicas) -> None:
    app = replicas.panel()
    client = client_of(app, "198.51.100.23")
    number = number_in(open_request(replicas, client).text)
    assert track(client, number, CEDULA) == 200
    assert track(client, number, EMAIL) == 200
    redis = Redis.from_url(redis_test_url())
    try:
        keys = [k.decode() for k in redis.scan_iter(match=f"{KEY_PREFIX}*", count=1000)]
        pages: PublicPages = app.state.public
        limits = pages.limits
        ours = {
            limits.key(limits.submissions, "198.51.100.23"),
            limits.key(limits.lookups_per_address, "198.51.100.23"),
            limits.key(limits.lookups_per_ticket, "198.51.100.23", number),
            limits.key(limits.lookups_per_number, number),
        }
        assert ours <= set(keys)  # what is checked below is what the pages wrote
        assert [int(redis.get(k) or 0) for k in sorted(ours)] != [0, 0, 0, 0]
        digits = CEDULA.replace(".", "").replace("-", "")
        for key in keys:
            for personal in (number, number.split("-")[1], digits, EMAIL, "198.51.100"):
                assert personal not in key
            assert 0 < redis.pttl(key) <= 3600 * 1000  # every count ends
    finally:
        redis.close()
