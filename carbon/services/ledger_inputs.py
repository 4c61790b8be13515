"""Plain inputs of the ledger use cases, independent of how they arrived (HTTP, CLI, files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from carbon.core.model import Method

__all__ = ["EnergySavingInput", "LoanBatchInput", "LoanInput", "WriteContext"]


@dataclass(frozen=True, slots=True)
class LoanInput:
    """One loan of a batch."""

    loan_id: str
    disbursed_on: date
    channel: str
    product: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class LoanBatchInput:
    """A lender's batch of loans."""

    batch_id: str
    loans: tuple[LoanInput, ...]
    factor_release: str | None = None


@dataclass(frozen=True, slots=True)
class EnergySavingInput:
    """Electricity saved over a period, with the factor to apply or the grid to look it up in."""

    saving_id: str
    value: str
    unit: str
    start: date
    end: date
    method: Method = Method.LOCATION
    region: str | None = None
    factor_id: str | None = None
    factor_release: str | None = None


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Who writes, under which idempotency key and request checksum, and when."""

    tenant: str
    idempotency_key: str
    request_checksum: str
    now: datetime
