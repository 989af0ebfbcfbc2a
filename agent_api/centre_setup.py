"""Setting up a centre: organisms, units, referents, SLA hours, catalog topics, users.

One place for what the admin API, the /admin pages and `atiende admin`
commands do, so the three behave the same: the same checks, the same
Spanish errors, and one audit row per change (action `admin_change`, the
resource, what was done and the ids; never a password).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_api.audit import AuditAction, AuditLog
from agent_api.catalog import Catalog, TopicInput, TopicView
from agent_api.exceptions import Conflict, InvalidInput, NotFound
from agent_api.users import PanelUser, UserStore
from crm_bridge.exceptions import InvalidValueError, RecordRejectedError
from crm_bridge.organisms import (
    Directory,
    OrganismView,
    Role,
    ServiceLevelView,
    UnitView,
    UserView,
)
from crm_bridge.ticket_rules import RequestType

REQUEST_TYPE_LABELS = {
    RequestType.CONSULTA: "Consulta",
    RequestType.SUGERENCIA: "Sugerencia",
    RequestType.QUEJA: "Queja",
    RequestType.RECLAMO: "Reclamo",
}


def record_change(
    audit: AuditLog, actor_id: int | None, resource: str, op: str, **details: Any
) -> None:
    """One audit row for one change of the centre's set-up (no personal data)."""
    audit.record(
        AuditAction.ADMIN_CHANGE,
        actor_id=actor_id,
        person_ids=[None],
        details={"resource": resource, "op": op, **details},
    )


