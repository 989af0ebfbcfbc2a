"""Admin API: one catalog topic at a time (create, edit, hide).

The bulk import is /api/catalog/import.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from agent_api.catalog import TopicInput, TopicView
from agent_api.deps import CatalogManager
from agent_api.routes.admin_directory import Setup
from crm_bridge.knowledge import CONTENT_LIMITS, TopicContent, content_of

router = APIRouter(prefix="/api/admin/topics", tags=["temas del catálogo"])


# Pydantic dataclasses over crm_bridge.knowledge.TopicContent: the content
# fields and their limits are declared once, there.
@pydantic_dataclass(frozen=True, kw_only=True)
class TopicContentIn(TopicContent):
    """What the agent reads to the citizen: absent leaves a field as it is, "" clears it."""

    online_url: Annotated[
        str | None, Field(max_length=CONTENT_LIMITS["online_url"], pattern=r"^(https?://\S+)?$")
    ] = None


@pydantic_dataclass(frozen=True, kw_only=True)
class TopicIn(TopicContentIn):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Annotated[str, Field(pattern="^(tramite|servicio)$")] = "tramite"
    organism: Annotated[str | None, Field(max_length=32, description="código del organismo")] = None
    unit: Annotated[str | None, Field(max_length=32, description="código de la unidad")] = None
    active: bool = True


@pydantic_dataclass(frozen=True, kw_only=True)
class TopicPatch(TopicContentIn):
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    kind: Annotated[str | None, Field(pattern="^(tramite|servicio)$")] = None
    organism: Annotated[str | None, Field(max_length=32)] = None
    unit: Annotated[str | None, Field(max_length=32)] = None
    active: bool | None = None


# A topic as the admin API answers it: the catalog's view, field for field
# (no docstring: it would become the schema's description).
@pydantic_dataclass(frozen=True)
class AdminTopicOut(TopicView):
    pass


def _out(t: TopicView) -> AdminTopicOut:
    return AdminTopicOut(**asdict(t))


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
        **content_of(body),
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
        **content_of(body),
    )
    return _out(setup.save_topic(topic, actor_id=user.user_id))
