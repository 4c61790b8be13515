"""GET /metrics: the Prometheus text exposition of this app's own registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

if TYPE_CHECKING:
    from carbon.api.observability import Metrics

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Rendered on the event loop, not the thread pool: scrapes still answer when the pool is saturated."""
    registry: Metrics = request.app.state.metrics
    body, content_type = registry.render()
    return Response(body, media_type=content_type)
