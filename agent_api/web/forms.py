"""Form-encoded bodies (htmx and plain forms post application/x-www-form-urlencoded)."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

# The workspace's forms are a few KiB at most (notes: 4,000 characters).
MAX_FORM_BYTES = 32 * 1024


async def read_form(request: Request, *, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The fields (first value of each), or {} for a body too big or not text."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in fields.items() if values}


async def read_form_lists(
    request: Request, *, max_bytes: int = MAX_FORM_BYTES
) -> dict[str, list[str]]:
    """Like read_form, keeping every value (checkbox groups)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return {}
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
