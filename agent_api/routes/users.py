"""Users, roles and queue member interfaces (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Admin, Services
from agent_api.routes.admin_directory import Setup
from agent_api.schemas import InterfacesIn, UserIn, UserOut, UserPatch
from agent_api.users import PanelUser

router = APIRouter(prefix="/api/users", tags=["usuarios"])


def _out(user: PanelUser) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        active=user.active,
        interfaces=list(user.interfaces),
    )


@router.get("", response_model=list[UserOut])
def list_users(_: Admin, services: Services) -> list[UserOut]:
    return [_out(u) for u in services.users.all()]


@router.post("", response_model=UserOut, status_code=201)
def create_user(body: UserIn, admin: Admin, services: Services, setup: Setup) -> UserOut:
    user = setup.create_user(
        body.username,
        body.display_name,
        body.role,
        body.password,
        body.interfaces,
        actor_id=admin.user_id,
    )
    services.hub.set_interfaces(services.users.interface_map())
    return _out(user)


@router.patch("/{user_id}", response_model=UserOut)
def update_user(
    user_id: int, body: UserPatch, admin: Admin, services: Services, setup: Setup
) -> UserOut:
    before = services.users.get(user_id)
    user = setup.update_user(
        user_id,
        role=body.role,
        active=body.active,
        display_name=body.display_name,
        password=body.password,
        actor_id=admin.user_id,
    )
    if before is not None and (
        before.role != user.role or (before.active and not user.active) or body.password
    ):
        # A changed role or a disabled account ends what the old one opened.
        for session_id in services.sessions.end_user(user_id):
            services.hub.close_session(session_id)
        services.hub.close_user(user_id)
    services.hub.set_interfaces(services.users.interface_map())
    return _out(user)


@router.put("/{user_id}/interfaces", response_model=UserOut)
def set_interfaces(
    user_id: int, body: InterfacesIn, admin: Admin, services: Services, setup: Setup
) -> UserOut:
    user = setup.set_interfaces(user_id, body.interfaces, actor_id=admin.user_id)
    services.hub.set_interfaces(services.users.interface_map())
    return _out(user)
