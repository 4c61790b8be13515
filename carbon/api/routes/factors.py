"""Factor releases and factors, read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from carbon.api.auth import Reader
from carbon.api.problems import error_responses
from carbon.api.schemas import FactorOut, IsoDate, ReleaseOut
from carbon.api.state import AppState, app_state
from carbon.errors import FactorNotFoundError, NotFoundError, ReleaseNotFoundError
from carbon.services.views import factor_view, release_view

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["factors"])
State = Annotated[AppState, Depends(app_state)]
ReleaseQuery = Annotated[str | None, Query(min_length=1, max_length=64, description="Pin a release.")]
Name = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


@router.get("/factor-releases", response_model=list[ReleaseOut])
def list_releases(_caller: Reader, state: State) -> list[dict[str, Any]]:
    """Every release, newest first; `current` marks the one used when none is pinned."""
    current = state.registry.current.id
    return [release_view(r, r.id == current) for r in state.registry.releases()]


@router.get("/factor-releases/{release}", response_model=ReleaseOut, responses=error_responses(404, 422))
def read_release(_caller: Reader, release: Name, state: State) -> dict[str, Any]:
    """One release with its checksums."""
    try:
        found = state.registry.release(release)
    except ReleaseNotFoundError as error:
        raise NotFoundError(str(error)) from None
    return release_view(found, found.id == state.registry.current.id)


@router.get("/factors", response_model=list[FactorOut], responses=error_responses(422))
def list_factors(
    _caller: Reader,
    state: State,
    activity: Annotated[str | None, Query(max_length=128)] = None,
    region: Annotated[str | None, Query(max_length=32)] = None,
    on: Annotated[IsoDate | None, Query(description="Only factors valid on this day.")] = None,
    release: ReleaseQuery = None,
) -> list[dict[str, Any]]:
    """Factors of a release, filtered."""
    return [factor_view(f) for f in state.registry.factors(release, activity=activity, region=region, on=on)]


@router.get("/factors/{factor_id}", response_model=FactorOut, responses=error_responses(404, 422))
def read_factor(
    _caller: Reader, factor_id: Name, state: State, release: ReleaseQuery = None
) -> dict[str, Any]:
    """One factor with its full provenance."""
    try:
        return factor_view(state.registry.factor(factor_id, release))
    except FactorNotFoundError as error:
        raise NotFoundError(str(error)) from None
