"""GET /metrics: the Prometheus text exposition of this app's own registry, from in-memory counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from carbon.core.access import Role
from carbon.errors import AuthenticationError
from carbon.services.keys import authenticate, require_role

if TYPE_CHECKING:
    from carbon.api.observability import Metrics
    from carbon.api.state import AppState

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The counters as they stand; with CARBON_METRICS_REQUIRE_KEY, only for a key with the metrics role."""
    registry: Metrics = request.app.state.metrics
    carbon: AppState | None = getattr(request.app.state, "carbon", None)  # absent without the lifespan
    if carbon is not None and carbon.settings.metrics_require_key:
        await run_in_threadpool(_check_scraper, carbon, request)
    body, content_type = registry.render()
    return Response(body, media_type=content_type)


def _check_scraper(state: AppState, request: Request) -> None:
    """401 without a valid key (failures draw on the address's bucket), 403 without the metrics role."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        key = authenticate(
            state.keys, state.key_secret, token.strip() if scheme.lower() == "bearer" else None
        )
    except AuthenticationError:
        state.failures.check(request.client.host if request.client else "unknown")
        raise
    require_role(key, Role.METRICS)
