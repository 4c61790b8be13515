"""Probes outside /v1, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from carbon.api.problems import problem
from carbon.api.state import AppState, app_state

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_PROBE_SECONDS = 5.0  # a check that has not answered by then is an answer too: not ready
_RETRY_SECONDS = "5"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: Annotated[AppState, Depends(app_state)]) -> Response:
    """Ready means this process can write: disk space, a writable database, a connection of the probe's own.
    The check runs on the probe's own threads, never in the request threads a busy service fills up."""
    loop = asyncio.get_running_loop()
    try:
        why = await asyncio.wait_for(loop.run_in_executor(state.probe_threads, state.readiness.problem),
                                     _PROBE_SECONDS)  # fmt: skip
    except TimeoutError:
        why = f"the readiness check took over {_PROBE_SECONDS:g} s"
    except Exception:  # any driver failure means not ready; the probe must answer, not crash
        why = "database unreachable"
    if why is not None:
        return problem(503, why, slug="not-ready", headers={"Retry-After": _RETRY_SECONDS})
    return JSONResponse({"status": "ready", "factor_release": state.registry.current.id})
