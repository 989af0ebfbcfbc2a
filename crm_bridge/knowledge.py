"""The knowledge base the agent reads during a call: catalog topics with their
requisitos, pasos, plazos, costo, dónde/cómo and online link, searched by
relevance and accent-insensitively ("cedula" finds "Cédula de identidad").

PostgreSQL searches a generated tsvector (migration 0016: Spanish text search
over accent-folded text, the name weighing most, then the keywords, then the
rest) ranked by ts_rank_cd. SQLite, the embedded default, has no text search
of that kind: the same rules run here in Python over the active topics (a
catalog is thousands of rows, not millions). Both fold accents the same way
and treat the last word typed as a prefix, so results follow the typing.

`upsert` writes topics from an import idempotently: a row changes only when a
value differs, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Annotated, Any, get_type_hints

from pydantic import Field
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.models import CatalogTopic, Organism, Unit

MAX_QUERY_CHARS = 100
MIN_QUERY_CHARS = 2
MAX_RESULTS = 20
MAX_QUERY_TOKENS = 8

# Words too common to search by (the PostgreSQL Spanish configuration drops these too).
STOPWORDS = frozenset(
    [
        "a",
        "al",
        "con",
        "de",
        "del",
        "el",
        "en",
        "la",
        "las",
        "lo",
        "los",
        "o",
        "para",
        "por",
        "que",
        "se",
        "su",
        "sus",
        "un",
        "una",
        "unos",
        "unas",
        "y",
    ]
)
# Weights of the fields a token was found in (PostgreSQL: A, B, C).
_WEIGHT_NAME, _WEIGHT_KEYWORDS, _WEIGHT_BODY = 1.0, 0.4, 0.1


def fold(value: str) -> str:
    """Lower case without accents: "Cédula" and "cedula" are one word."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(value: str) -> list[str]:
    """The searchable words of `value`, folded, stopwords out."""
    return [t for t in re.findall(r"[a-z0-9]+", fold(value)) if t not in STOPWORDS]


def stem(token: str) -> str:
    """A light Spanish stem: plurals and the final vowel off ("cédulas" → "cedul")."""
    if len(token) > 5 and token.endswith("es"):
        token = token[:-2]
    elif len(token) > 4 and token.endswith("s"):
        token = token[:-1]
    if len(token) > 4 and token[-1] in "aeo":
        token = token[:-1]
    return token


def query_tokens(query: str) -> list[str]:
    """The query's words (at most MAX_QUERY_TOKENS, repeated ones once)."""
    seen: dict[str, None] = {}
    for token in tokens(query[:MAX_QUERY_CHARS]):
        seen.setdefault(token, None)
    return list(seen)[:MAX_QUERY_TOKENS]


def tsquery(words: Sequence[str]) -> str:
    """A to_tsquery text: every word required, the last one a prefix."""
    parts = [f"{w}:*" if i == len(words) - 1 else w for i, w in enumerate(words)]
    return " & ".join(parts)


def _matches(word: str, doc_words: set[str], doc_stems: set[str], prefix: bool) -> bool:
    if stem(word) in doc_stems or word in doc_words:
        return True
    return prefix and any(d.startswith(word) for d in doc_words)


