"""RFC 9457 problem+json for every error, and the body-size limit: the only place errors meet HTTP."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon.adapters.db_errors import database_problem
from carbon.errors import (
    AmbiguousFactorError,
    AuthenticationError,
    CarbonError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    IdempotencyKeyReusedError,
    InsufficientStorageError,
    LimitError,
    NotFoundError,
    OverloadedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QuotaExceededError,
    RequestInFlightError,
    UpstreamError,
)

__all__ = ["BodySizeLimit", "error_responses", "install_problem_handlers", "problem"]

_log = logging.getLogger("carbon.api")
MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """A problem+json response."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"urn:problem:carbon:{slug}" if slug else "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE)


def _carbon_status(error: CarbonError) -> tuple[int, str, dict[str, str]]:
    """Map the error tree onto HTTP: no key 401, wrong role 403, not found 404, in flight 409, limits 429 and
    503 with Retry-After (a full queue, a busy or unavailable database), a failed provider 502, a full disk
    507, everything else a client can fix 422."""
    if isinstance(error, AuthenticationError | PermissionDeniedError | LimitError):
        return _access_status(error)
    if isinstance(error, NotFoundError):
        return 404, "not-found", {}
    if isinstance(error, RequestInFlightError):
        return 409, "request-in-flight", {"Retry-After": "1"}
    if isinstance(error, IdempotencyKeyReusedError):
        return 422, "idempotency-key-reused", {}
    if isinstance(error, PayloadTooLargeError):
        return 413, "body-too-large", {}
    if isinstance(error, UpstreamError):
        return 502, "upstream", {}
    if isinstance(error, InsufficientStorageError):
        return 507, "insufficient-storage", {}
    slug = type(error).__name__.removesuffix("Error").lower() or "carbon"
    return 422, slug, {}


def _access_status(error: CarbonError) -> tuple[int, str, dict[str, str]]:
    """401 and 403 carry the Bearer challenge (RFC 6750); 429 and 503 say when to come back."""
    if isinstance(error, AuthenticationError):
        challenge = 'Bearer realm="carbon"' + (', error="invalid_token"' if error.token_sent else "")
        return 401, "unauthorized", {"WWW-Authenticate": challenge}
    if isinstance(error, PermissionDeniedError):
        challenge = f'Bearer realm="carbon", error="insufficient_scope", scope="{error.role}"'
        return 403, "forbidden", {"WWW-Authenticate": challenge}
    assert isinstance(error, LimitError)
    retry_after = str(max(1, math.ceil(error.retry_after)))
    if isinstance(error, OverloadedError):
        return 503, "overloaded", {"Retry-After": retry_after}
    if isinstance(error, DatabaseBusyError):
        return 503, "database-busy", {"Retry-After": retry_after}
    if isinstance(error, DatabaseUnavailableError):
        return 503, "database-unavailable", {"Retry-After": retry_after}
    if isinstance(error, QuotaExceededError):
        return 429, "quota-exceeded", {"Retry-After": retry_after}
    return 429, "rate-limited", {"Retry-After": retry_after}


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers: validation, HTTP errors (keeping their headers), the CarbonError tree."""

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": e.get("type"),
            }
            for e in error.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        return problem(422, detail, slug="validation", instance=request.url.path, extra={"errors": errors})

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
        return problem(error.status_code, detail, instance=request.url.path, headers=error.headers)

    async def on_carbon(request: Request, error: Exception) -> Response:
        assert isinstance(error, CarbonError)
        status, slug, headers = _carbon_status(error)
        extra = {"candidates": list(error.candidates)} if isinstance(error, AmbiguousFactorError) else None
        return problem(status, str(error), slug=slug, instance=request.url.path, headers=headers, extra=extra)

    async def on_unexpected(request: Request, error: Exception) -> Response:
        named = database_problem(error)  # busy, disk full, read-only: the service's state, not a bug
        if named is not None:
            _log.warning("%s %s: %s (%s)", request.method, request.url.path, named, _cause(error))
            return await on_carbon(request, named)
        _log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; nothing was recorded", instance=request.url.path)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(CarbonError, on_carbon)
    app.add_exception_handler(Exception, on_unexpected)


def _cause(error: Exception) -> str:
    """The driver's error class, for the log line (its message may name tables or values)."""
    cause = getattr(error, "orig", None) or error
    return type(cause).__name__


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413 problem+json, with or without Content-Length."""

    def __init__(self, app: ASGIApp, limit: int, streamed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed  # paths whose routes stream the body themselves, with their own limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.streamed:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"request body larger than {self.limit} bytes", slug="body-too-large",
                           instance=scope.get("path"))  # fmt: skip
        await response(scope, receive, send)


def _problem_schema() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def error_responses(*statuses: int, replay: type[Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problem statuses a route can return (and a 200 replay model)."""
    documented: dict[int | str, dict[str, Any]] = {
        status: {"description": HTTPStatus(status).phrase, "content": _problem_schema()}
        for status in statuses
    }
    if replay is not None:
        documented[200] = {"model": replay, "description": "A replay of the first response"}
    return documented
