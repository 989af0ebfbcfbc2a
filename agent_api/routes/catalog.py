"""The catalog of trámites y servicios: read by everyone, imported by supervisors/admins."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from agent_api.catalog import parse_catalog
from agent_api.deps import CatalogManager, CatalogReader, Services
from agent_api.exceptions import InvalidInput
from agent_api.routes.admin_directory import Setup
from agent_api.schemas import ImportOut, TopicOut

router = APIRouter(prefix="/api/catalog", tags=["catálogo"])

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@router.get("", response_model=list[TopicOut])
def list_topics(_: CatalogReader, services: Services) -> list[TopicOut]:
    return [TopicOut.model_validate(t, from_attributes=True) for t in services.catalog.topics()]


@router.post(
    "/import",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string", "maxLength": MAX_UPLOAD_BYTES}},
                "application/json": {},
            }
        }
    },
)
async def import_topics(request: Request, user: CatalogManager, setup: Setup) -> ImportOut:
    """Body: CSV (text/csv, header code,name,kind,organism,unit) or a JSON list."""
    data = await request.body()
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput("upload too large", detalle="El archivo supera los 5 MB.")
    # Parsing up to 5 MiB of CSV takes a while: not on the bridge's loop.
    topics = await asyncio.to_thread(parse_catalog, data, request.headers.get("content-type", ""))
    created, updated = await asyncio.to_thread(setup.import_topics, topics, actor_id=user.user_id)
    return ImportOut(created=created, updated=updated)
