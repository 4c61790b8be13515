"""Probes outside /v1, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from carbon.api.problems import problem
from carbon.api.state import AppState, app_state

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: Annotated[AppState, Depends(app_state)]) -> Response:
    """The database answers."""
    try:
        state.ledger.ping()
    except Exception:  # any driver failure means not ready; the probe must answer, not crash
        return problem(503, "database unreachable", slug="not-ready")
    return JSONResponse({"status": "ready", "factor_release": state.registry.current.id})
