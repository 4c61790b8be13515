"""The ledger read side, reversals and totals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from carbon.api.auth import Admin, Reader
from carbon.api.problems import error_responses
from carbon.api.schemas import EntryOut, EntryPage, IsoDate, ResultUnit, TotalsOut
from carbon.api.state import AppState, app_state, utc_now
from carbon.core.model import Book
from carbon.services.ledger import entries_page, get_entry, reverse_entry, totals_view

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["ledger"])
State = Annotated[AppState, Depends(app_state)]
UnitQuery = Annotated[ResultUnit, Query(description="Unit of the amounts in the response.")]
EntryId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]


@router.get("/ledger/entries", response_model=EntryPage, responses=error_responses(422))
def list_entries(
    caller: Reader,
    state: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    starting_after: Annotated[
        str | None, Query(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")
    ] = None,
    unit: UnitQuery = "tCO2e",
) -> dict[str, Any]:
    """Entries in the order they were recorded; pass the last `entry_id` as `starting_after` for more."""
    return entries_page(state.ledger, caller.tenant, limit, starting_after, unit)


@router.get("/ledger/entries/{entry_id}", response_model=EntryOut, responses=error_responses(404, 422))
def read_entry(caller: Reader, entry_id: EntryId, state: State, unit: UnitQuery = "tCO2e") -> dict[str, Any]:
    """One entry with every line traceable to its factor."""
    return get_entry(state.ledger, caller.tenant, entry_id, unit)


@router.post(
    "/ledger/entries/{entry_id}/reversal",
    status_code=201,
    response_model=EntryOut,
    responses=error_responses(404, 409, 422, replay=EntryOut),
)
def reverse(
    caller: Admin, entry_id: EntryId, response: Response, state: State, unit: UnitQuery = "tCO2e"
) -> dict[str, Any]:
    """Append a reversal (idempotent: once per entry); its loans may then be counted again."""
    with state.in_flight.hold(caller.tenant, f"reversal:{entry_id}"):
        outcome = reverse_entry(state.ledger, caller.tenant, entry_id, utc_now(), unit, state.accounts)
    state.count(outcome.recorded)
    response.status_code = outcome.status
    return outcome.body


@router.get("/totals", response_model=TotalsOut, responses=error_responses(422))
def totals(
    caller: Reader,
    state: State,
    from_: Annotated[
        IsoDate | None, Query(alias="from", description="First activity day, inclusive.")
    ] = None,
    to: Annotated[IsoDate | None, Query(description="Last activity day, inclusive.")] = None,
    book: Annotated[Book | None, Query(description="Only this book.")] = None,
    unit: UnitQuery = "tCO2e",
) -> dict[str, Any]:
    """Exact totals per book over activity dates."""
    return totals_view(state.ledger, caller.tenant, from_, to, book, unit)
