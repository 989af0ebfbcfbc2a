"""What need to know costs on a read: the pop's summary, the record at answer,
a person read with a call as reason (check + read + audit row), on PostgreSQL.

    python -m bench.person_reads [--persons 20000] [--audit 200000] [--reads 300]

A throwaway database on ATIENDE_TEST_POSTGRES_URL's server (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) holds `--persons`
persons with a phone each, `--audit` audit rows spread over as many calls,
and one answered call per read; each contender is timed call by call and the
table shows the median and p99 in milliseconds. Functions are called as the
routes call them (agent_api.routes.persons.read, routes.calls.person_of_call),
without HTTP, so the figures are the rule's and the store's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "ATIENDE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SYSTEM = "pbx-bench"
INTERFACE = "PJSIP/bench"


def _phone(i: int) -> str:
    return f"+59899{i:06d}"


def _timed(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    laps = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        laps.append((time.perf_counter() - t0) * 1000)
    laps.sort()
    return statistics.median(laps), laps[min(len(laps) - 1, int(len(laps) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--audit", type=int, default=200_000)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()

    from agent_api.audit import AuditLog
    from agent_api.auth import Principal
    from agent_api.need_to_know import Reason
    from agent_api.pop_lookup import StorePopLookup
    from agent_api.routes import calls as call_routes
    from agent_api.routes import persons as person_routes
    from agent_api.testing import RecordingControls
    from agent_api.ws import PopHub
    from atiende.panel_app import panel_app
    from crm_bridge.db import make_engine, upgrade
    from crm_bridge.history import PersonHistory
    from crm_bridge.models import (
        Attention,
        AuditEntry,
        Person,
        PersonConsent,
        PersonPhone,
        User,
    )
    from crm_bridge.organisms import Role
    from crm_bridge.persons import PersonRegistry
    from telephony.domain import CallKey

    admin = create_engine(make_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"atiende_bench_ntk_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = make_engine(url)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            agent_id = conn.execute(
                insert(User).returning(User.id),
                {
                    "username": "agente",
                    "display_name": "Agente",
                    "role": "ejecutivo",
                    "active": True,
                },
            ).scalar_one()
            ids = (
                conn.execute(
                    insert(Person).returning(Person.id),
                    [
                        {
                            "given_names": f"Nombre{i}",
                            "family_names": f"Apellido{i}",
                            "search_name": f"nombre{i} apellido{i}",
                            "search_family": f"apellido{i} nombre{i}",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(args.persons)
                    ],
                )
                .scalars()
                .all()
            )
            conn.execute(
                insert(PersonConsent),
                [
                    {"person_id": pid, "category": c, "granted": True, "decided_at": now}
                    for pid in ids
                    for c in ("identificacion", "contacto")
                ],
            )
            conn.execute(
                insert(PersonPhone),
                [{"person_id": pid, "number": _phone(i)} for i, pid in enumerate(ids)],
            )
            for start in range(0, args.audit, 50_000):
                conn.execute(
                    insert(AuditEntry),
                    [
                        {
                            "at": now,
                            "actor_id": agent_id,
                            "action": "pop_disclosure",
                            "person_id": ids[i % len(ids)],
                            "call_system": SYSTEM,
                            "call_linkedid": f"old-{i}",
                            "details": {},
                        }
                        for i in range(start, min(args.audit, start + 50_000))
                    ],
                )
            leg = {"interface": INTERFACE, "answered_at": now.isoformat(), "queue": "q"}
            conn.execute(
                insert(Attention),
                [
                    {
                        "system": SYSTEM,
                        "linkedid": f"call-{i}",
                        "caller_number_raw": _phone(i),
                        "caller_number": _phone(i),
                        "caller_name": "",
                        "arrived_at": now,
                        "ivr_path": [],
                        "queues": ["q"],
                        "queue": "q",
                        "agents": [],
                        "legs": [leg],
                        "outcome": "answered",
                        "hangup_side": "agent",
                        "variables": {},
                    }
                    for i in range(args.reads)
                ],
            )
            conn.execute(text("ANALYZE"))
        app = panel_app(
            engine=engine,
            hub=PopHub(None),
            controls=RecordingControls(),
            agents_snapshot=list,
            secret_key="bench-secret-key-that-is-long-enough-0123456789",
            allowed_origins=[],
        )
        services = app.state.services
        user = Principal(agent_id, "agente", "Agente", Role.EJECUTIVO, (INTERFACE,), "s", "c")
        lookup = StorePopLookup(
            engine, PersonRegistry(engine), PersonHistory(engine), AuditLog(engine)
        )

        def pop(i: int) -> object:
            key = CallKey(SYSTEM, f"call-{i}")
            return lookup.lookup(key, _phone(i), {}, [agent_id])

        def at_answer(i: int) -> object:
            return call_routes.person_of_call(SYSTEM, f"call-{i}", user, services, None)

        def read(i: int) -> object:
            reason = Reason(call=CallKey(SYSTEM, f"call-{i}"))
            return person_routes.read(ids[i], user, services, reason)

        rows = [
            ("pop summary (before answer)", _timed(pop, args.reads)),
            ("record at answer (route)", _timed(at_answer, args.reads)),
            ("person read with a call reason", _timed(read, args.reads)),
        ]
        print(f"persons={args.persons} audit rows={args.audit} reads={args.reads}")
        print(f"{'contender':34} {'median ms':>10} {'p99 ms':>8}")
        for label, (median, p99) in rows:
            print(f"{label:34} {median:10.2f} {p99:8.2f}")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
