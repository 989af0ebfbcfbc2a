"""The knowledge base: what to tell the citizen about a trámite, searched during the call.

GET /api/conocimiento?q=... for the roles that take calls (and walk-ins):
active topics matching every word, the most relevant first, accents and case
aside, with their requisitos, pasos, plazos, costo, dónde/cómo and link.
Nothing personal is read, so nothing is audited.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query
from pydantic import BaseModel

from agent_api.deps import KnowledgeReader, Services
from agent_api.exceptions import InvalidInput
from crm_bridge.knowledge import MAX_QUERY_CHARS, MAX_RESULTS, MIN_QUERY_CHARS, TopicDetail

router = APIRouter(prefix="/api/conocimiento", tags=["catálogo"])


class KnowledgeOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    organism: str | None
    description: str | None
    requirements: str | None
    steps: str | None
    deadlines: str | None
    cost: str | None
    where_how: str | None
    online_url: str | None
    source: str | None
    source_updated: str | None


class KnowledgeAnswer(BaseModel):
    q: str
    results: list[KnowledgeOut]


def out(topic: TopicDetail) -> KnowledgeOut:
    data = topic.as_dict()
    data.pop("keywords", None)
    return KnowledgeOut(**data)


def checked_query(q: str) -> str:
    """The query trimmed; InvalidInput (Spanish) when too short or too long."""
    q = " ".join(q.split())
    if not MIN_QUERY_CHARS <= len(q) <= MAX_QUERY_CHARS:
        raise InvalidInput(
            "knowledge query length",
            detalle=f"Escriba entre {MIN_QUERY_CHARS} y {MAX_QUERY_CHARS} caracteres para buscar.",
        )
    return q


@router.get("", response_model=KnowledgeAnswer)
async def search(
    _: KnowledgeReader,
    services: Services,
    q: str = Query(max_length=4 * MAX_QUERY_CHARS, description="palabras a buscar"),
    limite: int = Query(default=10, ge=1, le=MAX_RESULTS),
) -> KnowledgeAnswer:
    query = checked_query(q)
    found = await asyncio.to_thread(services.knowledge.search, query, limit=limite)
    return KnowledgeAnswer(q=query, results=[out(t) for t in found])
