"""GET /metrics: the Prometheus text exposition of this app's own registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

if TYPE_CHECKING:
    from carbon.api.observability import Metrics

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Job counts come from the database through the thread pool (never blocking the loop on a driver);
    the rest is rendered on the event loop."""
    registry: Metrics = request.app.state.metrics
    carbon = getattr(request.app.state, "carbon", None)  # absent in apps without the service's lifespan
    if carbon is not None:
        registry.set_jobs(await run_in_threadpool(carbon.jobs.jobs.count_by_state))
    body, content_type = registry.render()
    return Response(body, media_type=content_type)
