"""Placeholder homes of the supervisor, referente, gerente and admin.

Each role's real screen (issue 14) replaces its route here with its own
module; agent_api/README.md ("Adding a page") says how. They exist now so
that `/` sends every role somewhere that answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agent_api.auth import Permission, Principal
from agent_api.web.auth import page_for, pages_of
from crm_bridge.organisms import Role

router = APIRouter(include_in_schema=False)

Supervisor = Annotated[Principal, Depends(page_for(Role.SUPERVISOR))]


def _placeholder(request: Request, user: Principal, title: str) -> HTMLResponse:
    # SLA alerts for the roles that may see them (agent_api.routes.alerts).
    alerts = user.can(Permission.ALL_SLA_ALERTS) or user.role is Role.GERENTE
    return pages_of(request).render(
        request, "pendiente.html", {"title": title, "alerts": alerts}, user=user
    )


@router.get("/supervision")
async def supervision(request: Request, user: Supervisor) -> HTMLResponse:
    return _placeholder(request, user, "Supervisión")
