"""Sample data for `atiende demo`: an organism with its units, a catalog of
trámites, and one user of each role whose credentials the demo prints.

Idempotent: a second run finds everything in place and changes nothing.
The passwords are fixed and printed on purpose: this is a demo database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from agent_api.auth import Passwords
from agent_api.catalog import Catalog, TopicInput
from agent_api.users import UserStore
from crm_bridge.callbacks import CallbackQueue
from crm_bridge.contacts import ContactAttentions
from crm_bridge.models import CatalogTopic
from crm_bridge.organisms import Directory, Role
from crm_bridge.turns import TurnService
from dashboards.kiosk import DESK_TABLET, ROOM_DISPLAY, KioskLinks
from telephony.domain import CallKey
from telephony.simulator.traffic import DEFAULT_QUEUES

ORGANISM = ("MDE", "Ministerio de Ejemplo")
# code, name, parent code
UNITS = (
    ("AC", "Atención a la Ciudadanía", None),
    ("TR", "Trámites y Servicios", None),
    ("RQ", "Reclamos y Sugerencias", "AC"),
)
# The demo's catalog is also its knowledge base: what the agent reads to the
# citizen and sends from the wrap-up. The two DNIC trámites paraphrase the
# State's catalogue and the DNIC's own pages (as published in 2024-2025):
#   https://www.gub.uy/tramites/cedula-identidad-renovacion-personas-ciudadanas-naturales-uruguayas
#   (and https://www.gub.uy/tramites/cedula-identidad, the selector of its cases);
#   https://www.gub.uy/tramites/solicitud-pasaporte-primera-vez-ciudadanos-legales
#   and https://dnic.minterior.gub.uy/index.php/pasaporte (validity, delivery).
# Fees change every semester: the text sends the citizen to the current table
# instead of quoting an amount that would go stale.
DNIC = "Dirección Nacional de Identificación Civil (DNIC), Ministerio del Interior."
TOPICS = (
    TopicInput(
        "T001",
        "Cédula de identidad: renovación",
        "tramite",
        "MDE",
        "TR",
        description="Documento de identidad uruguayo, obligatorio desde los 45 días de edad. "
        "La renovación se tramita al vencer, por deterioro, extravío o hurto. " + DNIC,
        requirements="Agenda previa (día y hora) en una oficina de la DNIC.\n"
        "La cédula anterior, vigente o vencida.\n"
        "Si venció hace más de un año, o en caso de extravío: testimonio de partida de "
        "nacimiento con menos de 30 días de expedido.\n"
        "Extravío o hurto: la denuncia se registra en el momento del trámite.\n"
        "Menores de 14 años: concurren con un adulto con documento vigente.",
        steps="Reservar día y hora por internet, por teléfono o en la oficina.\n"
        "Pagar la audiencia (en línea o en redes de cobranza).\n"
        "Concurrir el titular, personalmente, el día y la hora agendados.\n"
        "Retirar la cédula en la fecha que indique la oficina.",
        deadlines="Trámite urgente: 24 a 48 horas. Trámite común: alrededor de 30 días.",
        cost="Arancel según la tabla vigente de la DNIC (se ajusta cada semestre); "
        "el urgente cuesta más que el común.",
        where_how="En cualquier oficina de la DNIC del país (sede central en Montevideo y "
        "oficinas departamentales), con agenda previa.",
        online_url="https://www.gub.uy/tramites/cedula-identidad-renovacion-personas-ciudadanas-naturales-uruguayas",
        keywords="documento ci cedula renovar vencida perdida extravio hurto agenda",
    ),
    TopicInput(
        "T002",
        "Partida de nacimiento",
        "tramite",
        "MDE",
        "TR",
        description="Testimonio de partida de nacimiento inscripta en el Registro de Estado "
        "Civil (Dirección General del Registro de Estado Civil, MEC).",
        requirements="Nombre completo de la persona inscripta.\n"
        "Fecha y lugar (departamento) del nacimiento.",
        steps="Solicitarla en línea con usuario gub.uy o en una oficina del Registro Civil.\n"
        "Descargarla o retirarla cuando esté lista.",
        online_url="https://www.gub.uy/tramites/partidas-estado-civil",
        keywords="partida nacimiento registro civil testimonio certificado",
    ),
    TopicInput(
        "T003",
        "Pasaporte: primera vez",
        "tramite",
        "MDE",
        "TR",
        description="Documento de viaje que acredita la identidad y la nacionalidad del "
        "titular fuera del país. Vale 10 años. " + DNIC,
        requirements="Cédula de identidad uruguaya vigente y en buen estado.\n"
        "Certificado de antecedentes judiciales: lo pide la DNIC al reservar la "
        "audiencia; la persona no lo tramita aparte.\n"
        "Menores de 18 años: concurren con ambos padres (o con la autorización "
        "que corresponda si falta uno).\n"
        "Ciudadanos legales: carta de ciudadanía y credencial cívica si la carta tiene "
        "más de tres años.",
        steps="Reservar día y hora y pagar: por internet (con cuenta ID Uruguay), en "
        "Abitab, RedPagos, el Correo o una oficina de la DNIC.\n"
        "Concurrir el titular con la documentación el día y la hora reservados.\n"
        "En Montevideo el pasaporte se entrega al terminar el trámite; en el interior se "
        "retira después, con la cédula y el ticket de pago.",
        deadlines="Montevideo: en el momento. Interior: 12 días hábiles (común) o 5 días "
        "hábiles (urgente).",
        cost="Arancel según la tabla vigente de la DNIC (se ajusta cada semestre); "
        "común o urgente; la reserva en línea puede sumar el costo del medio de pago.",
        where_how="Oficinas de la DNIC que expiden pasaportes. Montevideo: Bartolomé Mitre "
        "1434 esq. 25 de Mayo.",
        online_url="https://www.gub.uy/tramites/solicitud-pasaporte-primera-vez-ciudadanos-legales",
        keywords="pasaporte viaje viajar exterior documento de viaje",
    ),
    TopicInput(
        "S001",
        "Información sobre un trámite en línea",
        "servicio",
        "MDE",
        "AC",
        description="Orientación para iniciar o completar en línea un trámite del Estado.",
        steps="Buscar el trámite en gub.uy/tramites.\n"
        "Ingresar con usuario gub.uy o ID Uruguay.\n"
        "Completar el formulario y guardar el número de la solicitud.",
        online_url="https://www.gub.uy/tramites",
        keywords="en linea internet web usuario gub.uy id uruguay",
    ),
    TopicInput("S002", "Estado de una solicitud", "servicio", "MDE", "AC"),
    TopicInput("S003", "Reclamos, quejas y sugerencias", "servicio", "MDE", "RQ"),
)


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    interfaces: tuple[str, ...] = ()

    @property
    def password(self) -> str:
        return f"demo-{self.username}-2026"


DEMO_CALLBACKS = (
    ("099100201", "Consulta por la renovación de la cédula de identidad"),
    ("099100202", "Pidió que le confirmen los requisitos del pasaporte"),
)


def demo_users() -> list[DemoUser]:
    """Every agent of the simulator (both channel styles) plus one user of each other role."""
    agents = {extension: name for members in DEFAULT_QUEUES.values() for extension, name in members}
    users = [
        DemoUser(
            name.split()[0].lower().translate(str.maketrans("áéíóúñ", "aeioun")),
            name,
            Role.EJECUTIVO,
            (f"PJSIP/{extension}", f"Local/{extension}@agents/n"),
        )
        for extension, name in sorted(agents.items())
    ]
    users += [
        # Receives walk-ins at /recepcion (any ejecutivo may; she has no phone).
        DemoUser("recepcion", "Raquel Recepción", Role.EJECUTIVO),
        DemoUser("supervisora", "Sofía Supervisora", Role.SUPERVISOR),
        DemoUser("gerente", "Gabriel Gerente", Role.GERENTE),
        DemoUser("referente", "Rosa Referente", Role.REFERENTE),
        DemoUser("admin", "Administración", Role.ADMIN),
    ]
    return users


def seed_demo_data(engine: Engine) -> Sequence[DemoUser]:
    directory = Directory(engine)
    organism = next((o for o in directory.organisms() if o.code == ORGANISM[0]), None)
    if organism is None:
        organism = directory.create_organism(*ORGANISM)
    units = {unit.code: unit for unit in directory.units(organism.id)}
    for code, name, parent in UNITS:
        if code not in units:
            parent_id = units[parent].id if parent else None
            units[code] = directory.create_unit(organism.id, code, name, parent_id=parent_id)
    Catalog(engine).import_topics(list(TOPICS))

    store = UserStore(engine, Passwords())
    existing = {user.username for user in store.all()}
    users = demo_users()
    for user in users:
        if user.username not in existing:
            store.create(
                user.username, user.display_name, user.role, user.password, user.interfaces
            )
    # Rosa is the referent of every unit: a ticket of any demo topic (TR, AC
    # or RQ) reaches a referente the demo prints the credentials of.
    referent = directory.find_user("referente")
    if referent is not None:
        for unit in units.values():
            if not directory.is_referent_of(unit.id, referent.id):
                directory.add_referent(unit.id, referent.id)
    # Two citizens asked to be called back: a demo agent who is available is
    # offered them on /agente, and the simulated citizen answers or not.
    callbacks = CallbackQueue(engine)
    for n, (number, reason) in enumerate(DEMO_CALLBACKS, start=1):
        callbacks.schedule(
            call=CallKey("demo", f"callback-{n}"), number=number, queue="consultas", reason=reason
        )
    return users


# Walk-in attention: one service point, its topics (with turn prefixes), two desks.
POINT = ("CAC-CENTRO", "Centro de Atención Ciudadana — Centro")
POINT_TOPICS = (
    ("cedula", "Cédula de identidad", "A", "T001"),
    ("informacion", "Información y trámites en línea", "B", "S001"),
)
DESKS = (("1", "Puesto 1"), ("2", "Puesto 2"))
PRIORITIES = (
    ("discapacidad", "Persona con discapacidad", 1),
    ("embarazo", "Embarazo", 2),
    ("mayor", "Persona mayor", 3),
    ("infancia", "Con niños en brazos", 4),
)
ROOM_LABEL = "Demo: sala de espera"
TABLET_LABEL = "Demo: tableta del "


@dataclass(frozen=True, slots=True)
class WalkinDemo:
    """Paths of the demo's kiosk links (new tokens each run; the old ones revoked)."""

    room: str
    tablets: tuple[tuple[str, str], ...]  # (desk name, path)


