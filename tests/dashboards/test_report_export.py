"""Exports for Uruguay, checked by reading the files back (csv with `;`, openpyxl)."""

from __future__ import annotations

import csv
import io
from datetime import date, time, timedelta

from openpyxl import load_workbook

from dashboards import kpi
from dashboards.report_export import (
    organism_table,
    queue_table,
    to_csv,
    to_xlsx,
    topic_table,
)
from dashboards.report_queries import OrganismRow, QueueRow, TopicRow

ROW = QueueRow(
    queue="consultas",
    day=date(2026, 3, 2),
    hour=14,
    counts=kpi.QueueCounts(offered=8, answered=6, answered_within=4, abandoned=2),
    service_level=0.6667,
    abandon_rate=0.25,
    asa_seconds=12.4,
    mean_talk_seconds=190.0,
)
EVIL = ['=HYPERLINK("http://x","y")', "+1+2", "-3", "@SUM(A1)", "\tx"]


def _csv(data: bytes, delimiter: str) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the accents right
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


def test_csv_for_uruguay_uses_semicolons_and_decimal_commas() -> None:
    columns, body = queue_table([ROW])
    table = _csv(to_csv(columns, body), ";")
    assert table[0][:3] == ["Cola", "Día", "Hora"]
    assert "Nivel de servicio" in table[0] and "asa_s" not in table[0]
    row = dict(zip(table[0], table[1], strict=True))
    assert row["Día"] == "02/03/2026"
    assert row["Hora"] == "14:00"
    assert row["Ofrecidas"] == "8"
    assert row["Nivel de servicio"] == "66,7%"
    assert row["Tasa de abandono"] == "25,0%"
    assert row["Espera media de atendidas"] == "12,4"
    assert len(table[1]) == len(table[0])  # no decimal comma split a field


def test_csv_rfc4180_on_request() -> None:
    columns, body = queue_table([ROW])
    table = _csv(to_csv(columns, body, dialect="rfc4180"), ",")
    row = dict(zip(table[0], table[1], strict=True))
    assert row["día"] == "2026-03-02"
    assert row["nivel_servicio"] == "0.6667"
    assert row["hora"] == "14"


def test_formula_like_text_is_neutralised_in_csv() -> None:
    rows = [TopicRow("consulta", f"T{i}", name, 1, 10.0) for i, name in enumerate(EVIL)]
    columns, body = topic_table(rows)
    for dialect, sep in (("uy", ";"), ("rfc4180", ",")):
        table = _csv(to_csv(columns, body, dialect=dialect), sep)  # type: ignore[arg-type]
        names = [r[2] for r in table[1:]]
        assert names == ["'" + name for name in EVIL]


def test_xlsx_has_real_dates_times_percentages_and_inert_text() -> None:
    columns, body = queue_table([ROW])
    book = load_workbook(io.BytesIO(to_xlsx(columns, body, sheet="colas")))
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Cola", "Día", "Hora"]
    cells = {h: c for h, c in zip(header, sheet[2], strict=True)}
    day = cells["Día"]
    assert day.is_date and day.value.date() == date(2026, 3, 2)
    assert day.number_format == "dd/mm/yyyy"
    hour = cells["Hora"]
    assert hour.value == time(14, 0) and hour.number_format == "hh:mm"
    sl = cells["Nivel de servicio"]
    assert sl.value == 0.6667 and sl.number_format == "0.0%"
    asa = cells["Espera media de atendidas"]
    assert asa.number_format == "[h]:mm:ss"
    assert abs(asa.value - timedelta(seconds=12.4)) < timedelta(milliseconds=5)
    assert cells["Ofrecidas"].value == 8

    topics = [TopicRow("consulta", f"T{i}", name, 1, 10.0) for i, name in enumerate(EVIL)]
    columns, body = topic_table(topics)
    book = load_workbook(io.BytesIO(to_xlsx(columns, body, sheet="temas")))
    sheet = book.active
    assert sheet is not None
    for row, name in zip(list(sheet.iter_rows(min_row=2)), EVIL, strict=True):
        assert row[2].value == name  # the words kept...
        assert row[2].data_type == "s"  # ...as text, never a formula


def test_missing_figures_are_empty_not_zero() -> None:
    columns, body = organism_table([OrganismRow(None, None, 3, 0)])
    table = _csv(to_csv(columns, body), ";")
    assert table[1] == ["", "", "3", "0"]
    empty = QueueRow("x", date(2026, 3, 2), None, kpi.QueueCounts(), None, None, None, None)
    columns, body = queue_table([empty])
    row = _csv(to_csv(columns, body), ";")[1]
    assert row[2] == "" and row[9] == "" and row[11] == ""
    book = load_workbook(io.BytesIO(to_xlsx(columns, body, sheet="colas")))
    assert book.active is not None
    assert book.active.cell(row=2, column=10).value is None
