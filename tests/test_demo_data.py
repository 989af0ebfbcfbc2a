"""The demo's sample data: seeded once, usable at once."""

from __future__ import annotations

from pathlib import Path

from agent_api.auth import Passwords
from agent_api.catalog import Catalog
from agent_api.users import UserStore
from atiende.demo_data import TOPICS, seed_demo_data
from atiende.settings import Settings
from atiende.wiring import migrate
from crm_bridge.db import make_engine
from crm_bridge.knowledge import KnowledgeBase
from crm_bridge.organisms import Directory, Role
from telephony.simulator.traffic import DEFAULT_QUEUES


def test_seed_is_idempotent_and_every_user_can_log_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate(Settings(database_url=url))
    engine = make_engine(url)
    try:
        first = seed_demo_data(engine)
        second = seed_demo_data(engine)
        assert first == second
        users = UserStore(engine, Passwords())
        assert {user.role for user in first} == set(Role)
        for user in first:
            assert users.authenticate(user.username, user.password) is not None, user
        # Every agent the simulator rings is some user's interface, in both channel styles.
        interfaces = users.interface_map()
        for members in DEFAULT_QUEUES.values():
            for extension, _ in members:
                assert f"PJSIP/{extension}" in interfaces
                assert f"Local/{extension}@agents/n" in interfaces
        directory = Directory(engine)
        referent = directory.find_user("referente")
        assert referent is not None
        # Every unit a demo topic belongs to has the referente, so each
        # ticket reaches someone whose credentials the demo prints.
        organism = next(o for o in directory.organisms() if o.code == "MDE")
        units = {unit.code: unit.id for unit in directory.units(organism.id)}
        assert {topic.unit for topic in TOPICS} <= set(units)
        for code, unit_id in units.items():
            assert directory.is_referent_of(unit_id, referent.id), code
        assert len(Catalog(engine).topics()) == len(TOPICS)
        # The catalog is the knowledge base: real DNIC trámites with their requisitos.
        knowledge = KnowledgeBase(engine)
        cedula = knowledge.search("cedula")[0]
        assert cedula.name == "Cédula de identidad: renovación"
        assert cedula.requirements is not None and "partida de nacimiento" in cedula.requirements
        passport = knowledge.search("pasaporte")[0]
        assert passport.name == "Pasaporte: primera vez"
        assert passport.requirements is not None and "antecedentes" in passport.requirements
        assert passport.online_url is not None
        assert passport.online_url.startswith("https://www.gub.uy/tramites/")
    finally:
        engine.dispose()


def test_walk_in_demo_point_desks_receptionist_and_fresh_kiosk_links(tmp_path: Path) -> None:
    from atiende.demo_data import seed_walkin_demo
    from crm_bridge.contacts import ContactAttentions
    from crm_bridge.turns import TurnService
    from dashboards.kiosk import DESK_TABLET, ROOM_DISPLAY, KioskLinks

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate(Settings(database_url=url))
    engine = make_engine(url)
    try:
        users = seed_demo_data(engine)
        assert any(u.username == "recepcion" and u.role is Role.EJECUTIVO for u in users)
        first = seed_walkin_demo(engine)
        second = seed_walkin_demo(engine)
        turns = TurnService(engine, ContactAttentions(engine))
        [point] = turns.points()
        assert len(turns.desks(point.id)) == 2 and len(turns.topics(point.id)) == 2
        assert all(t.catalog_topic_id is not None for t in turns.topics(point.id))
        assert len(turns.priorities()) == 4
        links = KioskLinks(engine)
        room = second.room.removeprefix("sala/")
        assert links.resolve(room, ROOM_DISPLAY) is not None
        assert links.resolve(room) is None  # not a wallboard link
        assert links.resolve(first.room.removeprefix("sala/"), ROOM_DISPLAY) is None  # revoked
        assert len(second.tablets) == 2
        for _desk, path in second.tablets:
            assert links.resolve(path.removeprefix("evaluacion/"), DESK_TABLET) is not None
    finally:
        engine.dispose()
