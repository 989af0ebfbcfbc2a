"""ASGI middleware of the panel's app: request size limits and response headers.

Both are plain ASGI (not Starlette's BaseHTTPMiddleware) so that a request
body is refused before anything reads it, and streamed responses are not
buffered.

`BodyLimit` answers 414 for a path (or one of its segments) over its bound,
and 413 when the declared Content-Length is over the limit,
without reading a byte of the body; a body sent without a length (chunked)
is counted chunk by chunk as the app reads it and cut off at the limit. The
limit is small by default (the panel's forms are a few KiB); routes that
take files get a larger one by path prefix.

`SecurityHeaders` puts the same policy on every response, HTML or JSON:
what the browser may load, that nobody may frame it, no referrer, no MIME
sniffing, and `Cache-Control: no-store` on everything but static assets
(answers carry personal data, which must not stay in a shared or disk cache).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Path parameters (a call's system and linkedid, a ticket number, a kiosk
# token) are short; bounding each segment here bounds them on every route at
# once, before routing, instead of a max_length on each parameter.
MAX_PATH_SEGMENT = 200
MAX_PATH_BYTES = 2048

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class BodyTooLarge(HTTPException):
    """Raised by `receive` once a streamed body passes the limit.

    An HTTPException so that FastAPI's body parsing lets it through (it turns
    other errors into 400) and the app's handler answers 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_text(limit))
        self.limit = limit


def too_large_text(limit: int) -> str:
    mib = limit / (1024 * 1024)
    size = f"{mib:g} MiB" if mib >= 1 else f"{limit // 1024} KiB"
    return f"El contenido enviado es demasiado grande (máximo {size})."


def _problem(detalle: str) -> bytes:
    return json.dumps({"detalle": detalle}, ensure_ascii=False).encode()


# Pages a citizen reaches without logging in: a browser's form post there
# may not say it accepts HTML, and must still get a page, not JSON.
PUBLIC_PAGE_PATHS = ("/solicitud", "/seguimiento")


def wants_html(path: str, accept: str) -> bool:
    """Whether an error for this request is read by a person in a browser."""
    if path == "/api" or path.startswith("/api/"):
        return False
    return "text/html" in accept.lower() or path in PUBLIC_PAGE_PATHS


def error_page(title: str, detalle: str, path: str = "/") -> bytes:
    """A plain Spanish page for errors answered before any template can run."""
    # Back to the public form itself (a GET); elsewhere to the start page.
    back = path if path in PUBLIC_PAGE_PATHS else "/"
    return (
        '<!doctype html>\n<html lang="es"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><main>"
        f"<h1>{escape(title)}</h1><p>{escape(detalle)}</p>"
        f'<p><a href="{escape(back)}">Volver</a></p>'
        "</main></body></html>\n"
    ).encode()


class BodyLimit:
    """413 for request bodies over the limit of their path, before they are read."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        per_path: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Longest prefix first, so "/api/catalog/import" wins over "/api".
        self._per_path = sorted((per_path or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self._per_path:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not path_within_limits(scope["path"]):
            if scope["type"] == "http":
                await _refuse(send, status=414, detalle="La dirección pedida es demasiado larga.")
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            log.info(
                "%s %s -> 413: body of %d bytes over %d",
                scope["method"],
                scope["path"],
                declared,
                limit,
            )
            await _refuse(
                send,
                status=413,
                detalle=too_large_text(limit),
                html=_html(scope),
                path=scope["path"],
            )
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            log.info("%s %s -> 413: streamed body over %d", scope["method"], scope["path"], limit)
            if not started:
                await _refuse(
                    send,
                    status=413,
                    detalle=too_large_text(limit),
                    html=_html(scope),
                    path=scope["path"],
                )


def path_within_limits(path: str) -> bool:
    """Whether a request path is short enough, as a whole and per segment."""
    if len(path) > MAX_PATH_BYTES:
        return False
    return all(len(segment) <= MAX_PATH_SEGMENT for segment in path.split("/"))


def _html(scope: Scope) -> bool:
    accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
    return wants_html(scope["path"], accept.decode("latin-1"))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(
    send: Send, *, status: int, detalle: str, html: bool = False, path: str = "/"
) -> None:
    if html:
        body = error_page("No se pudo enviar", detalle, path)
        kind = b"text/html; charset=utf-8"
    else:
        body, kind = _problem(detalle), b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
                *_security_headers(cache=False),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _security_headers(*, cache: bool, csp: bool = True) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if csp:
        headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
    if not cache:
        headers.append((b"cache-control", b"no-store"))
    return headers


class SecurityHeaders:
    """The page policy and no-store on every HTTP response (headers a route set win)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cacheable_prefixes: Iterable[str] = ("/static/", "/wallboard/static/"),
        csp_exempt: Iterable[str] = (),
    ) -> None:
        self.app = app
        self._cacheable = tuple(cacheable_prefixes)
        # Pages that bring their own policy (the API docs' inline start-up script).
        self._csp_exempt = frozenset(csp_exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = _security_headers(
            cache=path.startswith(self._cacheable), csp=path not in self._csp_exempt
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers.extend((n, v) for n, v in extra if n not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
