"""Report rows as flat tables, and those tables as CSV or XLSX bytes.

Column headers are Spanish (the files go to managers); ratios are shares
0..1 rounded to 4 places, durations seconds rounded to 1 place, so the
spreadsheet can format them as it likes. A missing figure (no calls) is an
empty cell, never 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

from dashboards.report_queries import AgentRow, OrganismRow, QueueRow, TopicRow

Cell = str | int | float | None


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def queue_table(rows: Sequence[QueueRow]) -> tuple[list[str], list[list[Cell]]]:
    header = [
        "cola",
        "día",
        "hora",
        "ofrecidas",
        "atendidas",
        "atendidas_en_umbral",
        "abandonadas",
        "abandonos_cortos",
        "salidas",
        "nivel_servicio",
        "tasa_abandono",
        "asa_s",
        "conversación_media_s",
    ]
    body: list[list[Cell]] = [
        [
            r.queue,
            r.day.isoformat(),
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
    return header, body


def agent_table(rows: Sequence[AgentRow]) -> tuple[list[str], list[list[Cell]]]:
    reasons = sorted({reason for r in rows for reason in r.pause_seconds})
    header = [
        "agente",
        "atendidas",
        "conversación_s",
        "posllamada_s",
        "aht_s",
        "ocupación",
        "pausa_total_s",
        *[f"pausa_{reason or 'sin_motivo'}_s" for reason in reasons],
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
    return header, body


def topic_table(rows: Sequence[TopicRow]) -> tuple[list[str], list[list[Cell]]]:
    header = ["tipo", "tema_código", "tema", "atenciones", "posllamada_s"]
    body: list[list[Cell]] = [
        [r.attention_type, r.topic_code, r.topic_name, r.attentions, _seconds(r.wrapup_seconds)]
        for r in rows
    ]
    return header, body


def organism_table(rows: Sequence[OrganismRow]) -> tuple[list[str], list[list[Cell]]]:
    header = ["organismo_código", "organismo", "atenciones", "tickets"]
    body: list[list[Cell]] = [
        [r.organism_code, r.organism_name, r.attentions, r.tickets] for r in rows
    ]
    return header, body


def to_csv(header: Sequence[str], body: Sequence[Sequence[Cell]]) -> bytes:
    """UTF-8 with a BOM so spreadsheet programs read the accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in body:
        writer.writerow(["" if cell is None else cell for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(header: Sequence[str], body: Sequence[Sequence[Cell]], *, sheet: str) -> bytes:
    book = Workbook()
    page: Any = book.active
    page.title = sheet[:31]  # Excel's sheet-name limit
    page.append(list(header))
    for row in body:
        page.append(list(row))
    page.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