class CentreSetup:
    def __init__(
        self, directory: Directory, catalog: Catalog, users: UserStore, audit: AuditLog
    ) -> None:
        self.directory = directory
        self.catalog = catalog
        self.users = users
        self._audit = audit

    def _record(self, actor_id: int | None, resource: str, op: str, **details: Any) -> None:
        record_change(self._audit, actor_id, resource, op, **details)

    # ------------------------------------------------------------- organisms

    def organism(self, ref: int | str) -> OrganismView:
        """By id, or by code when `ref` is text."""
        found = (
            self.directory.get_organism(ref)
            if isinstance(ref, int)
            else self.directory.find_organism(ref)
        )
        if found is None:
            raise NotFound(f"no organism {ref!r}", detalle=f"El organismo {ref!r} no existe.")
        return found

    def create_organism(self, code: str, name: str, *, actor_id: int | None) -> OrganismView:
        if self.directory.find_organism(code) is not None:
            raise Conflict(
                "organism code taken", detalle=f"Ya existe un organismo con el código {code!r}."
            )
        try:
            made = self.directory.create_organism(code, name)
        except InvalidValueError as err:
            raise InvalidInput(
                str(err), detalle="El código (hasta 32) y el nombre (hasta 200) son obligatorios."
            ) from err
        except RecordRejectedError as err:
            raise Conflict(str(err), detalle="Ese código de organismo ya está en uso.") from err
        self._record(actor_id, "organism", "create", organism_id=made.id, code=made.code)
        return made

    def rename_organism(self, organism_id: int, name: str, *, actor_id: int | None) -> OrganismView:
        self.organism(organism_id)
        try:
            done = self.directory.rename_organism(organism_id, name)
        except InvalidValueError as err:
            raise InvalidInput(str(err), detalle="Escriba el nombre (hasta 200).") from err
        self._record(actor_id, "organism", "rename", organism_id=organism_id)
        return done

    # ------------------------------------------------------------------ units

    def unit(self, organism: int | str, ref: int | str) -> UnitView:
        """A unit of the organism, by id or code."""
        org = self.organism(organism)
        if isinstance(ref, int):
            found = self.directory.get_unit(ref)
        else:
            found = self.directory.find_unit(org.id, ref)
        if found is None or found.organism_id != org.id:
            raise NotFound(
                f"no unit {ref!r}", detalle=f"La unidad {ref!r} no existe en {org.code}."
            )
        return found

    def unit_by_id(self, unit_id: int) -> UnitView:
        found = self.directory.get_unit(unit_id)
        if found is None:
            raise NotFound(f"no unit {unit_id}", detalle="Esa unidad no existe.")
        return found

    def create_unit(
        self,
        organism: int | str,
        code: str,
        name: str,
        *,
        parent: int | str | None = None,
        actor_id: int | None,
    ) -> UnitView:
        org = self.organism(organism)
        if self.directory.find_unit(org.id, code) is not None:
            raise Conflict(
                "unit code taken", detalle=f"{org.code} ya tiene una unidad con el código {code!r}."
            )
        parent_id = None if parent is None else self.unit(org.id, parent).id
        try:
            made = self.directory.create_unit(org.id, code, name, parent_id=parent_id)
        except InvalidValueError as err:
            raise InvalidInput(
                str(err), detalle="El código (hasta 32) y el nombre (hasta 200) son obligatorios."
            ) from err
        except RecordRejectedError as err:
            raise Conflict(str(err), detalle="Ese código de unidad ya está en uso.") from err
        self._record(
            actor_id, "unit", "create", unit_id=made.id, organism_id=org.id, code=made.code
        )
        return made

    def rename_unit(self, unit_id: int, name: str, *, actor_id: int | None) -> UnitView:
        self.unit_by_id(unit_id)
        try:
            done = self.directory.rename_unit(unit_id, name)
        except InvalidValueError as err:
            raise InvalidInput(str(err), detalle="Escriba el nombre (hasta 200).") from err
        self._record(actor_id, "unit", "rename", unit_id=unit_id)
        return done

    # -------------------------------------------------------------- referents

    def user(self, ref: int | str) -> PanelUser:
        if isinstance(ref, int):
            found = self.users.get(ref)
        else:
            found = next((u for u in self.users.all() if u.username == ref.strip()), None)
        if found is None:
            raise NotFound(f"no user {ref!r}", detalle=f"El usuario {ref!r} no existe.")
        return found

    def add_referent(self, unit_id: int, user: int | str, *, actor_id: int | None) -> UserView:
        target = self.user(user)
        self.unit_by_id(unit_id)
        if target.role is not Role.REFERENTE:
            raise InvalidInput(
                "not a referente",
                detalle=f"{target.display_name} no tiene el rol referente; cámbielo primero.",
            )
        if not target.active:
            raise InvalidInput("inactive user", detalle="Ese usuario está desactivado.")
        self.directory.add_referent(unit_id, target.id)
        self._record(actor_id, "referent", "add", unit_id=unit_id, user_id=target.id)
        return UserView(target.id, target.username, target.display_name, target.role, True)

    def remove_referent(self, unit_id: int, user_id: int, *, actor_id: int | None) -> None:
        self.unit_by_id(unit_id)
        self.directory.remove_referent(unit_id, user_id)
        self._record(actor_id, "referent", "remove", unit_id=unit_id, user_id=user_id)

    # --------------------------------------------------------- service levels

    def set_service_level(
        self,
        organism: int | str,
        request_type: RequestType | str,
        business_hours: float,
        *,
        unit: int | str | None = None,
        actor_id: int | None,
    ) -> ServiceLevelView:
        org = self.organism(organism)
        unit_id = None if unit is None else self.unit(org.id, unit).id
        try:
            kind = RequestType(str(request_type))
        except ValueError as err:
            raise InvalidInput(
                "request type", detalle="El tipo debe ser consulta, sugerencia, queja o reclamo."
            ) from err
        try:
            self.directory.set_service_level(org.id, kind, business_hours, unit_id=unit_id)
        except InvalidValueError as err:
            raise InvalidInput(
                str(err), detalle="Las horas hábiles deben ser un número mayor que 0."
            ) from err
        self._record(
            actor_id,
            "service_level",
            "set",
            organism_id=org.id,
            unit_id=unit_id,
            request_type=kind.value,
            business_hours=business_hours,
        )
        return ServiceLevelView(org.id, unit_id, kind, business_hours)

    # ----------------------------------------------------------------- topics

    def topic(self, topic_id: int) -> TopicView:
        found = self.catalog.get(topic_id)
        if found is None:
            raise NotFound(f"no topic {topic_id}", detalle="Ese trámite o servicio no existe.")
        return found

    def import_topics(
        self, topics: Sequence[TopicInput], *, actor_id: int | None
    ) -> tuple[int, int]:
        created, updated = self.catalog.import_topics(list(topics))
        self._record(actor_id, "topic", "import", created=created, updated=updated)
        return created, updated

    def save_topic(self, topic: TopicInput, *, actor_id: int | None) -> TopicView:
        """Create or update one topic by its code (the import's rule for one row)."""
        created, _ = self.catalog.import_topics([topic])
        saved = next(t for t in self.catalog.topics(include_inactive=True) if t.code == topic.code)
        self._record(
            actor_id, "topic", "create" if created else "update", topic_id=saved.id, code=saved.code
        )
        return saved

    def topic_codes(self, topic: TopicView) -> tuple[str | None, str | None]:
        """The organism and unit codes a topic derives to (what TopicInput takes)."""
        organism = None if topic.organism_id is None else self.organism(topic.organism_id)
        unit = None if topic.unit_id is None else self.unit_by_id(topic.unit_id)
        return (
            None if organism is None else organism.code,
            None if unit is None else unit.code,
        )

    # ------------------------------------------------------------------ users

    def create_user(
        self,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        interfaces: Sequence[str] = (),
        *,
        actor_id: int | None,
    ) -> PanelUser:
        made = self.users.create(username, display_name, role, password, interfaces)
        self._record(actor_id, "user", "create", user_id=made.id, role=made.role.value)
        return made

    def update_user(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        active: bool | None = None,
        display_name: str | None = None,
        password: str | None = None,
        actor_id: int | None,
    ) -> PanelUser:
        done = self.users.update(
            user_id, role=role, active=active, display_name=display_name, password=password
        )
        changed = [
            name
            for name, value in (
                ("role", role),
                ("active", active),
                ("display_name", display_name),
                ("password", password),
            )
            if value is not None
        ]
        self._record(actor_id, "user", "update", user_id=user_id, fields=changed)
        return done

    def set_interfaces(
        self, user_id: int, interfaces: Sequence[str], *, actor_id: int | None
    ) -> PanelUser:
        done = self.users.set_interfaces(user_id, interfaces)
        self._record(actor_id, "user", "interfaces", user_id=user_id, interfaces=list(interfaces))
        return done
