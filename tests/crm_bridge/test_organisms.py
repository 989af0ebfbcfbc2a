"""Organisms, nested executing units, referents and service levels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from crm_bridge.db import make_engine
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.models import USER_ROLES
from crm_bridge.organisms import Directory, Role
from tests.crm_bridge.citizen_support import empty_store


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def directory(store: Engine) -> Directory:
    return Directory(store)


def test_roles_match_the_users_table() -> None:
    # The roles document of the seeds: ejecutivo, supervisor, gerente, referente, admin.
    assert tuple(role.value for role in Role) == USER_ROLES


def test_units_nest_and_list_as_a_tree(directory: Directory) -> None:
    bps = directory.create_organism("BPS", "Banco de Previsión Social")
    prest = directory.create_unit(bps.id, "PREST", "Prestaciones")
    jub = directory.create_unit(bps.id, "JUB", "Jubilaciones", parent_id=prest.id)
    pens = directory.create_unit(bps.id, "PENS", "Pensiones", parent_id=jub.id)
    atyr = directory.create_unit(bps.id, "ATYR", "Asesoría Tributaria y Recaudación")
    tree = directory.units(bps.id)
    assert [(u.code, u.depth) for u in tree] == [
        ("ATYR", 0),
        ("PREST", 0),
        ("JUB", 1),
        ("PENS", 2),
    ]
    assert [u.code for u in directory.unit_path(pens.id)] == ["PREST", "JUB", "PENS"]
    assert pens.depth == 2 and atyr.parent_id is None
    unit = directory.get_unit(pens.id)
    assert unit is not None and unit.depth == 2


def test_a_parent_unit_of_another_organism_is_refused(directory: Directory) -> None:
    bps = directory.create_organism("BPS", "BPS")
    dgi = directory.create_organism("DGI", "DGI")
    unit = directory.create_unit(bps.id, "PREST", "Prestaciones")
    with pytest.raises(InvalidValueError, match="same organism"):
        directory.create_unit(dgi.id, "X", "X", parent_id=unit.id)
    with pytest.raises(NotFoundError):
        directory.create_unit(dgi.id + 100, "X", "X")


def test_only_referents_answer_for_units(directory: Directory) -> None:
    org = directory.create_organism("MIDES", "Ministerio de Desarrollo Social")
    unit = directory.create_unit(org.id, "TUS", "Tarjeta Uruguay Social")
    referent = directory.create_user("lrodriguez", "Laura Rodríguez", Role.REFERENTE)
    agent = directory.create_user("agomez", "Ana Gómez", "ejecutivo")
    directory.add_referent(unit.id, referent.id)
    directory.add_referent(unit.id, referent.id)  # idempotent
    with pytest.raises(InvalidValueError, match="referente"):
        directory.add_referent(unit.id, agent.id)
    assert [u.username for u in directory.referents(unit.id)] == ["lrodriguez"]
    assert [u.code for u in directory.units_of_referent(referent.id)] == ["TUS"]
    assert directory.is_referent_of(unit.id, referent.id)
    directory.remove_referent(unit.id, referent.id)
    assert directory.referents(unit.id) == []


def test_users_have_unique_names_and_known_roles(directory: Directory, store: Engine) -> None:
    directory.create_user("agomez", "Ana Gómez", "supervisor")
    with pytest.raises(Exception, match="refused"):
        directory.create_user("agomez", "Otra Ana", "ejecutivo")
    with pytest.raises(InvalidValueError, match="role"):
        directory.create_user("x", "X", "root")
    # The database refuses an unknown role too (written around the service).
    with pytest.raises(Exception, match=r"(?i)check"), store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, display_name, role, active)"
                " VALUES ('y', 'Y', 'root', true)"
            )
        )
    user = directory.find_user("agomez")
    assert user is not None and user.role is Role.SUPERVISOR and user.active


def test_service_levels_unit_then_ancestors_then_organism(directory: Directory) -> None:
    org = directory.create_organism("BPS", "BPS")
    top = directory.create_unit(org.id, "PREST", "Prestaciones")
    child = directory.create_unit(org.id, "JUB", "Jubilaciones", parent_id=top.id)
    other = directory.create_unit(org.id, "ATYR", "Recaudación")
    assert directory.service_level(org.id, "reclamo") is None
    directory.set_service_level(org.id, "reclamo", 40)
    directory.set_service_level(org.id, "reclamo", 24, unit_id=top.id)
    assert directory.service_level(org.id, "reclamo") == 40
    assert directory.service_level(org.id, "reclamo", unit_id=top.id) == 24
    assert directory.service_level(org.id, "reclamo", unit_id=child.id) == 24  # inherited
    assert directory.service_level(org.id, "reclamo", unit_id=other.id) == 40
    directory.set_service_level(org.id, "reclamo", 8, unit_id=child.id)
    directory.set_service_level(org.id, "reclamo", 30)  # update in place
    assert directory.service_level(org.id, "reclamo", unit_id=child.id) == 8
    assert directory.service_level(org.id, "reclamo") == 30
    assert directory.service_level(org.id, "queja") is None
    with pytest.raises(InvalidValueError):
        directory.set_service_level(org.id, "reclamo", 0)
    with pytest.raises(InvalidValueError, match="request type"):
        directory.set_service_level(org.id, "felicitación", 4)
