"""POST /v1/carbon-accounts/query and /erase: the customer reference travels in the body, never the URL.

The API builds the router with its own dependencies (who calls, with which role, and the accounts), so
this book imports nothing of the web layer beyond FastAPI itself.
"""

# No `from __future__ import annotations`: the routes' annotations name the dependencies given to
# `account_routes`, which FastAPI must see as objects, not strings.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from carbon.books.accounts.use_cases import AccountQuery, Accounts, EraseAccount
from carbon.books.accounts.wire import (
    AccountDistributionOut,
    AccountEraseRequest,
    AccountErasureOut,
    AccountOut,
    AccountQueryRequest,
    AccountUnit,
    account_view,
    distribution_view,
    erasure_view,
)

__all__ = ["account_routes"]


def account_routes(
    *,
    reader: Callable[..., Any],
    admin: Callable[..., Any],
    accounts: Callable[..., Accounts],
    clock: Callable[[], datetime],
    responses: Callable[..., dict[int | str, dict[str, Any]]],
) -> APIRouter:
    """The account routes; `reader` and `admin` are dependencies giving a caller with a `tenant`."""
    router = APIRouter(prefix="/v1/carbon-accounts", tags=["carbon accounts"])
    book = Annotated[Accounts, Depends(accounts)]

    @router.post(
        "/query",
        response_model=AccountOut,
        responses=responses(400, 413, 422),
        summary="A customer's personal carbon account: balance, loans, by month and activity",
    )
    def query_account(
        caller: Annotated[Any, Depends(reader)],
        body: AccountQueryRequest,
        accounts: book,
        unit: Annotated[AccountUnit, Query(description="Unit of the amounts.")] = "gCO2e",
    ) -> dict[str, Any]:
        """Each counted online loan of the customer is credited with exactly the milligrams the ledger
        counted for it; a reversal debits it. A customer nothing was credited to has an empty account."""
        return account_view(accounts.balance(caller.tenant, AccountQuery(body.customer_ref)), unit)

    @router.get(
        "/distribution",
        response_model=AccountDistributionOut,
        responses=responses(422),
        summary="How the tenant's account balances are spread: percentiles and bins, no account named",
    )
    def account_distribution(
        caller: Annotated[Any, Depends(reader)],
        accounts: book,
        bins: Annotated[int, Query(ge=1, le=100, description="Equal-width bins.")] = 10,
        unit: Annotated[AccountUnit, Query(description="Unit of the amounts.")] = "gCO2e",
    ) -> dict[str, Any]:
        """Accounts with a balance (erased credits aside), their total, the balance at the 10th, 25th,
        50th, 75th, 90th and 99th percentile (nearest rank), and equal-width bins of integer milligrams
        from the lowest balance to the highest."""
        return distribution_view(accounts.distribution(caller.tenant, bins), unit)

    @router.post(
        "/erase",
        response_model=AccountErasureOut,
        responses=responses(400, 413, 422),
        summary="Erase a customer's account: the pseudonym is severed, the ledger's totals stay",
    )
    def erase_account(
        caller: Annotated[Any, Depends(admin)], body: AccountEraseRequest, accounts: book
    ) -> dict[str, Any]:
        """Idempotent (no Idempotency-Key: erasing again changes nothing). The account's credits keep their
        milligrams without a customer, so every total and report stays the same; a later loan of the
        customer opens a new account. The erasure is recorded without the reference."""
        return erasure_view(accounts.erase(caller.tenant, EraseAccount(body.customer_ref), clock()))

    return router