def score(words: Sequence[str], name: str, keywords: str, body: str) -> float:
    """Relevance of one topic (0: not every word is in it). Pure; SQLite's search."""
    fields_ = [(_WEIGHT_NAME, name), (_WEIGHT_KEYWORDS, keywords), (_WEIGHT_BODY, body)]
    parsed = []
    for weight, value in fields_:
        doc = set(tokens(value))
        parsed.append((weight, doc, {stem(d) for d in doc}))
    total = 0.0
    for index, word in enumerate(words):
        prefix = index == len(words) - 1
        best = max(
            (w for w, doc, stems in parsed if _matches(word, doc, stems, prefix)), default=0.0
        )
        if best == 0.0:
            return 0.0
        total += best
    # A name that starts with the words asked for ("cédula..." for "cedula").
    name_words = tokens(name)
    if name_words and words and _matches(words[0], {name_words[0]}, {stem(name_words[0])}, True):
        total += 0.5
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicContent:
    """What the agent reads to the citizen about a topic: the one definition of
    the knowledge base's fields and their limits (characters), which the
    imports, the catalog and the admin API and forms share. None: not given
    (an import or an edit leaves the field as it is); "" clears it."""

    description: Annotated[str | None, Field(max_length=4000)] = None
    requirements: Annotated[str | None, Field(max_length=8000)] = None
    steps: Annotated[str | None, Field(max_length=8000)] = None
    deadlines: Annotated[str | None, Field(max_length=2000)] = None
    cost: Annotated[str | None, Field(max_length=2000)] = None
    where_how: Annotated[str | None, Field(max_length=8000)] = None
    online_url: Annotated[str | None, Field(max_length=500)] = None
    keywords: Annotated[str | None, Field(max_length=1000)] = None


def _limit(name: str) -> int:
    # The limit is read where it is declared (a pydantic Field, so the admin
    # API validates the same number).
    (info,) = get_type_hints(TopicContent, include_extras=True)[name].__metadata__
    limit = info.metadata[0].max_length
    assert isinstance(limit, int)
    return limit


CONTENT_FIELDS = tuple(f.name for f in fields(TopicContent))
CONTENT_LIMITS = {name: _limit(name) for name in CONTENT_FIELDS}


def content_of(source: Any) -> dict[str, str | None]:
    """The content fields of a topic row, entry or form, by name."""
    return {name: getattr(source, name) for name in CONTENT_FIELDS}


@dataclass(frozen=True, slots=True)
class KnowledgeEntry(TopicContent):
    """A topic as an import gives it. Content fields None: left as they are."""

    code: str
    name: str
    kind: str = "tramite"
    organism: str | None = None  # an organism code or name
    unit: str | None = None  # a unit code of that organism
    active: bool = True
    source: str | None = None
    source_updated: str | None = None


@dataclass(frozen=True, slots=True)
class TopicDetail(TopicContent):
    id: int
    code: str
    name: str
    kind: str
    organism: str | None  # the organism's name (ours, else as the source names it)
    source: str | None
    source_updated: str | None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _detail(row: CatalogTopic, organism_name: str | None) -> TopicDetail:
    return TopicDetail(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        organism=organism_name or row.organism_label,
        source=row.source,
        source_updated=row.source_updated,
        **content_of(row),
    )


def clean_content(name: str, value: str | None) -> str | None:
    """A content value trimmed, NULs out, within its limit; "" is None."""
    if value is None:
        return None
    value = value.replace("\x00", "").replace("\r\n", "\n").strip()
    lines = [" ".join(line.split()) for line in value.split("\n")]
    value = "\n".join(line for line in lines if line)
    if not value:
        return None
    limit = CONTENT_LIMITS[name]
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    if name == "online_url" and not value.startswith(("https://", "http://")):
        raise InvalidValueError("the online link must be an http(s) URL")
    return value


def apply_content(row: CatalogTopic, entry: Any) -> bool:
    """Set the content fields `entry` gives (None: keep); True when one changed."""
    changed = False
    for name in CONTENT_FIELDS:
        value = getattr(entry, name, None)
        if value is None:
            continue
        cleaned = clean_content(name, value) if value else None
        if getattr(row, name) != cleaned:
            setattr(row, name, cleaned)
            changed = True
    return changed