def seed_walkin_demo(engine: Engine, timezone: str = "America/Montevideo") -> WalkinDemo:
    """The service point, its topics, desks and priorities (idempotent), and
    fresh kiosk links for its room display and desk tablets."""
    turns = TurnService(engine, ContactAttentions(engine), timezone=timezone)
    point = next((p for p in turns.points() if p.code == POINT[0]), None)
    if point is None:
        point = turns.create_point(*POINT)
        with engine.connect() as conn:
            catalog = {
                code: topic_id
                for code, topic_id in conn.execute(select(CatalogTopic.code, CatalogTopic.id))
            }
        for code, name, prefix, catalog_code in POINT_TOPICS:
            turns.add_topic(
                point.id, code, name, prefix, catalog_topic_id=catalog.get(catalog_code)
            )
        for code, name in DESKS:
            turns.add_desk(point.id, code, name)
    for code, label, rank in PRIORITIES:
        turns.set_priority(code, label, rank)
    links = KioskLinks(engine)
    for link in links.all():
        if link.active and link.label.startswith(("Demo: sala", "Demo: tableta")):
            links.revoke(link.id, None)
    _, room = links.create(ROOM_LABEL, None, kind=ROOM_DISPLAY, service_point_id=point.id)
    tablets = []
    for desk in turns.desks(point.id):
        _, token = links.create(TABLET_LABEL + desk.name, None, kind=DESK_TABLET, desk_id=desk.id)
        tablets.append((desk.name, f"evaluacion/{token}"))
    return WalkinDemo(f"sala/{room}", tuple(tablets))
