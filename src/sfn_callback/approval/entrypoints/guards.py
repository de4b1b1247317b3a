"""What every request to the approval API goes through before a route sees it, in this order:

1. **authentication** (:class:`Authenticate`): every path but the public ones needs ``Authorization: Bearer
   <key>``: none 401, unknown 403, checked before anything of the request is read, so a request without
   credentials learns nothing about its body;
2. **size** (:class:`BodySizeLimit`): a body over the limit is 413, by ``Content-Length`` or while streaming;
3. **JSON** (:class:`JsonBody`): a body must be ``application/json`` (else 415, saying so) and a JSON object
   in strict JSON: UTF-8, no ``NaN`` / ``Infinity``, no number out of a double's range (``1e999``), no lone
   surrogate in a string, at most ``MAX_JSON_DEPTH`` levels of nesting (else 422). Python's parser takes ``NaN``, ``Infinity`` and ``1e999``
   (as infinity), which are not JSON: a decision's output carrying one could not be sent to Step Functions
   nor rendered in a response.

:class:`SecurityHeaders` wraps them all, so refusals carry the same headers as answers. Errors are the API's
JSON error document (``{"error": {"status", "code", "message"}}``).
"""

from __future__ import annotations

import email.message
import json
import math
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

PUBLIC_PATHS = frozenset({"/", "/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PUBLIC_PREFIXES = ("/static/",)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_DEPTH = 64


def error_response(status: int, code: str, message: str, task: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": {"status": status, "code": code, "message": message}}
    if task is not None:
        body["task"] = task
    return JSONResponse(body, status_code=status, headers=headers)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class Refusal(Exception):
    """A request refused before it reached a route."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class SecurityHeaders:
    def __init__(self, app: Any, headers: dict[str, str]):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not scope["path"].startswith("/static/")

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if no_store and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, with_headers)


class Authenticate:
    """``verify(header value or None)`` returns the caller's name or raises :class:`Refusal` (401 / 403); the
    name is left in ``scope["state"]["actor"]`` for the routes."""

    def __init__(self, app: Any, verify: Callable[[str | None], str]):
        self.app = app
        self.verify = verify

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            actor = self.verify(_header(scope, b"authorization"))
        except Refusal as refusal:
            await error_response(refusal.status, refusal.code, refusal.message,
                                 headers=refusal.headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes (by Content-Length, and by counting a streamed body)."""

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        await error_response(413, "body_too_large", f"request body is larger than {self.limit} bytes")(
            scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def is_json_media_type(value: str | None) -> bool:
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def strict_json(raw: bytes) -> Any:
    """Parse ``raw`` as JSON as RFC 8259 defines it; ``ValueError`` saying what is wrong otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not UTF-8 (invalid byte at offset {exc.start})") from None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(f"number {literal[:40]} is out of range")
        return value

    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError(f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # our checks above, or an integer longer than Python converts
        raise ValueError(f"body is not valid JSON: {exc}") from None
    _check_tree(value)
    return value


def _check_tree(value: Any) -> None:
    """Nesting depth, and strings that are Unicode (``"\\ud800"`` parses, but is no character)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            if level > MAX_JSON_DEPTH:
                raise ValueError(f"body is nested deeper than {MAX_JSON_DEPTH} levels")
            children = list(node.values()) + list(node) if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("body has a string with a lone surrogate (not a Unicode character)") from None


class JsonBody:
    """A request body on a protected path must be ``application/json`` (415) and a JSON object in strict JSON
    (422); the body is then handed on unchanged. No body at all is left to the route."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            content_type = _header(scope, b"content-type")
            if not is_json_media_type(content_type):
                got = f"got {content_type!r}" if content_type else "no Content-Type was sent"
                await error_response(415, "unsupported_media_type",
                                     f"send the body as JSON with Content-Type: application/json ({got})")(
                    scope, receive, send)
                return
            try:
                if not isinstance(strict_json(body), dict):
                    raise ValueError("body must be a JSON object")
            except ValueError as exc:
                await error_response(422, "invalid_request", str(exc))(scope, receive, send)
                return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
