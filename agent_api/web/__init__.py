"""Server-rendered pages (Jinja2 + htmx): login, each role's home, the API docs.

`install(app, pages)` adds them to the panel app; agent_api/README.md says how
to add a page.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent_api.web.auth import PageDenied, PageLoginRequired, TokenRefused
from agent_api.web.fragments import FragmentNavigation, VaryOnHtmx, redirect_to_page
from agent_api.web.templating import Pages


def install(app: FastAPI, pages: Pages) -> None:
    """Routes, the shared template environment and the page-auth error answers."""
    from agent_api.web import (
        admin,
        admin_presencial,
        agente,
        agente_socket,
        conocimiento,
        devoluciones,
        login,
        presencial,
        publico,
        reportes,
        seguimientos,
        solicitudes,
        supervision,
    )

    app.state.pages = pages
    for module in (
        login,
        admin,
        admin_presencial,
        solicitudes,
        reportes,
        supervision,
        agente,
        agente_socket,
        conocimiento,
        presencial,
        devoluciones,
        publico,
        seguimientos,
    ):
        app.include_router(module.router)

    app.add_middleware(VaryOnHtmx)

    @app.exception_handler(FragmentNavigation)
    async def fragment_opened(_request: Request, err: FragmentNavigation) -> Response:
        return redirect_to_page(err)

    @app.exception_handler(PageLoginRequired)
    async def login_required(_request: Request, _err: PageLoginRequired) -> Response:
        return RedirectResponse("/ingresar", status_code=303)

    @app.exception_handler(PageDenied)
    async def denied(request: Request, err: PageDenied) -> HTMLResponse:
        page = "errores/token_invalido.html" if isinstance(err, TokenRefused) else None
        return pages.render(
            request, page or "errores/sin_permiso.html", user=err.user, status_code=403
        )
