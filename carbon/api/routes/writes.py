"""POST /v1/loan-batches and /v1/energy-savings: idempotent writes to the ledger, and previews."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from carbon.api.auth import Reader, Submitter
from carbon.api.problems import error_responses
from carbon.api.routes.green import fleet_input
from carbon.api.schemas import (
    CalculationRequest,
    EnergySavingRequest,
    EnergySavingResult,
    LoanBatchCalculation,
    LoanBatchRequest,
    LoanBatchResult,
    ResultUnit,
    ScenarioIn,
)
from carbon.api.state import AppState, app_state, idempotent_write, request_checksum
from carbon.core.model import Method
from carbon.services.energy_claims import EnergyClaimInput, QuantityInput, ScenarioInput
from carbon.services.ledger import (
    preview_energy_saving,
    preview_loan_batch,
    record_energy_saving,
    record_loan_batch,
)
from carbon.services.ledger_inputs import LoanBatchInput, LoanInput

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["writes"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A new key per logical write, reused for its retries.",
    ),
]
UnitQuery = Annotated[ResultUnit, Query(description="Unit of the amounts in the response.")]
State = Annotated[AppState, Depends(app_state)]
Checksum = Annotated[str, Depends(request_checksum)]


def _loan_batch(body: LoanBatchRequest) -> LoanBatchInput:
    loans = tuple(LoanInput(x.loan_id, x.disbursed_on, x.channel, x.product, x.region, x.customer_ref)
                  for x in body.loans)  # fmt: skip
    return LoanBatchInput(body.batch_id, loans, body.factor_release)


def _scenario(scenario: ScenarioIn | None) -> ScenarioInput | None:
    if scenario is None:
        return None
    return ScenarioInput(
        energy=QuantityInput(scenario.energy.value, scenario.energy.unit) if scenario.energy else None,
        fleet=fleet_input(scenario.fleet) if scenario.fleet else None,
        work=QuantityInput(scenario.work.value, scenario.work.unit) if scenario.work else None,
    )


def _energy_saving(body: EnergySavingRequest) -> EnergyClaimInput:
    """A measured saving (energy_saved) or a scenario claim (baseline, actual, boundary)."""
    saved = body.energy_saved
    return EnergyClaimInput(
        saving_id=body.saving_id,
        start=body.period.start,
        end=body.period.end,
        method=Method(body.method),
        region=body.region,
        factor_id=body.factor_id,
        factor_release=body.factor_release,
        energy_saved=QuantityInput(saved.value, saved.unit) if saved is not None else None,
        baseline=_scenario(body.baseline),
        actual=_scenario(body.actual),
        boundary=body.boundary,
    )


@router.post(
    "/loan-batches",
    status_code=201,
    response_model=LoanBatchResult,
    responses=error_responses(400, 409, 413, 422, replay=LoanBatchResult),
    summary="Record a batch of loans and the emissions their online loans avoided",
)
def post_loan_batch(
    caller: Submitter,
    body: LoanBatchRequest,
    response: Response,
    state: State,
    checksum: Checksum,
    key: IdempotencyKey,
    unit: UnitQuery = "tCO2e",
) -> dict[str, Any]:
    """Each loan id counts once per tenant: loans counted before come back in `duplicates`."""
    return idempotent_write(state, caller.tenant, key, checksum, response, lambda ctx: record_loan_batch(
        state.ledger, state.registry, ctx, _loan_batch(body), max_loans=state.settings.max_loans_per_batch,
        default_region=state.settings.default_loan_region, unit=unit, subledger=state.accounts,
    ))  # fmt: skip


@router.post(
    "/energy-savings",
    status_code=201,
    response_model=EnergySavingResult,
    responses=error_responses(400, 409, 413, 422, replay=EnergySavingResult),
    summary="Record electricity saved (measured, or a baseline and an actual scenario) and what it avoided",
)
def post_energy_saving(
    caller: Submitter,
    body: EnergySavingRequest,
    response: Response,
    state: State,
    checksum: Checksum,
    key: IdempotencyKey,
    unit: UnitQuery = "tCO2e",
) -> dict[str, Any]:
    """Avoided emissions are kept in the avoided book, beside the inventory, never netted with it.

    Give `energy_saved`, or a `baseline` and an `actual` scenario (metered energy or a fleet, with the
    `work` each did to compare like work) and the `boundary`: exactly one of the two (422 otherwise). The
    result's `claim` shows both scenarios and the location- and market-based figures, each with its factor.
    """
    return idempotent_write(state, caller.tenant, key, checksum, response, lambda ctx: record_energy_saving(
        state.ledger, state.registry, ctx, _energy_saving(body), unit=unit
    ))  # fmt: skip


@router.post(
    "/calculations",
    response_model=LoanBatchResult | EnergySavingResult,
    responses=error_responses(400, 413, 422),
    summary="Preview a loan batch or an energy saving; nothing is recorded",
)
def post_calculation(
    caller: Reader, body: CalculationRequest, state: State, unit: UnitQuery = "tCO2e"
) -> dict[str, Any]:
    """Duplicates are those the ledger holds now; `entry_id` is null."""
    calculation = body
    if isinstance(calculation, LoanBatchCalculation):
        return preview_loan_batch(state.ledger, state.registry, caller.tenant, _loan_batch(calculation),
                                  max_loans=state.settings.max_loans_per_batch,
                                  default_region=state.settings.default_loan_region, unit=unit)  # fmt: skip
    return preview_energy_saving(state.registry, _energy_saving(calculation), unit=unit)
