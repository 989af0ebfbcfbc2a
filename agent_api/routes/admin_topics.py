"""Admin API: one catalog topic at a time (create, edit, hide).

The bulk import is /api/catalog/import.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agent_api.catalog import TopicInput, TopicView
from agent_api.deps import CatalogManager
from agent_api.routes.admin_directory import Setup
from crm_bridge.knowledge import CONTENT_LIMITS

router = APIRouter(prefix="/api/admin/topics", tags=["temas del catálogo"])


class TopicContent(BaseModel):
    """What the agent reads to the citizen: absent leaves a field as it is, "" clears it."""

    description: str | None = Field(default=None, max_length=CONTENT_LIMITS["description"])
    requirements: str | None = Field(default=None, max_length=CONTENT_LIMITS["requirements"])
    steps: str | None = Field(default=None, max_length=CONTENT_LIMITS["steps"])
    deadlines: str | None = Field(default=None, max_length=CONTENT_LIMITS["deadlines"])
    cost: str | None = Field(default=None, max_length=CONTENT_LIMITS["cost"])
    where_how: str | None = Field(default=None, max_length=CONTENT_LIMITS["where_how"])
    online_url: str | None = Field(
        default=None, max_length=CONTENT_LIMITS["online_url"], pattern=r"^(https?://\S+)?$"
    )
    keywords: str | None = Field(default=None, max_length=CONTENT_LIMITS["keywords"])

    def content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in CONTENT_LIMITS}


class TopicIn(TopicContent):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="tramite", pattern="^(tramite|servicio)$")
    organism: str | None = Field(default=None, max_length=32, description="código del organismo")
    unit: str | None = Field(default=None, max_length=32, description="código de la unidad")
    active: bool = True


class TopicPatch(TopicContent):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, pattern="^(tramite|servicio)$")
    organism: str | None = Field(default=None, max_length=32)
    unit: str | None = Field(default=None, max_length=32)
    active: bool | None = None


class AdminTopicOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    organism_id: int | None
    unit_id: int | None
    active: bool
    description: str | None = None
    requirements: str | None = None
    steps: str | None = None
    deadlines: str | None = None
    cost: str | None = None
    where_how: str | None = None
    online_url: str | None = None
    keywords: str | None = None


def _out(t: TopicView) -> AdminTopicOut:
    return AdminTopicOut(
        id=t.id,
        code=t.code,
        name=t.name,
        kind=t.kind,
        organism_id=t.organism_id,
        unit_id=t.unit_id,
        active=t.active,
        **{k: getattr(t, k) for k in CONTENT_LIMITS},
    )


@router.get("", response_model=list[AdminTopicOut])
def list_topics(_: CatalogManager, setup: Setup) -> list[AdminTopicOut]:
    """Every topic, hidden ones too."""
    return [_out(t) for t in setup.catalog.topics(include_inactive=True)]


@router.post("", response_model=AdminTopicOut, status_code=201)
def create_topic(body: TopicIn, user: CatalogManager, setup: Setup) -> AdminTopicOut:
    topic = TopicInput(
        code=body.code.strip(),
        name=" ".join(body.name.split()),
        kind=body.kind,
        organism=body.organism or None,
        unit=body.unit or None,
        active=body.active,
        **body.content(),
    )
    return _out(setup.save_topic(topic, actor_id=user.user_id))


@router.patch("/{topic_id}", response_model=AdminTopicOut)
def edit_topic(
    topic_id: int, body: TopicPatch, user: CatalogManager, setup: Setup
) -> AdminTopicOut:
    """Only the fields given change; `organism` "" clears the derivation target."""
    now = setup.topic(topic_id)
    organism, unit = setup.topic_codes(now)
    if body.organism is not None:
        organism, unit = body.organism or None, None
    if body.unit is not None:
        unit = body.unit or None
    topic = TopicInput(
        code=now.code,
        name=now.name if body.name is None else " ".join(body.name.split()),
        kind=now.kind if body.kind is None else body.kind,
        organism=organism,
        unit=unit,
        active=now.active if body.active is None else body.active,
    )
    topic = replace(topic, **body.content())
    return _out(setup.save_topic(topic, actor_id=user.user_id))
