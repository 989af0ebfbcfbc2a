"""Report rows as typed tables, and those tables as CSV or XLSX for Uruguay.

A table is a list of `Column`s (a machine key, used by the JSON answer; a
Spanish label, used by the files; a kind) and rows of plain values: ratios
are shares 0..1, durations seconds, days `date`s, hours 0-23. A missing
figure (no calls) is an empty cell, never 0.

Files:

- CSV, by default as a spreadsheet set for Uruguay opens it: `;` between
  fields, decimal comma, dates dd/mm/aaaa, percentages "75,0%", UTF-8 with
  a BOM. `dialect="rfc4180"` gives RFC 4180 (`,`, decimal point, ISO dates,
  shares 0..1) for programs.
- XLSX with real values: dates as dates (dd/mm/yyyy), hours as times
  (hh:mm), durations as times ([h]:mm:ss), percentages as numbers formatted
  0.0%, and Spanish headers.

Any text cell starting with `=`, `+`, `-`, `@` (or a tab / carriage return)
is neutralised: prefixed with `'` in CSV, stored as plain text (never a
formula) in XLSX, so a topic named `=HYPERLINK(...)` stays words.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.styles import Font

from crm_bridge.callbacks import TargetCount
from dashboards.indicator_queries import DIMENSION_LABELS, ComplaintRow, CsatRow, Dimension, FcrRow
from dashboards.indicators import SCORES
from dashboards.report_queries import AgentRow, OrganismRow, QueueRow, TopicRow
from dashboards.ticket_sla import TicketSlaRow

Cell = str | int | float | date | None
CsvDialect = Literal["uy", "rfc4180"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DATE = "date"
    HOUR = "hour"  # local hour of the day, 0-23
    PERCENT = "percent"  # a share 0..1
    SECONDS = "seconds"  # a duration


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: Kind = Kind.TEXT


Table = tuple[list[Column], list[list[Cell]]]


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def queue_table(rows: Sequence[QueueRow]) -> Table:
    columns = [
        Column("cola", "Cola"),
        Column("día", "Día", Kind.DATE),
        Column("hora", "Hora", Kind.HOUR),
        Column("ofrecidas", "Ofrecidas", Kind.INTEGER),
        Column("atendidas", "Atendidas", Kind.INTEGER),
        Column("atendidas_en_umbral", "Atendidas en el umbral", Kind.INTEGER),
        Column("abandonadas", "Abandonadas", Kind.INTEGER),
        Column("abandonos_cortos", "Abandonos cortos", Kind.INTEGER),
        Column("salidas", "Salidas de la cola", Kind.INTEGER),
        Column("nivel_servicio", "Nivel de servicio", Kind.PERCENT),
        Column("tasa_abandono", "Tasa de abandono", Kind.PERCENT),
        Column("asa_s", "Espera media de atendidas", Kind.SECONDS),
        Column("conversación_media_s", "Conversación media", Kind.SECONDS),
    ]
    body: list[list[Cell]] = [
        [
            r.queue,
            r.day,
            r.hour,
            r.counts.offered,
            r.counts.answered,
            r.counts.answered_within,
            r.counts.abandoned,
            r.counts.short_abandoned,
            r.counts.exited,
            _ratio(r.service_level),
            _ratio(r.abandon_rate),
            _seconds(r.asa_seconds),
            _seconds(r.mean_talk_seconds),
        ]
        for r in rows
    ]
    return columns, body


def agent_table(rows: Sequence[AgentRow]) -> Table:
    reasons = sorted({reason for r in rows for reason in r.pause_seconds})
    columns = [
        Column("agente", "Agente"),
        Column("atendidas", "Atendidas", Kind.INTEGER),
        Column("conversación_s", "Conversación", Kind.SECONDS),
        Column("posllamada_s", "Poscierre", Kind.SECONDS),
        Column("aht_s", "Tiempo medio de gestión", Kind.SECONDS),
        Column("ocupación", "Ocupación", Kind.PERCENT),
        Column("pausa_total_s", "Pausa total", Kind.SECONDS),
        *[
            Column(
                f"pausa_{reason or 'sin_motivo'}_s",
                f"Pausa: {reason or 'sin motivo'}",
                Kind.SECONDS,
            )
            for reason in reasons
        ],
    ]
    body: list[list[Cell]] = [
        [
            r.agent,
            r.handled,
            _seconds(r.talk_seconds),
            _seconds(r.wrapup_seconds),
            _seconds(r.aht_seconds),
            _ratio(r.occupancy),
            _seconds(sum(r.pause_seconds.values())),
            *[_seconds(r.pause_seconds.get(reason, 0.0)) for reason in reasons],
        ]
        for r in rows
    ]
    return columns, body


def topic_table(rows: Sequence[TopicRow]) -> Table:
    columns = [
        Column("tipo", "Tipo de atención"),
        Column("tema_código", "Código del tema"),
        Column("tema", "Tema"),
        Column("atenciones", "Atenciones", Kind.INTEGER),
        Column("posllamada_s", "Poscierre", Kind.SECONDS),
    ]
    body: list[list[Cell]] = [
        [r.attention_type, r.topic_code, r.topic_name, r.attentions, _seconds(r.wrapup_seconds)]
        for r in rows
    ]
    return columns, body


def organism_table(rows: Sequence[OrganismRow]) -> Table:
    columns = [
        Column("organismo_código", "Código del organismo"),
        Column("organismo", "Organismo"),
        Column("atenciones", "Atenciones", Kind.INTEGER),
        Column("tickets", "Solicitudes", Kind.INTEGER),
    ]
    body: list[list[Cell]] = [
        [r.organism_code, r.organism_name, r.attentions, r.tickets] for r in rows
    ]
    return columns, body


def ticket_sla_table(rows: Sequence[TicketSlaRow], group_label: str = "Organismo") -> Table:
    columns = [
        Column("grupo", group_label),
        Column("nombre", "Nombre"),
        Column("abiertas", "Solicitudes", Kind.INTEGER),
        Column("en_plazo", "Respondidas en plazo", Kind.INTEGER),
        Column("fuera_de_plazo", "Respondidas fuera de plazo", Kind.INTEGER),
        Column("vencidas", "Vencidas sin respuesta", Kind.INTEGER),
        Column("pendientes", "Pendientes en plazo", Kind.INTEGER),
        Column("cumplimiento", "Cumplimiento del plazo", Kind.PERCENT),
    ]
    body: list[list[Cell]] = [
        [
            r.group,
            r.label,
            r.counts.opened,
            r.counts.on_time,
            r.counts.late,
            r.counts.overdue,
            r.counts.pending,
            _ratio(r.counts.compliance),
        ]
        for r in rows
    ]
    return columns, body


def _group_columns(by: Dimension) -> list[Column]:
    name = DIMENSION_LABELS[by]
    return [Column("código", f"{name}: código"), Column("nombre", name)]


def csat_table(rows: Sequence[CsatRow], by: Dimension) -> Table:
    """CSAT (dashboards.indicators): responses, mean 1-5 and the share of each score."""
    columns = [
        *_group_columns(by),
        Column("respuestas", "Respuestas", Kind.INTEGER),
        Column("satisfacción_media", "Satisfacción media (1 a 5)"),
        *[Column(f"nota_{s}", f"Nota {s}", Kind.PERCENT) for s in SCORES],
    ]
    body: list[list[Cell]] = [
        [
            r.group.key,
            r.group.label,
            r.counts.responses,
            None if r.counts.mean is None else round(r.counts.mean, 2),
            *[_ratio(r.counts.share(s)) for s in SCORES],
        ]
        for r in rows
    ]
    return columns, body


def fcr_table(rows: Sequence[FcrRow], by: Dimension) -> Table:
    """First contact resolution (dashboards.indicators) of the finished wrap-ups."""
    columns = [
        *_group_columns(by),
        Column("cerradas", "Atenciones cerradas", Kind.INTEGER),
        Column("resueltas", "Resueltas en el primer contacto", Kind.INTEGER),
        Column("derivadas", "Derivadas a una solicitud", Kind.INTEGER),
        Column("pendientes", "Pendientes de seguimiento", Kind.INTEGER),
        Column("resolución_primer_contacto", "Resolución en el primer contacto", Kind.PERCENT),
    ]
    body: list[list[Cell]] = [
        [
            r.group.key,
            r.group.label,
            r.counts.wrapped,
            r.counts.resolved,
            r.counts.derived,
            r.counts.pending,
            _ratio(r.counts.fcr),
        ]
        for r in rows
    ]
    return columns, body


def complaint_table(rows: Sequence[ComplaintRow], by: Dimension) -> Table:
    """Complaints (dashboards.indicators): quejas and reclamos, counted once each."""
    columns = [
        *_group_columns(by),
        Column("quejas", "Quejas", Kind.INTEGER),
        Column("reclamos", "Reclamos", Kind.INTEGER),
        Column("total", "Total", Kind.INTEGER),
    ]
    body: list[list[Cell]] = [
        [r.group.key, r.group.label, r.counts.quejas, r.counts.reclamos, r.counts.total]
        for r in rows
    ]
    return columns, body


def callback_table(rows: Mapping[str, TargetCount]) -> Table:
    """Callbacks completed in the span per queue, and how many within their
    target (crm_bridge.callbacks.completed_within_target, the one count)."""
    columns = [
        Column("cola", "Cola"),
        Column("completadas", "Devoluciones completadas", Kind.INTEGER),
        Column("en_objetivo", "Completadas dentro del objetivo", Kind.INTEGER),
        Column("cumplimiento", "Dentro del objetivo", Kind.PERCENT),
    ]
    body: list[list[Cell]] = [
        [
            queue,
            counts.completed,
            counts.within_target,
            _ratio(counts.within_target / counts.completed if counts.completed else None),
        ]
        for queue, counts in sorted(rows.items())
    ]
    return columns, body


# ------------------------------------------------------------------ values


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula, made inert with a leading `'`."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def json_value(cell: Cell) -> str | int | float | None:
    """What the JSON answer carries: ISO dates, plain numbers."""
    return cell.isoformat() if isinstance(cell, date) else cell


def _decimal(value: float, places: int, comma: bool) -> str:
    text = f"{value:.{places}f}"
    return text.replace(".", ",") if comma else text


def _csv_cell(cell: Cell, kind: Kind, dialect: CsvDialect) -> str:
    uy = dialect == "uy"
    if cell is None:
        return ""
    if isinstance(cell, str):
        return neutralise(cell)
    if isinstance(cell, date):
        return cell.strftime("%d/%m/%Y") if uy else cell.isoformat()
    if kind is Kind.HOUR:
        return f"{int(cell):02d}:00" if uy else str(int(cell))
    if kind is Kind.PERCENT:
        return _decimal(float(cell) * 100, 1, True) + "%" if uy else repr(float(cell))
    if isinstance(cell, float):
        if kind is Kind.SECONDS:
            return _decimal(cell, 1, uy)
        return repr(cell).replace(".", ",") if uy else repr(cell)
    return str(cell)


def to_csv(
    columns: Sequence[Column], body: Sequence[Sequence[Cell]], *, dialect: CsvDialect = "uy"
) -> bytes:
    """UTF-8 with a BOM so spreadsheet programs read the accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if dialect == "uy" else ",", lineterminator="\r\n")
    writer.writerow([neutralise(c.label if dialect == "uy" else c.key) for c in columns])
    for row in body:
        pairs = zip(row, columns, strict=True)
        writer.writerow([_csv_cell(cell, column.kind, dialect) for cell, column in pairs])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


