"""POST /v1/loan-intensity and /v1/carbon-aware-windows: green-computing calculations; nothing is recorded."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from carbon.adapters.grid_intensity import GridIntensityProvider, parse_series_csv
from carbon.api.auth import Reader
from carbon.api.problems import error_responses
from carbon.api.schemas import (
    CapacityIn,
    FleetIn,
    LoanIntensityRequest,
    LoanIntensityResult,
    Quantity,
    ResultUnit,
    WindowsRequest,
    WindowsResult,
)
from carbon.api.state import AppState, app_state, utc_now
from carbon.core.model import Method
from carbon.core.units import exact_amount
from carbon.core.windows import IntensitySeries, intensity_series
from carbon.errors import RequestError
from carbon.services.energy_claims import CapacityInput, FleetInput, QuantityInput
from carbon.services.green import LoanIntensityInput, WindowsInput, loan_intensity, windows_view

__all__ = ["fleet_input", "router"]

router = APIRouter(prefix="/v1", tags=["green computing"])
State = Annotated[AppState, Depends(app_state)]
_provider_lock = threading.Lock()


def _quantity(q: Quantity | None) -> QuantityInput | None:
    return None if q is None else QuantityInput(q.value, q.unit)


def _capacity(term: CapacityIn) -> CapacityInput:
    capacity = _quantity(term.capacity)
    assert capacity is not None
    return CapacityInput(capacity, _quantity(term.coefficient), term.coefficient_factor_id)


def fleet_input(fleet: FleetIn) -> FleetInput:
    """A fleet from the wire to the use cases."""
    return FleetInput(
        utilisation=fleet.utilisation, servers=fleet.servers, vcpus=fleet.vcpus,
        min_power=_quantity(fleet.min_power), max_power=_quantity(fleet.max_power),
        min_power_factor_id=fleet.min_power_factor_id, max_power_factor_id=fleet.max_power_factor_id,
        duration=_quantity(fleet.duration), pue=fleet.pue, pue_factor_id=fleet.pue_factor_id,
        memory=_capacity(fleet.memory) if fleet.memory is not None else None,
        storage=tuple(_capacity(term) for term in fleet.storage),
    )  # fmt: skip


@router.post(
    "/loan-intensity",
    response_model=LoanIntensityResult,
    responses=error_responses(400, 413, 422),
    summary="Carbon intensity per loan of the lending platform, and the net avoided per online loan",
)
def post_loan_intensity(
    caller: Reader,
    body: LoanIntensityRequest,
    state: State,
    unit: Annotated[ResultUnit, Query(description="Unit of the total amounts.")] = "tCO2e",
) -> dict[str, Any]:
    """Server energy (metered or a fleet) x the grid factor, per loan processed (given, or the online
    loans the ledger counts in the period); net avoided = the branch baseline per loan minus that."""
    components = body.component_factors
    region = body.region or state.settings.default_loan_region
    request = LoanIntensityInput(
        start=body.period.start, end=body.period.end, region=region,
        energy=_quantity(body.energy), fleet=fleet_input(body.fleet) if body.fleet is not None else None,
        loans=body.loans, factor_id=body.factor_id, method=Method(body.method),
        factor_release=body.factor_release, baseline=body.baseline,
        paper_factor_id=components.paper_factor_id if components else None,
        travel_factor_ids={t.mode: t.factor_id for t in components.travel} if components else None,
    )  # fmt: skip
    return loan_intensity(state.registry, state.ledger, caller.tenant, request, unit)


def grid_provider(request: Request, state: State) -> GridIntensityProvider | None:
    """The configured provider, made once per app (None when CARBON_GRID_INTENSITY_URL is unset)."""
    settings = state.settings
    if settings.grid_intensity_url is None:
        return None
    with _provider_lock:
        provider: GridIntensityProvider | None = getattr(request.app.state, "grid_intensity", None)
        if provider is None:
            provider = GridIntensityProvider(
                settings.grid_intensity_url, timeout=settings.grid_intensity_timeout,
                retries=settings.grid_intensity_retries, backoff=settings.grid_intensity_backoff,
                cache_seconds=settings.grid_intensity_cache_seconds,
            )  # fmt: skip
            request.app.state.grid_intensity = provider
    return provider


def _uploaded(body: WindowsRequest) -> IntensitySeries | None:
    if body.series is not None and body.series_csv is not None:
        raise RequestError("give the series as JSON (series) or as CSV (series_csv), not both")
    if body.series is not None:
        points = [(p.start, exact_amount(p.intensity)) for p in body.series.points]
        return intensity_series(points, body.series.unit, body.series.region or body.region)
    if body.series_csv is not None:
        return parse_series_csv(body.series_csv, body.region)
    return None


@router.post(
    "/carbon-aware-windows",
    response_model=WindowsResult,
    responses=error_responses(400, 413, 422, 502),
    summary="The lowest-emission start times for a job before its deadline",
)
def post_carbon_aware_windows(
    _caller: Reader,
    body: WindowsRequest,
    provider: Annotated[GridIntensityProvider | None, Depends(grid_provider)],
    unit: Annotated[ResultUnit, Query(description="Unit of the emissions.")] = "gCO2e",
) -> dict[str, Any]:
    """From an uploaded series (JSON points or CSV), or fetched for `region` from the configured provider
    (502 when it fails); 422 for malformed series, no window before the deadline, or no provider."""
    request = WindowsInput(
        profile=tuple(body.profile.steps), profile_unit=body.profile.unit, deadline=body.deadline,
        now=body.now or utc_now(), top=body.top, series=_uploaded(body), region=body.region,
    )  # fmt: skip
    return windows_view(request, provider.fetch if provider is not None else None, unit)
