"""Reading catalogues of trámites into KnowledgeEntry rows (pure: bytes in, rows out).

Two formats:

`tramites-gub`: the open-data export of the State's Catálogo de Trámites y
Servicios (AGESIC, dataset "agesic-guia-de-tramites" on catalogodatos.gub.uy,
the content of gub.uy/tramites), CSV (comma or semicolon, as published) or
JSON (a list of objects, or CKAN's {"result": {"records": [...]}}). Columns
used: `id`, `nombre_tramite`, `ques_es`, `institucion_nombre`, `url`,
`actualizado`, `requisitos_generales`, `casuistica`, `internet_requisitos`,
`internet_como_se_hace`, `persona_requisitos`, `persona_como_se_hace`,
`telefono_requisitos`, `telefono_como_se_hace`; a column whose name has
"costo" or "plazo" fills the cost or the deadlines. Fields carry HTML: it is
reduced to plain text, one item a line. Topic codes are `gub-<id>`.

`propio`: the centre's own file, CSV with a header row, YAML or JSON (a list
of mappings, or a mapping with a `tramites` list). Columns or keys (Spanish
or English): codigo/code, nombre/name, tipo/kind (tramite or servicio),
organismo/organism (code or name), unidad/unit, activo/active, descripcion,
requisitos, pasos, plazos, costo, donde_como, enlace (the online link),
palabras_clave. In YAML and JSON a list value (requisitos: [a, b]) is one
item a line. A column left out leaves that field as it is; an empty one
clears it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any

import yaml

from crm_bridge.exceptions import InvalidValueError
from crm_bridge.knowledge import CONTENT_FIELDS, KnowledgeEntry

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 20_000
FORMATS = ("tramites-gub", "propio")

OWN_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("codigo", "código", "code"),
    "name": ("nombre", "name"),
    "kind": ("tipo", "kind"),
    "organism": ("organismo", "organism"),
    "unit": ("unidad", "unit"),
    "active": ("activo", "active"),
    "description": ("descripcion", "descripción", "description"),
    "requirements": ("requisitos", "requirements"),
    "steps": ("pasos", "steps"),
    "deadlines": ("plazos", "deadlines"),
    "cost": ("costo", "cost"),
    "where_how": ("donde_como", "dónde_cómo", "donde", "where_how"),
    "online_url": ("enlace", "online_url"),
    "keywords": ("palabras_clave", "keywords"),
}


class _Text(HTMLParser):
    """HTML to plain text: blocks and list items on lines of their own."""

    BLOCKS = frozenset({"p", "li", "br", "div", "h1", "h2", "h3", "h4", "tr", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def plain(value: Any) -> str:
    """A field's text without HTML, one line per block, blank lines out."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(plain(v) for v in value if plain(v))
    parser = _Text()
    parser.feed(str(value))
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidValueError(f"file over {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidValueError("the file is not UTF-8") from err


def _csv_rows(text: str) -> list[dict[str, Any]]:
    sample = text[:20_000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
        rows = [dict(r) for r in reader]
    except csv.Error as err:
        raise InvalidValueError(f"not a valid CSV file ({err})") from err
    return rows


def _records(loaded: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(loaded, Mapping):
        result = loaded.get("result")
        if isinstance(result, Mapping) and isinstance(result.get("records"), list):
            loaded = result["records"]
        elif isinstance(loaded.get(key), list):
            loaded = loaded[key]
    if not isinstance(loaded, list) or not all(isinstance(r, Mapping) for r in loaded):
        raise InvalidValueError("expected a list of records")
    return [dict(r) for r in loaded]


def _rows(data: bytes, filename: str, *, yaml_ok: bool) -> list[dict[str, Any]]:
    text = _decode(data)
    name = filename.casefold()
    stripped = text.lstrip()
    if name.endswith(".json") or stripped.startswith(("[", "{")):
        try:
            rows = _records(json.loads(text), "tramites")
        except json.JSONDecodeError as err:
            raise InvalidValueError("not valid JSON") from err
    elif yaml_ok and name.endswith((".yaml", ".yml")):
        try:
            rows = _records(yaml.safe_load(text), "tramites")
        except yaml.YAMLError as err:
            raise InvalidValueError("not valid YAML") from err
    else:
        rows = _csv_rows(text)
    if len(rows) > MAX_ROWS:
        raise InvalidValueError(f"more than {MAX_ROWS} rows")
    return rows


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return True
    return str(value).strip().casefold() not in ("0", "false", "no", "n", "falso")


def _one_line(value: Any) -> str:
    return " ".join(plain(value).split())


def _labelled(parts: list[tuple[str, Any]]) -> str | None:
    """Sections of text, each under its label when there are several."""
    present = [(label, plain(value)) for label, value in parts if plain(value)]
    if not present:
        return None
    if len(present) == 1 and not present[0][0]:
        return present[0][1]
    return "\n".join(f"{label}:\n{body}" if label else body for label, body in present)


def _checked(code: str, name: str, line: int) -> None:
    if not code or len(code) > 64:
        raise InvalidValueError(f"row {line}: the code is missing or longer than 64")
    if not name or len(name) > 200:
        raise InvalidValueError(f"row {line}: the name is missing or longer than 200")


def _gub_entry(raw: Mapping[str, Any], line: int) -> KnowledgeEntry | None:
    row = {str(k).strip().casefold(): v for k, v in raw.items() if k is not None}
    ident = _one_line(row.get("id"))
    name = _one_line(row.get("nombre_tramite"))
    if not ident and not name:
        return None  # a blank line at the end of the export
    code = f"gub-{ident}"
    _checked(code if ident else "", name[:200], line)

    def column_with(word: str) -> Any:
        return next((v for k, v in row.items() if word in k and plain(v)), None)

    description = _labelled(
        [("", row.get("ques_es")), ("Casos particulares", row.get("casuistica"))]
    )
    url = _one_line(row.get("url"))
    return KnowledgeEntry(
        code=code,
        name=name[:200],
        kind="tramite",
        organism=_one_line(row.get("institucion_nombre"))[:200] or None,
        description=description or "",
        requirements=_labelled(
            [
                ("Requisitos generales", row.get("requisitos_generales")),
                ("En línea", row.get("internet_requisitos")),
                ("En persona", row.get("persona_requisitos")),
                ("Por teléfono", row.get("telefono_requisitos")),
            ]
        )
        or "",
        steps=_labelled(
            [
                ("En línea", row.get("internet_como_se_hace")),
                ("Por teléfono", row.get("telefono_como_se_hace")),
            ]
        )
        or "",
        where_how=_labelled([("En persona", row.get("persona_como_se_hace"))]) or "",
        cost=plain(column_with("costo")),
        deadlines=plain(column_with("plazo")),
        online_url=url if url.startswith(("https://", "http://")) else "",
        source="tramites-gub",
        source_updated=_one_line(row.get("actualizado"))[:32] or None,
    )


def parse_tramites_gub(data: bytes, filename: str = "") -> list[KnowledgeEntry]:
    """Entries from the State catalogue's open-data export (CSV or JSON)."""
    rows = _rows(data, filename, yaml_ok=False)
    if rows and "nombre_tramite" not in {str(k).strip().casefold() for k in rows[0]}:
        raise InvalidValueError("not the catálogo de trámites export (no nombre_tramite column)")
    entries = [e for i, r in enumerate(rows, start=2) if (e := _gub_entry(r, i)) is not None]
    _unique(entries)
    return entries


def _own_value(row: Mapping[str, Any], field: str) -> tuple[bool, Any]:
    for alias in OWN_COLUMNS[field]:
        if alias in row:
            return True, row[alias]
    return False, None


def own_content(row: Mapping[str, Any]) -> dict[str, str | None]:
    """The content fields a row of the centre's format gives (absent: not in the dict)."""
    out: dict[str, str | None] = {}
    lowered = {str(k).strip().casefold(): v for k, v in row.items() if k is not None}
    for field in CONTENT_FIELDS:
        present, value = _own_value(lowered, field)
        if present:
            out[field] = plain(value) if field != "online_url" else _one_line(value)
    return out


def _own_entry(raw: Mapping[str, Any], line: int) -> KnowledgeEntry:
    row = {str(k).strip().casefold(): v for k, v in raw.items() if k is not None}

    def one(field: str) -> str:
        return _one_line(_own_value(row, field)[1])

    code, name = one("code"), one("name")
    _checked(code, name, line)
    kind = (one("kind") or "tramite").casefold().replace("á", "a")
    if kind not in ("tramite", "servicio"):
        raise InvalidValueError(f"row {line}: the kind must be tramite or servicio")
    present, active = _own_value(row, "active")
    return KnowledgeEntry(
        code=code,
        name=name,
        kind=kind,
        organism=one("organism") or None,
        unit=one("unit") or None,
        active=_truthy(active) if present else True,
        source="propio",
        **own_content(row),
    )


def parse_own(data: bytes, filename: str = "") -> list[KnowledgeEntry]:
    """Entries from the centre's own file (CSV, YAML or JSON)."""
    rows = _rows(data, filename, yaml_ok=True)
    entries = [_own_entry(r, i) for i, r in enumerate(rows, start=2)]
    _unique(entries)
    return entries


def _unique(entries: list[KnowledgeEntry]) -> None:
    if len({e.code for e in entries}) != len(entries):
        raise InvalidValueError("the file repeats a code")


PARSERS: dict[str, Callable[[bytes, str], list[KnowledgeEntry]]] = {
    "tramites-gub": parse_tramites_gub,
    "propio": parse_own,
}
