"""The agent's workspace, /agente (ejecutivos: the role that receives call pops)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from agent_api.auth import Principal
from agent_api.web.auth import page_for
from agent_api.web.templating import PAGE_HEADERS
from crm_bridge.organisms import Role

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"

Ejecutivo = Annotated[Principal, Depends(page_for(Role.EJECUTIVO))]


@router.get("/agente")
async def workspace(_user: Ejecutivo) -> FileResponse:
    # Interim: the previous single-page panel, until the server-rendered
    # workspace replaces it (issue 13, step 2).
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
