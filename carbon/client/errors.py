"""problem+json (RFC 9457) answers turned into a typed exception tree.

`CarbonClientError` is the root of everything the client raises: `CarbonTransportError` when the service
could not be reached (after the retries), `CarbonApiError` and its subclasses when it answered with an
error. The class is chosen by the problem's `type` URN first, then by the HTTP status.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "BadRequest",
    "CarbonApiError",
    "CarbonClientError",
    "CarbonTransportError",
    "Conflict",
    "Forbidden",
    "IdempotencyKeyReused",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestInFlight",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "Unprocessable",
    "Upstream",
    "ValidationFailed",
    "error_from_response",
    "retry_after_seconds",
]

URN = "urn:problem:carbon:"
_STANDARD = frozenset({"type", "title", "status", "detail", "instance"})


class CarbonClientError(Exception):
    """Anything the carbon client raises."""


class CarbonTransportError(CarbonClientError):
    """The service could not be reached, or the connection dropped, on every attempt."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class CarbonApiError(CarbonClientError):
    """The service answered with an error; the fields are those of its problem+json body."""

    def __init__(
        self,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        instance: str | None = None,
        extras: dict[str, Any] | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.instance = instance
        self.extras: dict[str, Any] = dict(extras or {})
        self.retry_after = retry_after
        self.attempts = attempts

    @property
    def slug(self) -> str | None:
        """The last part of a `urn:problem:carbon:` type (`not-found`), else None."""
        return self.type.removeprefix(URN) if self.type.startswith(URN) else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, type={self.type!r}, detail={self.detail!r})"


class BadRequest(CarbonApiError):
    """400: the request could not be read (malformed JSON, say)."""


class Unauthorized(CarbonApiError):
    """401: no valid API key."""


class Forbidden(CarbonApiError):
    """403: the key may not do this."""


class NotFound(CarbonApiError):
    """404: no such entry, job, factor or release (for this tenant)."""


class Conflict(CarbonApiError):
    """409."""


class RequestInFlight(Conflict):
    """409 `request-in-flight`: the first request with this Idempotency-Key is still running; retry."""


class PayloadTooLarge(CarbonApiError):
    """413 `body-too-large`."""


class Unprocessable(CarbonApiError):
    """422: the service understood the request and refuses it (unknown unit, no factor, ...)."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Per-field errors (`loc`, `msg`, `type`) when the service gave them."""
        found = self.extras.get("errors")
        return list(found) if isinstance(found, list) else []


class ValidationFailed(Unprocessable):
    """422 `validation`: the body, query or headers do not match the schema; see `errors`."""


class IdempotencyKeyReused(Unprocessable):
    """422 `idempotency-key-reused`: this key was first used with another request."""


class RateLimited(CarbonApiError):
    """429: too many requests; `retry_after` says when to try again."""


class ServerError(CarbonApiError):
    """5xx."""


class Upstream(ServerError):
    """502 `upstream`: a provider the service depends on failed."""


class ServiceUnavailable(ServerError):
    """503 (`not-ready` from /readyz)."""


_BY_TYPE: dict[str, type[CarbonApiError]] = {
    URN + "not-found": NotFound,
    URN + "request-in-flight": RequestInFlight,
    URN + "idempotency-key-reused": IdempotencyKeyReused,
    URN + "validation": ValidationFailed,
    URN + "body-too-large": PayloadTooLarge,
    URN + "upstream": Upstream,
    URN + "not-ready": ServiceUnavailable,
}
_BY_STATUS: dict[int, type[CarbonApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
    502: Upstream,
    503: ServiceUnavailable,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), None if absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date_header = response.headers.get("date")
    try:
        now = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        now = None
    if now is None:
        now = datetime.now(UTC)
    return max(0.0, (moment - now).total_seconds())


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_class(status: int, type_: str) -> type[CarbonApiError]:
    if type_ in _BY_TYPE:
        return _BY_TYPE[type_]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else CarbonApiError


def error_from_response(response: httpx.Response, *, attempts: int = 1) -> CarbonApiError:
    """The typed exception for an error response (problem+json, or any other body)."""
    body = _problem_body(response)
    status = response.status_code
    type_ = body.get("type") if isinstance(body.get("type"), str) else "about:blank"
    assert isinstance(type_, str)
    title = str(body.get("title") or response.reason_phrase or f"HTTP {status}")
    detail = body.get("detail")
    if not isinstance(detail, str):
        detail = response.text[:500].strip() if not body else title
    instance = body.get("instance") if isinstance(body.get("instance"), str) else None
    extras = {k: v for k, v in body.items() if k not in _STANDARD}
    cls = _error_class(status, type_)
    return cls(
        status=status, type=type_, title=title, detail=detail or title, instance=instance, extras=extras,
        retry_after=retry_after_seconds(response), attempts=attempts,
    )  # fmt: skip
