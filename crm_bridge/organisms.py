"""Users, organisms, their executing units (nested), unit referents and service levels.

The `users` table is minimal for now: the authentication feature adds
passwords and sessions on top of it. A referent is a user with the
`referente` role answering for one or more units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.models import Organism, ServiceLevel, Unit, UnitReferent, User
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import RequestType, parse_enum


class Role(StrEnum):
    EJECUTIVO = "ejecutivo"
    SUPERVISOR = "supervisor"
    GERENTE = "gerente"
    REFERENTE = "referente"
    ADMIN = "admin"


# Units nest; a chain deeper than this is a cycle or a data error.
MAX_UNIT_DEPTH = 32


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool


@dataclass(frozen=True, slots=True)
class OrganismView:
    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ServiceLevelView:
    organism_id: int
    unit_id: int | None  # None: the organism's own level
    request_type: RequestType
    business_hours: float


@dataclass(frozen=True, slots=True)
class UnitView:
    id: int
    organism_id: int
    parent_id: int | None
    code: str
    name: str
    depth: int = 0  # 0 for a unit directly under the organism


def _user(row: User) -> UserView:
    return UserView(row.id, row.username, row.display_name, Role(row.role), row.active)


def _unit(row: Unit, depth: int = 0) -> UnitView:
    return UnitView(row.id, row.organism_id, row.parent_id, row.code, row.name, depth)


def _required(text: str, what: str, limit: int) -> str:
    value = text.strip()
    if not value or len(value) > limit:
        raise InvalidValueError(f"{what} must be 1 to {limit} characters")
    return value


class Directory:
    """Organisms, units, users and referents; service levels per request type."""

    def __init__(self, engine: Engine) -> None:
        factory = session_factory(engine)
        self._sessions: Callable[[], Session] = factory
        self._begin = factory.begin

    # ---------------------------------------------------------------- users

    def create_user(self, username: str, display_name: str, role: Role | str) -> UserView:
        row = User(
            username=_required(username, "username", 64),
            display_name=_required(display_name, "display name", 200),
            role=parse_enum(Role, str(role), "role").value,
            active=True,
        )
        with translated("creating a user"), self._begin() as session:
            session.add(row)
            session.flush()
            return _user(row)

    def get_user(self, user_id: int) -> UserView | None:
        with translated("reading a user"), self._sessions() as session:
            row = session.get(User, user_id)
            return None if row is None else _user(row)

    def find_user(self, username: str) -> UserView | None:
        with translated("reading a user"), self._sessions() as session:
            row = session.scalars(select(User).where(User.username == username)).first()
            return None if row is None else _user(row)

    # ------------------------------------------------------ organisms, units

    def create_organism(self, code: str, name: str) -> OrganismView:
        row = Organism(code=_required(code, "code", 32), name=_required(name, "name", 200))
        with translated("creating an organism"), self._begin() as session:
            session.add(row)
            session.flush()
            return OrganismView(row.id, row.code, row.name)

    def organisms(self) -> list[OrganismView]:
        with translated("reading organisms"), self._sessions() as session:
            rows = session.scalars(select(Organism).order_by(Organism.name)).all()
            return [OrganismView(r.id, r.code, r.name) for r in rows]

    def create_unit(
        self, organism_id: int, code: str, name: str, *, parent_id: int | None = None
    ) -> UnitView:
        """A unit of `organism_id`, under the unit `parent_id` (same organism) if given."""
        with translated("creating a unit"), self._begin() as session:
            if session.get(Organism, organism_id) is None:
                raise NotFoundError(f"no organism {organism_id}")
            depth = 0
            if parent_id is not None:
                parent = session.get(Unit, parent_id)
                if parent is None or parent.organism_id != organism_id:
                    raise InvalidValueError("the parent unit must belong to the same organism")
                depth = len(_ancestors(session, parent))
            row = Unit(
                organism_id=organism_id,
                parent_id=parent_id,
                code=_required(code, "code", 32),
                name=_required(name, "name", 200),
                active=True,
            )
            session.add(row)
            session.flush()
            return _unit(row, depth)

    def get_unit(self, unit_id: int) -> UnitView | None:
        with translated("reading a unit"), self._sessions() as session:
            row = session.get(Unit, unit_id)
            return None if row is None else _unit(row, len(_ancestors(session, row)) - 1)

    def units(self, organism_id: int) -> list[UnitView]:
        """The organism's units as a tree walked depth first (parents before children)."""
        with translated("reading units"), self._sessions() as session:
            rows = session.scalars(
                select(Unit).where(Unit.organism_id == organism_id).order_by(Unit.code)
            ).all()
        children: dict[int | None, list[Unit]] = {}
        for row in rows:
            children.setdefault(row.parent_id, []).append(row)
        ordered: list[UnitView] = []

        def walk(parent: int | None, depth: int) -> None:
            if depth > MAX_UNIT_DEPTH:
                return
            for row in children.get(parent, []):
                ordered.append(_unit(row, depth))
                walk(row.id, depth + 1)

        walk(None, 0)
        return ordered

    def unit_path(self, unit_id: int) -> list[UnitView]:
        """The unit and its ancestors, from the top unit down to it."""
        with translated("reading a unit"), self._sessions() as session:
            row = session.get(Unit, unit_id)
            if row is None:
                raise NotFoundError(f"no unit {unit_id}")
            chain = list(reversed(_ancestors(session, row)))
        return [_unit(unit, depth) for depth, unit in enumerate(chain)]

    # -------------------------------------------------------------- referents

    def add_referent(self, unit_id: int, user_id: int) -> None:
        with translated("adding a referent"), self._begin() as session:
            unit, user = session.get(Unit, unit_id), session.get(User, user_id)
            if unit is None:
                raise NotFoundError(f"no unit {unit_id}")
            if user is None:
                raise NotFoundError(f"no user {user_id}")
            if user.role != Role.REFERENTE:
                raise InvalidValueError(f"user {user.username!r} does not have the referente role")
            if session.get(UnitReferent, (unit_id, user_id)) is None:
                session.add(UnitReferent(unit_id=unit_id, user_id=user_id))

    def remove_referent(self, unit_id: int, user_id: int) -> None:
        with translated("removing a referent"), self._begin() as session:
            row = session.get(UnitReferent, (unit_id, user_id))
            if row is not None:
                session.delete(row)

    def referents(self, unit_id: int) -> list[UserView]:
        query = (
            select(User)
            .join(UnitReferent, UnitReferent.user_id == User.id)
            .where(UnitReferent.unit_id == unit_id)
            .order_by(User.display_name)
        )
        with translated("reading referents"), self._sessions() as session:
            return [_user(row) for row in session.scalars(query).all()]

    def units_of_referent(self, user_id: int) -> list[UnitView]:
        query = (
            select(Unit)
            .join(UnitReferent, UnitReferent.unit_id == Unit.id)
            .where(UnitReferent.user_id == user_id)
            .order_by(Unit.code)
        )
        with translated("reading units"), self._sessions() as session:
            return [_unit(row) for row in session.scalars(query).all()]

    def is_referent_of(self, unit_id: int, user_id: int) -> bool:
        with translated("reading referents"), self._sessions() as session:
            return session.get(UnitReferent, (unit_id, user_id)) is not None

    # --------------------------------------------------------- service levels

    def set_service_level(
        self,
        organism_id: int,
        request_type: RequestType | str,
        business_hours: float,
        *,
        unit_id: int | None = None,
    ) -> None:
        """Business hours allowed to answer `request_type` in the organism (or one unit)."""
        kind = parse_enum(RequestType, str(request_type), "request type")
        if not 0 < business_hours <= 24 * 365:
            raise InvalidValueError("a service level is a positive number of business hours")
        with translated("setting a service level"), self._begin() as session:
            if unit_id is not None:
                unit = session.get(Unit, unit_id)
                if unit is None or unit.organism_id != organism_id:
                    raise InvalidValueError("the unit must belong to the organism")
            key = 0 if unit_id is None else unit_id
            row = session.scalars(
                select(ServiceLevel).where(
                    ServiceLevel.organism_id == organism_id,
                    ServiceLevel.unit_key == key,
                    ServiceLevel.request_type == kind.value,
                )
            ).first()
            if row is None:
                session.add(
                    ServiceLevel(
                        organism_id=organism_id,
                        unit_key=key,
                        request_type=kind.value,
                        business_hours=business_hours,
                    )
                )
            else:
                row.business_hours = business_hours

    def service_levels(self, organism_id: int | None = None) -> list[ServiceLevelView]:
        """Every level set (organism-wide ones first), for an admin's table."""
        query = select(ServiceLevel).order_by(
            ServiceLevel.organism_id, ServiceLevel.unit_key, ServiceLevel.request_type
        )
        if organism_id is not None:
            query = query.where(ServiceLevel.organism_id == organism_id)
        with translated("reading service levels"), self._sessions() as session:
            return [
                ServiceLevelView(
                    row.organism_id,
                    None if row.unit_key == 0 else row.unit_key,
                    RequestType(row.request_type),
                    row.business_hours,
                )
                for row in session.scalars(query).all()
            ]

    def get_organism(self, organism_id: int) -> OrganismView | None:
        with translated("reading an organism"), self._sessions() as session:
            row = session.get(Organism, organism_id)
            return None if row is None else OrganismView(row.id, row.code, row.name)

    def find_organism(self, code: str) -> OrganismView | None:
        with translated("reading an organism"), self._sessions() as session:
            row = session.scalars(select(Organism).where(Organism.code == code.strip())).first()
            return None if row is None else OrganismView(row.id, row.code, row.name)

    def find_unit(self, organism_id: int, code: str) -> UnitView | None:
        query = select(Unit).where(Unit.organism_id == organism_id, Unit.code == code.strip())
        with translated("reading a unit"), self._sessions() as session:
            row = session.scalars(query).first()
            return None if row is None else _unit(row, len(_ancestors(session, row)) - 1)

    def rename_organism(self, organism_id: int, name: str) -> OrganismView:
        with translated("renaming an organism"), self._begin() as session:
            row = session.get(Organism, organism_id)
            if row is None:
                raise NotFoundError(f"no organism {organism_id}")
            row.name = _required(name, "name", 200)
            return OrganismView(row.id, row.code, row.name)

    def rename_unit(self, unit_id: int, name: str) -> UnitView:
        with translated("renaming a unit"), self._begin() as session:
            row = session.get(Unit, unit_id)
            if row is None:
                raise NotFoundError(f"no unit {unit_id}")
            row.name = _required(name, "name", 200)
            return _unit(row, len(_ancestors(session, row)) - 1)

    def service_level(
        self, organism_id: int, request_type: RequestType | str, *, unit_id: int | None = None
    ) -> float | None:
        """Hours set for the unit, else its nearest ancestor, else the organism; None if none."""
        kind = parse_enum(RequestType, str(request_type), "request type")
        with translated("reading service levels"), self._sessions() as session:
            return service_level_in(session, organism_id, kind, unit_id)


def service_level_in(
    session: Session, organism_id: int, kind: RequestType, unit_id: int | None
) -> float | None:
    """service_level inside an open session (the ticket service computes due dates with it)."""
    rows = session.scalars(
        select(ServiceLevel).where(
            ServiceLevel.organism_id == organism_id, ServiceLevel.request_type == kind.value
        )
    ).all()
    by_key = {row.unit_key: row.business_hours for row in rows}
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        for ancestor in [] if unit is None else _ancestors(session, unit):
            if ancestor.id in by_key:
                return by_key[ancestor.id]
    return by_key.get(0)


def _ancestors(session: Session, unit: Unit) -> list[Unit]:
    """`unit` and its parents, nearest first."""
    chain = [unit]
    while chain[-1].parent_id is not None and len(chain) <= MAX_UNIT_DEPTH:
        parent = session.get(Unit, chain[-1].parent_id)
        if parent is None:
            break
        chain.append(parent)
    return chain
