"""Setting up walk-in attention: service points, their topics and desks, the
priority list, and the waiting-room display and desk tablet links.

One place for what the /admin/presencial screen and `atiende presencial`
do, so both behave the same: the same checks, Spanish errors that name the
field they are about (`WalkinInvalid.field`), and one audit row per change
(action `admin_change` with the resource, as agent_api.centre_setup; the
kiosk links as the kiosk links API audits them, `kiosk_link`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from agent_api.audit import AuditLog
from agent_api.centre_setup import record_change
from agent_api.exceptions import Conflict, InvalidInput, NotFound
from agent_api.routes.kiosk_links import issue_link, revoke_link
from crm_bridge import turn_rules
from crm_bridge.exceptions import InvalidValueError, NotFoundError, RecordRejectedError
from crm_bridge.turns import DeskView, PointView, TopicView, TurnService
from dashboards.kiosk import DESK_TABLET, MAX_LABEL, ROOM_DISPLAY, KioskLinks, KioskView

T = TypeVar("T")

# Form fields a refusal may be about (the screen puts the message next to it).
CODE, NAME, PREFIX, TOPICS, RANK, LABEL, WAIT, RECALLS = (
    "codigo",
    "nombre",
    "letra",
    "temas",
    "orden",
    "etiqueta",
    "espera",
    "rellamados",
)


class WalkinInvalid(InvalidInput):
    """Refused input; `field` is the form field it is about (None: the whole form)."""

    def __init__(self, message: str, *, detalle: str, field: str | None = None) -> None:
        super().__init__(message, detalle=detalle)
        self.field = field


@dataclass(frozen=True, slots=True)
class PointSetup:
    """A point as the admin sees it: its topics, desks and links (active or not)."""

    point: PointView
    topics: list[TopicView]
    desks: list[DeskView]
    links: list[KioskView]


def _text(value: str, limit: int, field: str, what: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise WalkinInvalid(f"empty {field}", detalle=f"Escriba {what}.", field=field)
    if len(text) > limit:
        raise WalkinInvalid(
            f"{field} too long",
            detalle=f"{what[0].upper()}{what[1:]} tiene hasta {limit} caracteres.",
            field=field,
        )
    return text


def _code(value: str, limit: int, what: str) -> str:
    text = _text(value, limit, CODE, what)
    if any(c.isspace() for c in text):
        raise WalkinInvalid("code with spaces", detalle="El código va sin espacios.", field=CODE)
    return text


class WalkinSetup:
    def __init__(self, turns: TurnService, links: KioskLinks, audit: AuditLog) -> None:
        self.turns = turns
        self.links = links
        self._audit = audit

    def _record(self, actor_id: int | None, resource: str, op: str, **details: Any) -> None:
        record_change(self._audit, actor_id, resource, op, **details)

    @staticmethod
    def _store(work: Callable[[], T], taken: str, field: str | None = CODE) -> T:
        """Store work; the store's refusals as Spanish errors (`taken`: a duplicate)."""
        try:
            return work()
        except RecordRejectedError as err:
            raise Conflict(str(err), detalle=taken) from err
        except NotFoundError as err:
            raise NotFound(str(err), detalle="Ya no existe; recargue la página.") from err
        except InvalidValueError as err:
            detalle = "Algún dato no es válido; revise el formulario."
            if "turns in course" in str(err):
                detalle = "Tiene turnos en espera o en atención: desactívelo cuando terminen."
            elif "topics of its own point" in str(err):
                detalle = "Elija temas activos de este punto."
                field = TOPICS
            raise WalkinInvalid(str(err), detalle=detalle, field=field) from err

    # ---------------------------------------------------------------- reads

    def overview(self) -> list[PointSetup]:
        links = [link for link in self.links.all() if link.active]
        out = []
        for point in self.turns.all_points():
            desks = self.turns.all_desks(point.id)
            desk_ids = {d.id for d in desks}
            out.append(
                PointSetup(
                    point,
                    self.turns.all_topics(point.id),
                    desks,
                    [
                        link
                        for link in links
                        if link.service_point_id == point.id or link.desk_id in desk_ids
                    ],
                )
            )
        return out

    def point_by_code(self, code: str) -> PointView:
        for point in self.turns.all_points():
            if point.code == code:
                return point
        raise NotFound(f"no point {code!r}", detalle=f"El punto {code!r} no existe.")

    def _point(self, point_id: int) -> PointView:
        for point in self.turns.all_points():
            if point.id == point_id:
                return point
        raise NotFound(f"no point {point_id}", detalle="Ese punto de atención no existe.")

    def _desk(self, desk_id: int) -> DeskView:
        for point in self.turns.all_points():
            for desk in self.turns.all_desks(point.id):
                if desk.id == desk_id:
                    return desk
        raise NotFound(f"no desk {desk_id}", detalle="Ese puesto no existe.")

    # --------------------------------------------------------------- points

    def create_point(
        self,
        code: str,
        name: str,
        *,
        target_wait_minutes: int = 15,
        max_recalls: int = 2,
        actor_id: int | None,
    ) -> PointView:
        code = _code(code, 32, "el código del punto")
        name = _text(name, 100, NAME, "el nombre del punto")
        if not 1 <= target_wait_minutes <= 24 * 60:
            raise WalkinInvalid(
                "bad target wait",
                detalle="La espera objetivo es de 1 a 1440 minutos.",
                field=WAIT,
            )
        if not 0 <= max_recalls <= 20:
            raise WalkinInvalid(
                "bad recalls", detalle="Los rellamados son de 0 a 20.", field=RECALLS
            )
        if any(p.code == code for p in self.turns.all_points()):
            raise WalkinInvalid(
                "point code taken",
                detalle=f"Ya existe un punto con el código {code!r}.",
                field=CODE,
            )
        made = self._store(
            lambda: self.turns.create_point(
                code, name, target_wait_seconds=target_wait_minutes * 60, max_recalls=max_recalls
            ),
            "Ese código de punto ya está en uso.",
        )
        self._record(actor_id, "service_point", "create", point_id=made.id, code=made.code)
        return made

    def rename_point(self, point_id: int, name: str, *, actor_id: int | None) -> PointView:
        self._point(point_id)
        name = _text(name, 100, NAME, "el nombre del punto")
        done = self._store(lambda: self.turns.update_point(point_id, name=name), "", NAME)
        self._record(actor_id, "service_point", "rename", point_id=point_id)
        return done

    def set_point_active(self, point_id: int, active: bool, *, actor_id: int | None) -> PointView:
        self._point(point_id)
        done = self._store(lambda: self.turns.update_point(point_id, active=active), "", None)
        self._record(
            actor_id, "service_point", "activate" if active else "deactivate", point_id=point_id
        )
        return done

    # --------------------------------------------------------------- topics

    def add_topic(
        self,
        point_id: int,
        code: str,
        name: str,
        prefix: str,
        *,
        catalog_topic_id: int | None = None,
        actor_id: int | None,
    ) -> TopicView:
        self._point(point_id)
        code = _code(code, 32, "el código del tema")
        name = _text(name, 100, NAME, "el nombre del trámite o servicio")
        letter = prefix.strip().upper()
        if not turn_rules.valid_prefix(letter):
            raise WalkinInvalid(
                "bad prefix", detalle="La letra del turno es una sola letra, A a Z.", field=PREFIX
            )
        topics = self.turns.all_topics(point_id)
        if any(t.prefix == letter for t in topics):
            raise WalkinInvalid(
                "prefix taken",
                detalle=f"La letra {letter} ya es de otro tema de este punto.",
                field=PREFIX,
            )
        if any(t.code == code for t in topics):
            raise WalkinInvalid(
                "topic code taken",
                detalle=f"Este punto ya tiene un tema con el código {code!r}.",
                field=CODE,
            )
        made = self._store(
            lambda: self.turns.add_topic(
                point_id, code, name, letter, catalog_topic_id=catalog_topic_id
            ),
            "Ese código o esa letra ya están en uso en este punto.",
        )
        self._record(actor_id, "service_point_topic", "create", topic_id=made.id, point_id=point_id)
        return made

    def set_topic_active(self, topic_id: int, active: bool, *, actor_id: int | None) -> TopicView:
        done = self._store(lambda: self.turns.update_topic(topic_id, active=active), "", None)
        self._record(
            actor_id,
            "service_point_topic",
            "activate" if active else "deactivate",
            topic_id=topic_id,
        )
        return done

    # ---------------------------------------------------------------- desks

    def add_desk(
        self,
        point_id: int,
        code: str,
        name: str,
        topic_ids: Iterable[int] = (),
        *,
        actor_id: int | None,
    ) -> DeskView:
        self._point(point_id)
        code = _code(code, 16, "el código del puesto")
        name = _text(name, 60, NAME, "el nombre del puesto")
        if any(d.code == code for d in self.turns.all_desks(point_id)):
            raise WalkinInvalid(
                "desk code taken",
                detalle=f"Este punto ya tiene un puesto con el código {code!r}.",
                field=CODE,
            )
        wanted = list(topic_ids)
        made = self._store(
            lambda: self.turns.add_desk(point_id, code, name, wanted),
            "Ese código de puesto ya está en uso en este punto.",
        )
        self._record(
            actor_id,
            "service_desk",
            "create",
            desk_id=made.id,
            point_id=point_id,
            topic_ids=list(made.topic_ids),
        )
        return made

    def topics_by_code(self, point_id: int, codes: Iterable[str]) -> list[int]:
        """The ids of a point's topics named by code (the CLI names them so)."""
        topics = {t.code: t.id for t in self.turns.all_topics(point_id) if t.active}
        wanted = {c.strip() for c in codes if c.strip()}
        unknown = sorted(wanted - set(topics))
        if unknown:
            raise WalkinInvalid(
                f"unknown topics {unknown}",
                detalle=f"El punto no tiene los temas {', '.join(unknown)}.",
                field=TOPICS,
            )
        return [topics[c] for c in sorted(wanted)]

    def update_desk(
        self,
        desk_id: int,
        *,
        name: str | None = None,
        topic_ids: Iterable[int] | None = None,
        active: bool | None = None,
        actor_id: int | None,
    ) -> DeskView:
        self._desk(desk_id)
        if name is not None:
            name = _text(name, 60, NAME, "el nombre del puesto")
        wanted = None if topic_ids is None else list(topic_ids)
        done = self._store(
            lambda: self.turns.update_desk(desk_id, name=name, topic_ids=wanted, active=active),
            "",
            NAME if name is not None else None,
        )
        op = (
            "rename"
            if name is not None
            else "topics"
            if wanted is not None
            else "activate"
            if active
            else "deactivate"
        )
        details: dict[str, Any] = {"desk_id": desk_id}
        if wanted is not None:
            details["topic_ids"] = list(done.topic_ids)
        self._record(actor_id, "service_desk", op, **details)
        return done

    # ----------------------------------------------------------- priorities

    def set_priority(
        self, code: str, label: str, rank: int | None, *, actor_id: int | None
    ) -> turn_rules.PriorityCategory:
        code = _code(code, 32, "el código de la prioridad")
        label = _text(label, 100, NAME, "el nombre de la prioridad")
        if rank is None or not 1 <= rank <= 999:
            raise WalkinInvalid(
                "bad rank",
                detalle="El orden es un número de 1 a 999 (1 se llama primero).",
                field=RANK,
            )
        done = self._store(
            lambda: self.turns.set_priority(code, label, rank), "Ese código ya está en uso."
        )
        self._record(actor_id, "turn_priority", "set", code=code, rank=rank)
        return done

    def remove_priority(self, code: str, *, actor_id: int | None) -> None:
        self._store(lambda: self.turns.remove_priority(code), "", None)
        self._record(actor_id, "turn_priority", "remove", code=code)

    # ---------------------------------------------------------------- links

    def issue_room_link(
        self, point_id: int, label: str, *, actor_id: int | None
    ) -> tuple[KioskView, str]:
        """The waiting-room display of a point: (the link, its path, shown once)."""
        point = self._point(point_id)
        if not point.active:
            raise WalkinInvalid("inactive point", detalle="El punto está desactivado.", field=None)
        label = _text(label, MAX_LABEL, LABEL, "un nombre para la pantalla")
        return self._store(
            lambda: issue_link(
                self.links,
                self._audit,
                label,
                actor_id,
                kind=ROOM_DISPLAY,
                service_point_id=point_id,
            ),
            "",
            LABEL,
        )

    def issue_tablet_link(
        self, desk_id: int, label: str, *, actor_id: int | None
    ) -> tuple[KioskView, str]:
        """The evaluation tablet of a desk: (the link, its path, shown once)."""
        desk = self._desk(desk_id)
        if not desk.active:
            raise WalkinInvalid("inactive desk", detalle="El puesto está desactivado.", field=None)
        label = _text(label, MAX_LABEL, LABEL, "un nombre para la tableta")
        return self._store(
            lambda: issue_link(
                self.links, self._audit, label, actor_id, kind=DESK_TABLET, desk_id=desk_id
            ),
            "",
            LABEL,
        )

    def revoke_link(self, link_id: int, *, actor_id: int | None) -> KioskView:
        """A display's or tablet's link (never the wallboard's: the supervisors' API)."""
        link = next((k for k in self.links.all() if k.id == link_id), None)
        if link is None or link.kind not in (ROOM_DISPLAY, DESK_TABLET):
            raise NotFound(f"no walk-in link {link_id}", detalle="Ese enlace no existe.")
        return self._store(
            lambda: revoke_link(self.links, self._audit, link_id, actor_id), "", None
        )