_XLSX_FORMATS = {
    Kind.DATE: "dd/mm/yyyy",
    Kind.HOUR: "hh:mm",
    Kind.PERCENT: "0.0%",
    Kind.SECONDS: "[h]:mm:ss",
    Kind.INTEGER: "0",
}


def _xlsx_value(cell: Cell, kind: Kind) -> Any:
    if cell is None or isinstance(cell, str | date):
        return cell
    if kind is Kind.HOUR:
        return time(int(cell), 0)
    if kind is Kind.SECONDS:
        return timedelta(seconds=float(cell))
    return cell


def to_xlsx(columns: Sequence[Column], body: Sequence[Sequence[Cell]], *, sheet: str) -> bytes:
    book = Workbook()
    page: Any = book.active
    page.title = sheet[:31]  # Excel's sheet-name limit
    bold = Font(bold=True)
    for index, column in enumerate(columns, start=1):
        head = page.cell(row=1, column=index)
        head.value = column.label
        head.data_type = "s"
        head.font = bold
        page.column_dimensions[head.column_letter].width = max(12, min(40, len(column.label) + 2))
    for row_index, row in enumerate(body, start=2):
        for index, (value, column) in enumerate(zip(row, columns, strict=True), start=1):
            cell = page.cell(row=row_index, column=index)
            cell.value = _xlsx_value(value, column.kind)
            if isinstance(value, str):
                # openpyxl turns a string starting with "=" into a formula: keep it text.
                cell.data_type = "s"
            elif value is not None and column.kind in _XLSX_FORMATS:
                cell.number_format = _XLSX_FORMATS[column.kind]
    page.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
