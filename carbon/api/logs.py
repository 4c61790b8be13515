"""Logs a machine can parse: JSON lines carrying the request id, and one access line per request."""

from __future__ import annotations

import inspect
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon.api.problems import problem

__all__ = [
    "JsonFormatter",
    "PlainFormatter",
    "RequestContext",
    "configure_logging",
    "current_request_id",
    "method_label",
    "route_template",
]

_request_id: ContextVar[str | None] = ContextVar("carbon_request_id", default=None)
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER = b"x-request-id"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_RECORD_KEYS = ("ts", "level", "logger", "message")
_access = logging.getLogger("carbon.access")
_log = logging.getLogger("carbon.api")


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any."""
    return _request_id.get()


def route_template(scope: Scope) -> str:
    """The matched route's template (bounded, unlike the raw path), or "unmatched"; read after the app ran."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def method_label(scope: Scope) -> str:
    """The request method, with unknown ones folded together so clients cannot invent label values."""
    method = str(scope.get("method", ""))
    return method if method in _METHODS else "OTHER"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request id in this context and the fields passed as `extra={"fields": {...}}`."""
    found: dict[str, Any] = {}
    request_id = current_request_id()
    if request_id is not None:
        found["request_id"] = request_id
    extra = getattr(record, "fields", None)
    if isinstance(extra, Mapping):
        found.update(extra)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, the extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in _fields(record).items() if k not in _RECORD_KEYS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """A line for people: the usual prefix, the message, then the fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        first, newline, rest = line.partition("\n")
        return first + " " + " ".join(f"{k}={v}" for k, v in fields.items()) + newline + rest


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record arrives (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(json_logs: bool, level: str = "INFO") -> None:
    """One root handler on stderr (replaced, never doubled, on a second call); uvicorn's errors go
    through it and its access log is silenced, since RequestContext writes the access line."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if json_logs else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers = [logging.NullHandler()]
    access.propagate = False
    # httpx logs each outgoing request's whole URL at INFO, and a provider's URL may carry its token
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _incoming_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The client's X-Request-ID when it is safe to echo and to log, else None."""
    for name, value in headers:
        if name.lower() == _HEADER:
            text = value.decode("latin-1")
            return text if _VALID_ID.fullmatch(text) else None
    return None


def _with_id(message: Message, request_id: str) -> Message:
    """The response start message with our X-Request-ID (replacing any the app set)."""
    headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER]
    headers.append((_HEADER, request_id.encode("ascii")))
    return {**message, "headers": headers}


class RequestContext:
    """Give each request an id (the client's if valid), echo it on every response, log one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope.get("headers") or ()) or uuid.uuid4().hex
        token = _request_id.set(request_id)
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = _with_id(message, request_id)
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if status is not None or getattr(scope.get("app"), "debug", False):
                raise
            await _answer_unexpected(scope, receive, send_with_id, error)
        finally:
            _log_access(scope, status or 500, time.perf_counter() - started, request_id)
            _request_id.reset(token)


async def _answer_unexpected(scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
    """Answer an exception no handler took with the app's own 500 handler, here inside the request context
    (Starlette would answer outside the user middleware, without X-Request-ID). The handler logs it; it is
    not raised further, so the server does not log it twice."""
    _note_on_span(error)
    handlers: Mapping[Any, Any] = getattr(scope.get("app"), "exception_handlers", {})
    handler = handlers.get(Exception) or handlers.get(500)
    response: Response
    if handler is None:
        _log.error("unexpected error on %s %s", scope.get("method"), scope.get("path"), exc_info=error)
        response = problem(500, "internal error", instance=scope.get("path"))
    elif inspect.iscoroutinefunction(handler):
        response = await handler(Request(scope, receive), error)
    else:
        response = await run_in_threadpool(handler, Request(scope, receive), error)
    await response(scope, receive, send)


def _note_on_span(error: Exception) -> None:
    """When OpenTelemetry is loaded, the request's span keeps the exception this middleware answered."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is not None:
        trace.get_current_span().record_exception(error)


def _log_access(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    """The access line: no headers, bodies or query string; the key prefix and tenant when auth set them."""
    fields: dict[str, Any] = {
        "method": method_label(scope),
        "route": route_template(scope),
        "path": scope.get("path"),
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "request_id": request_id,
    }
    state = scope.get("state")
    if isinstance(state, Mapping):
        fields.update(
            {key: str(state[key]) for key in ("key_prefix", "tenant") if state.get(key) is not None}
        )
    _access.info("%s %s %s", fields["method"], fields["path"], status, extra={"fields": fields})
