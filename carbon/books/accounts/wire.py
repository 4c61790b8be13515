"""Wire models of the accounts: strict requests carrying the customer reference in the body only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from carbon.books.accounts.rules import CUSTOMER_REF_MAX_LENGTH, AccountBalance, Distribution
from carbon.books.accounts.use_cases import Erasure
from carbon.core.calculate import format_amount
from carbon.core.text import PLAIN_TEXT_PATTERN

__all__ = [
    "AccountDistributionOut",
    "AccountErasureOut",
    "AccountEraseRequest",
    "AccountOut",
    "AccountQueryRequest",
    "AccountUnit",
    "CustomerRef",
    "account_view",
    "distribution_view",
    "erasure_view",
]

AccountUnit = Literal["mgCO2e", "gCO2e", "kgCO2e", "tCO2e"]
CustomerRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=CUSTOMER_REF_MAX_LENGTH, pattern=PLAIN_TEXT_PATTERN),
    Field(description="The lender's own id of the customer. It is stored only as a keyed pseudonym, and is "
                      "never logged, returned or put in a URL."),
]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AccountQueryRequest(_Strict):
    """Whose account to read."""

    customer_ref: CustomerRef


class AccountEraseRequest(_Strict):
    """Whose account to erase."""

    customer_ref: CustomerRef


class AccountAmount(BaseModel):
    """An exact amount: a decimal string with its unit, never a float."""

    value: str = Field(examples=["34.8"])
    unit: str = Field(examples=["gCO2e"])


class AccountFactor(BaseModel):
    """A factor behind an account's figures."""

    id: str
    version: int
    release: str


class AccountMonth(BaseModel):
    """What one month of one activity credited to the account."""

    month: str = Field(examples=["2021-06"])
    activity: str = Field(examples=["online_loan"])
    loans: int
    avoided: AccountAmount
    factors: list[AccountFactor]


class AccountOut(BaseModel):
    """A customer's personal carbon account: exact balance, loans, and the figures by month and activity."""

    balance: AccountAmount
    loans: int
    months: list[AccountMonth]
    factor_releases: list[str]


class AccountPercentile(BaseModel):
    """The balance at a percentile (nearest rank)."""

    percentile: int
    balance: AccountAmount


class AccountBin(BaseModel):
    """Accounts whose balance lies between two amounts (both included)."""

    low: AccountAmount
    high: AccountAmount
    accounts: int


class AccountDistributionOut(BaseModel):
    """How the tenant's account balances are spread; no account is named."""

    accounts: int
    total: AccountAmount
    percentiles: list[AccountPercentile]
    bins: list[AccountBin]


class AccountErasureOut(BaseModel):
    """What an erasure did; asking again is harmless (`erased` is then false)."""

    erased: bool
    credits_severed: int
    erased_at: datetime


def _amount(mg: int, unit: str) -> dict[str, str]:
    return {"value": format_amount(mg, unit), "unit": unit}


def account_view(balance: AccountBalance, unit: str) -> dict[str, Any]:
    """An account as the API returns it (no reference, no pseudonym)."""
    return {
        "balance": _amount(balance.mg, unit),
        "loans": balance.loans,
        "months": [
            {
                "month": m.month,
                "activity": m.activity,
                "loans": m.loans,
                "avoided": _amount(m.mg, unit),
                "factors": [{"id": f.id, "version": f.version, "release": f.release} for f in m.factors],
            }
            for m in balance.months
        ],  # fmt: skip
        "factor_releases": list(balance.factor_releases),
    }


def distribution_view(found: Distribution, unit: str) -> dict[str, Any]:
    """The distribution as the API returns it."""
    return {
        "accounts": found.accounts,
        "total": _amount(found.mg, unit),
        "percentiles": [{"percentile": p, "balance": _amount(mg, unit)} for p, mg in found.percentiles],
        "bins": [{"low": _amount(b.low, unit), "high": _amount(b.high, unit), "accounts": b.accounts}
                 for b in found.bins],
    }  # fmt: skip


def erasure_view(erasure: Erasure) -> dict[str, Any]:
    """An erasure's outcome (no reference, no pseudonym)."""
    return {
        "erased": erasure.erased,
        "credits_severed": erasure.credits_severed,
        "erased_at": erasure.erased_at.isoformat(),
    }
