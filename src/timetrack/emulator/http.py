"""Small pieces shared by the API and admin handlers: JSON replies and API errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


class ErrorReply(Exception):
    """An error answer: status and a message sent as a JSON string body. (Named apart from
    `timetrack.errors.ApiError`, the source's error for such an answer.)"""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Reply:
    """A success answer before the layout wraps it."""

    payload: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    wrap: bool = True
    """False for payloads that keep their own wrapper in both layouts (the task list)."""
    empty: bool = False
    """True for answers with no body (the delete)."""


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def error_response(error: ErrorReply) -> web.Response:
    """The service's error shape: a JSON string, or nothing for 401."""
    if error.status == 401:
        return web.Response(status=401, headers=error.headers)
    return json_response(error.message, error.status, error.headers)


async def json_object(request: web.Request) -> dict[str, Any]:
    """A request's JSON object body ({} when empty); 400 when it is not one."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ErrorReply(400, "Invalid JSON input") from None
    if not isinstance(body, dict):
        raise ErrorReply(400, "JSON body must be an object")
    return body


def int_param(query: dict[str, str] | Any, name: str, default: int | None = None) -> int | None:
    """An integer query or body parameter; 400 when it is not one."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise ErrorReply(400, f"{name} must be an integer")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ErrorReply(400, f"{name} must be an integer") from None


def page_params(query: Any, default_per_page: int, max_per_page: int) -> tuple[int, int]:
    """`page` (from 1) and `per_page` (clamped to the maximum); 400 on nonsense."""
    page = int_param(query, "page", 1)
    per_page = int_param(query, "per_page", default_per_page)
    assert page is not None and per_page is not None
    if page < 1:
        raise ErrorReply(400, "page must be at least 1")
    if per_page < 1:
        raise ErrorReply(400, "per_page must be at least 1")
    return page, min(per_page, max_per_page)


def tristate(query: Any, name: str, default: str, values: tuple[str, ...]) -> str:
    """A filter with a closed set of values (`status`, `active`)."""
    value = str(query.get(name, default)).lower()
    if value not in values:
        raise ErrorReply(400, f"{name} must be one of: {', '.join(values)}")
    return value
