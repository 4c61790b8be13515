"""The CarbonError tree: every failure the library raises on purpose.

Our exception hierarchy::

    CarbonError
    ├── UnitError (ValueError)
    │   ├── UnknownUnitError              a unit the registry does not define
    │   │   └── UnitGrammarError          a unit outside the bounded grammar, refused before pint sees it
    │   └── DimensionError                a unit of the wrong dimension for its use
    ├── QuantityError (ValueError)        a negative, non-finite or malformed amount
    ├── FactorError
    │   ├── FactorNotFoundError (LookupError)
    │   ├── AmbiguousFactorError (LookupError)
    │   ├── ReleaseNotFoundError (LookupError)
    │   └── FactorDefinitionError (ValueError)  a factor row that contradicts itself
    ├── FactorValidationError             a release with problems, each with file and line
    ├── RequestError (ValueError)         a request that is well-formed but cannot be carried out
    │   └── PayloadTooLargeError          an upload over the configured size
    ├── NotFoundError (LookupError)       no such resource for this tenant
    ├── UpstreamError                     a configured provider (grid intensity) failed or sent bad data
    ├── AccessError
    │   ├── AuthenticationError           no API key, or one that is unknown, revoked or malformed
    │   └── PermissionDeniedError         a valid key without the role the operation needs
    ├── LimitError
    │   ├── RateLimitedError              a key over its request rate (retry after `retry_after` s)
    │   ├── QuotaExceededError            a tenant's unfinished jobs hold its job or upload quota
    │   ├── OverloadedError               the service at its concurrency limit (retry after `retry_after` s)
    │   ├── DatabaseBusyError             a lock or a database connection not free in time (retry soon)
    │   └── DatabaseUnavailableError      the database unreachable, or refusing writes (read-only)
    ├── InsufficientStorageError          too little free disk space to accept an upload
    └── IdempotencyError
        ├── IdempotencyKeyReusedError     the same key sent with another request
        └── RequestInFlightError          the same key while its first request still runs

Errors carry structured fields, so the HTTP edge and the CLI render them without parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AccessError",
    "AmbiguousFactorError",
    "AuthenticationError",
    "CarbonError",
    "DatabaseBusyError",
    "DatabaseUnavailableError",
    "DimensionError",
    "FactorDefinitionError",
    "FactorError",
    "FactorNotFoundError",
    "FactorValidationError",
    "IdempotencyError",
    "IdempotencyKeyReusedError",
    "InsufficientStorageError",
    "LimitError",
    "NotFoundError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Problem",
    "QuantityError",
    "QuotaExceededError",
    "RateLimitedError",
    "ReleaseNotFoundError",
    "RequestError",
    "RequestInFlightError",
    "UnitError",
    "UnitGrammarError",
    "UnknownUnitError",
    "UpstreamError",
]


class CarbonError(Exception):
    """Base of every error the project raises deliberately."""


class UnitError(CarbonError, ValueError):
    """A unit that cannot be used where it was given."""


class UnknownUnitError(UnitError):
    """The unit registry has no such unit."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        super().__init__(f"unknown unit {unit!r}")


class UnitGrammarError(UnknownUnitError):
    """A unit string outside the bounded grammar: refused before any arithmetic, naming the rule."""

    def __init__(self, unit: str, rule: str) -> None:
        super().__init__(unit)
        self.rule = rule
        self.args = (f"unit {unit!r} refused: {rule}",)


class DimensionError(UnitError):
    """A unit of the wrong dimension: kWh where loans were expected, say."""

    def __init__(self, unit: str, expected: str, received: str) -> None:
        self.unit = unit
        self.expected = expected
        self.received = received
        super().__init__(f"unit {unit!r} has dimension {received}, expected a quantity of {expected}")


class QuantityError(CarbonError, ValueError):
    """An amount that is negative, not finite or not a number."""


class FactorError(CarbonError):
    """A factor or release could not be used."""


class FactorNotFoundError(FactorError, LookupError):
    """No factor matches an id or a lookup key."""


class AmbiguousFactorError(FactorError, LookupError):
    """More than one factor matches a lookup key; the caller must narrow it."""

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        self.candidates = candidates
        super().__init__(f"{message}; candidates: {', '.join(candidates)}")


class ReleaseNotFoundError(FactorError, LookupError):
    """No factor release has that id."""


class FactorDefinitionError(FactorError, ValueError):
    """A factor whose fields contradict each other; `messages` lists every contradiction."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = tuple(messages)
        super().__init__("; ".join(messages))


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a factor release, located by file and line (0: the whole file)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class FactorValidationError(FactorError):
    """A factor release failed validation; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        first = str(problems[0]) if problems else "no problems"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}")


class RequestError(CarbonError, ValueError):
    """A well-formed request that cannot be carried out: a loan twice in one batch, say."""


class PayloadTooLargeError(RequestError):
    """An upload larger than the service accepts."""


class NotFoundError(CarbonError, LookupError):
    """No such resource for this tenant (another tenant's resource is not found either)."""


class UpstreamError(CarbonError):
    """A configured outside service (a grid-intensity provider) failed, timed out or sent malformed data.

    `attempts` counts the requests made before giving up.
    """

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        self.attempts = attempts
        super().__init__(message)


class AccessError(CarbonError):
    """A request the caller's credentials do not allow."""


class AuthenticationError(AccessError):
    """No usable API key: missing, malformed, unknown or revoked (which of these is never said)."""

    def __init__(self, message: str, *, token_sent: bool = False) -> None:
        self.token_sent = token_sent
        super().__init__(message)


class PermissionDeniedError(AccessError):
    """The key is valid but lacks the role the operation needs."""

    def __init__(self, message: str, *, role: str) -> None:
        self.role = role
        super().__init__(message)


class LimitError(CarbonError):
    """A request refused to protect the service; the same request succeeds later."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class RateLimitedError(LimitError):
    """The key has sent more requests than its rate allows."""


class QuotaExceededError(LimitError):
    """The tenant's queued and running jobs hold all the jobs or upload bytes it may hold at once."""


class OverloadedError(LimitError):
    """Every request slot is busy."""


class DatabaseBusyError(LimitError):
    """A write waited its bound for its lock (another write of the tenant, a job, another process), or a
    request for a database connection; nothing was recorded and the same request succeeds later."""


class DatabaseUnavailableError(LimitError):
    """The database cannot be reached, or refuses writes (a read-only file or server); nothing was
    recorded."""


class InsufficientStorageError(CarbonError):
    """The service's disk has too little free space to take an upload now."""


class IdempotencyError(CarbonError):
    """An Idempotency-Key that cannot be honoured as sent."""


class IdempotencyKeyReusedError(IdempotencyError):
    """The key was first used with a different request; its first response stands."""


class RequestInFlightError(IdempotencyError):
    """The key's first request is still running; retry after it finishes."""