class KnowledgeBase:
    """Search and import of the catalog's content (blocking: run off the loop)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._postgres = engine.dialect.name == "postgresql"

    # -------------------------------------------------------------- reading

    def search(self, query: str, *, limit: int = 10) -> list[TopicDetail]:
        """Active topics matching every word of `query`, the most relevant first."""
        words = query_tokens(query)
        limit = max(1, min(limit, MAX_RESULTS))
        if not words:
            return []
        with self._sessions() as session:
            if self._postgres:
                ids = self._search_postgres(session, words, limit)
            else:
                ids = self._search_python(session, words, limit)
            return self._details(session, ids)

    def get(self, topic_id: int) -> TopicDetail | None:
        with self._sessions() as session:
            found = self._details(session, [topic_id])
            return found[0] if found else None

    def _search_postgres(self, session: Session, words: Sequence[str], limit: int) -> list[int]:
        rows = session.execute(
            text(
                "SELECT t.id FROM catalog_topics t,"
                " to_tsquery('spanish'::regconfig, atiende_fold(:q)) q"
                " WHERE t.active AND t.search_vector @@ q"
                " ORDER BY ts_rank_cd(t.search_vector, q) DESC, t.name, t.id LIMIT :n"
            ),
            {"q": tsquery(words), "n": limit},
        )
        return [int(r[0]) for r in rows]

    def _search_python(self, session: Session, words: Sequence[str], limit: int) -> list[int]:
        rows = session.execute(
            select(
                CatalogTopic.id,
                CatalogTopic.name,
                CatalogTopic.keywords,
                CatalogTopic.description,
                CatalogTopic.requirements,
                CatalogTopic.steps,
                CatalogTopic.where_how,
                CatalogTopic.organism_label,
            ).where(CatalogTopic.active.is_(True))
        ).all()
        scored = []
        for row in rows:
            body = " ".join(v for v in row[3:] if v)
            value = score(words, row.name, row.keywords or "", body)
            if value > 0:
                scored.append((-value, fold(row.name), row.id))
        scored.sort()
        return [topic_id for _, _, topic_id in scored[:limit]]

    def _details(self, session: Session, ids: Sequence[int]) -> list[TopicDetail]:
        if not ids:
            return []
        rows = session.execute(
            select(CatalogTopic, Organism.name)
            .outerjoin(Organism, Organism.id == CatalogTopic.organism_id)
            .where(CatalogTopic.id.in_(ids))
        ).all()
        by_id = {topic.id: _detail(topic, organism) for topic, organism in rows}
        return [by_id[i] for i in ids if i in by_id]

    # -------------------------------------------------------------- writing

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> ImportResult:
        """Create or update topics by code in one transaction, idempotently.

        The organism is matched by code, else by name (accents and case aside);
        one that is not ours is kept as a label. A unit must be one of the
        organism's (InvalidValueError otherwise, and nothing is written).
        """
        created = updated = unchanged = 0
        with self._sessions.begin() as session:
            organisms = session.execute(select(Organism.id, Organism.code, Organism.name)).all()
            by_code = {o.code: o.id for o in organisms}
            by_name = {fold(o.name): o.id for o in organisms}
            for entry in entries:
                organism_id: int | None = None
                label: str | None = None
                if entry.organism:
                    organism_id = by_code.get(entry.organism) or by_name.get(fold(entry.organism))
                    label = None if organism_id is not None else entry.organism[:200]
                unit_id = None
                if entry.unit:
                    unit_id = (
                        None
                        if organism_id is None
                        else session.scalars(
                            select(Unit.id).where(
                                Unit.organism_id == organism_id, Unit.code == entry.unit
                            )
                        ).first()
                    )
                    if unit_id is None:
                        raise InvalidValueError(f"topic {entry.code}: unknown unit")
                row = session.scalars(
                    select(CatalogTopic).where(CatalogTopic.code == entry.code)
                ).first()
                is_new = row is None
                if row is None:
                    row = CatalogTopic(code=entry.code, active=entry.active)
                    session.add(row)
                changed = apply_content(row, entry)
                for name, value in (
                    ("name", entry.name),
                    ("kind", entry.kind),
                    ("active", entry.active),
                    ("organism_id", organism_id),
                    ("unit_id", unit_id),
                    ("organism_label", label),
                    ("source", entry.source),
                    ("source_updated", entry.source_updated),
                ):
                    if getattr(row, name) != value:
                        setattr(row, name, value)
                        changed = True
                if is_new:
                    created += 1
                elif changed:
                    updated += 1
                else:
                    unchanged += 1
        return ImportResult(created, updated, unchanged)
