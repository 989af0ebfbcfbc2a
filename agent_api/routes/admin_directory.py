"""Admin API: organisms, their units, unit referents and SLA hours (routers per resource).

Everything the /admin pages and `atiende admin` do, so a centre can be set up
by a script. Handlers are plain functions: FastAPI runs them off the loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from agent_api.centre_setup import CentreSetup
from agent_api.deps import Admin, Services
from agent_api.exceptions import InvalidInput
from agent_api.followup import FollowUp
from crm_bridge.organisms import OrganismView, ServiceLevelView, UnitView, UserView
from crm_bridge.ticket_rules import RequestType


def get_setup(services: Services, followup: FollowUp) -> CentreSetup:
    return CentreSetup(followup.directory, services.catalog, services.users, services.audit)


Setup = Annotated[CentreSetup, Depends(get_setup)]


class OrganismIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, description="p. ej. DNIC")
    name: str = Field(min_length=1, max_length=200)


class NameIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class OrganismOut(BaseModel):
    id: int
    code: str
    name: str


class UnitIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    parent_id: int | None = None


class UnitOut(BaseModel):
    id: int
    organism_id: int
    parent_id: int | None
    code: str
    name: str
    depth: int


class ReferentIn(BaseModel):
    user_id: int | None = None
    username: str | None = Field(default=None, max_length=64)


class ReferentOut(BaseModel):
    id: int
    username: str
    display_name: str


class ServiceLevelIn(BaseModel):
    organism_id: int
    unit_id: int | None = None
    request_type: RequestType
    business_hours: float = Field(gt=0, le=24 * 365)


class ServiceLevelOut(BaseModel):
    organism_id: int
    unit_id: int | None
    request_type: RequestType
    business_hours: float


def _organism(o: OrganismView) -> OrganismOut:
    return OrganismOut(id=o.id, code=o.code, name=o.name)


def _unit(u: UnitView) -> UnitOut:
    return UnitOut(
        id=u.id,
        organism_id=u.organism_id,
        parent_id=u.parent_id,
        code=u.code,
        name=u.name,
        depth=u.depth,
    )


def _referent(u: UserView) -> ReferentOut:
    return ReferentOut(id=u.id, username=u.username, display_name=u.display_name)


def _level(s: ServiceLevelView) -> ServiceLevelOut:
    return ServiceLevelOut(
        organism_id=s.organism_id,
        unit_id=s.unit_id,
        request_type=s.request_type,
        business_hours=s.business_hours,
    )


organisms = APIRouter(prefix="/api/admin/organisms", tags=["organismos"])


@organisms.get("", response_model=list[OrganismOut])
def list_organisms(_: Admin, setup: Setup) -> list[OrganismOut]:
    return [_organism(o) for o in setup.directory.organisms()]


@organisms.post("", response_model=OrganismOut, status_code=201)
def create_organism(body: OrganismIn, user: Admin, setup: Setup) -> OrganismOut:
    return _organism(setup.create_organism(body.code, body.name, actor_id=user.user_id))


@organisms.patch("/{organism_id}", response_model=OrganismOut)
def rename_organism(organism_id: int, body: NameIn, user: Admin, setup: Setup) -> OrganismOut:
    return _organism(setup.rename_organism(organism_id, body.name, actor_id=user.user_id))


@organisms.get("/{organism_id}/units", response_model=list[UnitOut])
def list_units(organism_id: int, _: Admin, setup: Setup) -> list[UnitOut]:
    setup.organism(organism_id)
    return [_unit(u) for u in setup.directory.units(organism_id)]


@organisms.post("/{organism_id}/units", response_model=UnitOut, status_code=201)
def create_unit(organism_id: int, body: UnitIn, user: Admin, setup: Setup) -> UnitOut:
    made = setup.create_unit(
        organism_id, body.code, body.name, parent=body.parent_id, actor_id=user.user_id
    )
    return _unit(made)


units = APIRouter(prefix="/api/admin/units", tags=["unidades"])


@units.patch("/{unit_id}", response_model=UnitOut)
def rename_unit(unit_id: int, body: NameIn, user: Admin, setup: Setup) -> UnitOut:
    return _unit(setup.rename_unit(unit_id, body.name, actor_id=user.user_id))


@units.get("/{unit_id}/referents", response_model=list[ReferentOut])
def list_referents(unit_id: int, _: Admin, setup: Setup) -> list[ReferentOut]:
    setup.unit_by_id(unit_id)
    return [_referent(u) for u in setup.directory.referents(unit_id)]


@units.post("/{unit_id}/referents", response_model=ReferentOut, status_code=201)
def add_referent(unit_id: int, body: ReferentIn, user: Admin, setup: Setup) -> ReferentOut:
    ref: int | str | None = body.user_id if body.user_id is not None else body.username
    if ref is None:
        raise InvalidInput("no user", detalle="Indique el usuario referente.")
    return _referent(setup.add_referent(unit_id, ref, actor_id=user.user_id))


@units.delete("/{unit_id}/referents/{user_id}", status_code=204)
def remove_referent(unit_id: int, user_id: int, user: Admin, setup: Setup) -> Response:
    setup.remove_referent(unit_id, user_id, actor_id=user.user_id)
    return Response(status_code=204)


service_levels = APIRouter(prefix="/api/admin/service-levels", tags=["niveles de servicio"])


@service_levels.get("", response_model=list[ServiceLevelOut])
def list_levels(_: Admin, setup: Setup, organism_id: int | None = None) -> list[ServiceLevelOut]:
    return [_level(s) for s in setup.directory.service_levels(organism_id)]


@service_levels.put("", response_model=ServiceLevelOut)
def set_level(body: ServiceLevelIn, user: Admin, setup: Setup) -> ServiceLevelOut:
    done = setup.set_service_level(
        body.organism_id,
        body.request_type,
        body.business_hours,
        unit=body.unit_id,
        actor_id=user.user_id,
    )
    return _level(done)


routers = (organisms, units, service_levels)
