"""The catalog of trámites y servicios: parsing CSV/JSON imports (pure) and the table.

Import format, CSV with a header row or a JSON list of objects:
`code`, `name`, `kind` (tramite or servicio, default tramite), optionally
`organism` (an organism code) and `unit` (a unit code of that organism), the
body a derivation of that topic goes to. Rows are upserted by code; `active`
false hides a topic without losing the wrap-ups that used it. The knowledge
base's columns (descripcion, requisitos, pasos, plazos, costo, donde_como,
enlace, palabras_clave: crm_bridge.knowledge_import) are taken when present;
a column left out leaves that field as it is.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from agent_api.exceptions import InvalidInput
from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.knowledge import TopicContent, apply_content, content_of
from crm_bridge.knowledge_import import own_content
from crm_bridge.models import CatalogTopic, Organism, Unit

KINDS = ("tramite", "servicio")
MAX_IMPORT_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class TopicInput(TopicContent):
    code: str
    name: str
    kind: str = "tramite"
    organism: str | None = None
    unit: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class TopicView(TopicContent):
    id: int
    code: str
    name: str
    kind: str
    organism_id: int | None
    unit_id: int | None
    active: bool


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().casefold() not in ("0", "false", "no", "n", "falso")


def _topic(raw: dict[str, Any], line: int) -> TopicInput:
    def text(name: str) -> str:
        value = raw.get(name)
        return "" if value is None else " ".join(str(value).split())

    code, name, kind = text("code"), text("name"), (text("kind") or "tramite").casefold()
    kind = kind.replace("á", "a")
    if not code or len(code) > 64:
        raise InvalidInput(f"row {line}: code", detalle=f"Fila {line}: falta el código o es largo.")
    if not name or len(name) > 200:
        raise InvalidInput(f"row {line}: name", detalle=f"Fila {line}: falta el nombre o es largo.")
    if kind not in KINDS:
        raise InvalidInput(
            f"row {line}: kind", detalle=f"Fila {line}: el tipo debe ser tramite o servicio."
        )
    return TopicInput(
        code=code,
        name=name,
        kind=kind,
        organism=text("organism") or None,
        unit=text("unit") or None,
        active=_truthy(raw.get("active", True)),
        **own_content(raw),
    )


def parse_catalog(data: bytes, content_type: str) -> list[TopicInput]:
    """Topics from a CSV or JSON upload; InvalidInput names the first bad row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInput("not utf-8", detalle="El archivo debe estar en UTF-8.") from err
    rows: list[dict[str, Any]]
    if "json" in content_type:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInput("bad json", detalle="El JSON no es válido.") from err
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise InvalidInput("json not a list", detalle="El JSON debe ser una lista de objetos.")
        rows = loaded
    else:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or not {"code", "name"} <= set(reader.fieldnames):
            raise InvalidInput(
                "csv header", detalle="El CSV necesita una fila de encabezado con code y name."
            )
        try:
            rows = list(reader)
        except csv.Error as err:  # a field over csv's limit, a NUL byte...
            raise InvalidInput(
                f"bad csv: {err}", detalle="El CSV no es válido (¿un campo demasiado largo?)."
            ) from err
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput("too many rows", detalle=f"Máximo {MAX_IMPORT_ROWS} filas por archivo.")
    topics = [_topic(row, index) for index, row in enumerate(rows, start=2)]
    if len({t.code for t in topics}) != len(topics):
        raise InvalidInput("duplicate codes", detalle="Hay códigos repetidos en el archivo.")
    return topics


def _view(row: CatalogTopic) -> TopicView:
    return TopicView(
        row.id,
        row.code,
        row.name,
        row.kind,
        row.organism_id,
        row.unit_id,
        row.active,
        **content_of(row),
    )


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def topics(self, *, include_inactive: bool = False) -> list[TopicView]:
        query = select(CatalogTopic).order_by(CatalogTopic.name)
        if not include_inactive:
            query = query.where(CatalogTopic.active.is_(True))
        with self._sessions() as session:
            return [_view(row) for row in session.scalars(query).all()]

    def get(self, topic_id: int) -> TopicView | None:
        with self._sessions() as session:
            row = session.get(CatalogTopic, topic_id)
            return None if row is None else _view(row)

    def import_topics(self, topics: list[TopicInput]) -> tuple[int, int]:
        """Upsert by code in one transaction; (created, updated)."""
        created = updated = 0
        with self._sessions.begin() as session:
            organisms = {o.code: o.id for o in session.scalars(select(Organism)).all()}
            for topic in topics:
                organism_id = unit_id = None
                if topic.organism is not None:
                    organism_id = organisms.get(topic.organism)
                    if organism_id is None:
                        raise InvalidInput(
                            "unknown organism",
                            detalle=f"El organismo {topic.organism!r} no existe.",
                        )
                    if topic.unit is not None:
                        unit_id = session.scalars(
                            select(Unit.id).where(
                                Unit.organism_id == organism_id, Unit.code == topic.unit
                            )
                        ).first()
                        if unit_id is None:
                            raise InvalidInput(
                                "unknown unit", detalle=f"La unidad {topic.unit!r} no existe."
                            )
                row = session.scalars(
                    select(CatalogTopic).where(CatalogTopic.code == topic.code)
                ).first()
                if row is None:
                    row = CatalogTopic(code=topic.code)
                    session.add(row)
                    created += 1
                else:
                    updated += 1
                row.name, row.kind, row.active = topic.name, topic.kind, topic.active
                row.organism_id, row.unit_id = organism_id, unit_id
                if organism_id is not None:
                    row.organism_label = None  # one of ours now: its name shows
                try:
                    apply_content(row, topic)
                except InvalidValueError as err:
                    raise InvalidInput(
                        f"topic {topic.code}: {err}",
                        detalle=f"{topic.code}: el enlace debe empezar con https://.",
                    ) from err
        return created, updated
