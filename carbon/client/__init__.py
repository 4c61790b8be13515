"""A Python client for the carbon-ledger service: `CarbonClient` (sync) and `AsyncCarbonClient` (asyncio).

Independent of the service's code (httpx and the standard library only). Every write carries an
Idempotency-Key (a new uuid4 per call unless given), reused on each retry; retries are bounded, with
exponential backoff and jitter; errors arrive as the `CarbonApiError` tree of `carbon.client.errors`.
"""

from carbon.client._client import AsyncCarbonClient, CarbonClient
from carbon.client._retry import RetryPolicy
from carbon.client.errors import (
    BadRequest,
    CarbonApiError,
    CarbonClientError,
    CarbonTransportError,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestInFlight,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    Upstream,
    ValidationFailed,
)
from carbon.client.types import to_decimal

__all__ = [
    "AsyncCarbonClient",
    "BadRequest",
    "CarbonApiError",
    "CarbonClient",
    "CarbonClientError",
    "CarbonTransportError",
    "Conflict",
    "Forbidden",
    "IdempotencyKeyReused",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestInFlight",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "Unprocessable",
    "Upstream",
    "ValidationFailed",
    "to_decimal",
]
