"""Jinja2 rendering for the server-rendered pages (agent_api/templates/).

One environment per app, autoescaped, with the filters that write values the
way Uruguay reads them (agent_api.web.formatting). `Pages.render` answers a
whole page, or only one block when htmx asks for it (`HX-Request` with
`block=`), so one template serves both. Every page carries the same strict
Content-Security-Policy: only the app's own scripts and styles, no inline
code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent_api.auth import Principal
from agent_api.web import formatting, labels
from agent_api.web.nav import home_of, nav_for

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages show personal data: never keep them in a shared cache or history.
    "Cache-Control": "no-store",
}


@dataclass
class Pages:
    """The template environment and what every page needs (zone, phone region)."""

    zone: ZoneInfo
    phone_region: str = "UY"
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        zone, region = self.zone, self.phone_region
        self.env.filters["fecha_hora"] = lambda v: formatting.date_time(v, zone)
        self.env.filters["fecha"] = lambda v: formatting.date_only(v, zone)
        self.env.filters["hora"] = lambda v: formatting.time_only(v, zone)
        self.env.filters["telefono"] = lambda v: formatting.phone(v, region)
        self.env.filters["duracion"] = formatting.duration
        for name, table in labels.ALL.items():
            self.env.filters[name] = lambda v, t=table: labels.label(t, v)
        self.env.filters["nota_solicitud"] = labels.ticket_note
        self.env.filters["tema_menu"] = labels.menu_topic

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        user: Principal | None = None,
        status_code: int = 200,
        block: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The page, or only `block` of it (for htmx swaps)."""
        values: dict[str, Any] = {
            "request": request,
            "user": user,
            "csrf": None if user is None else user.csrf_token,
            "nav": [] if user is None else nav_for(user.role),
            "home": None if user is None else home_of(user.role, user.interfaces),
            "current_path": request.url.path,
        }
        values.update(context or {})
        tmpl = self.env.get_template(template)
        if block is None:
            html = tmpl.render(values)
        else:
            render_block = tmpl.blocks[block]
            html = "".join(render_block(tmpl.new_context(values)))
        all_headers = {**PAGE_HEADERS, **(headers or {})}
        return HTMLResponse(html, status_code=status_code, headers=all_headers)

    def fragment(self, template: str, context: Mapping[str, Any]) -> str:
        """A template rendered to text (for pushes over the socket)."""
        return self.env.get_template(template).render(context)
