"""Plain inputs of the ledger use cases, independent of how they arrived (HTTP, CLI, files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

__all__ = ["LoanBatchInput", "LoanInput", "WriteContext"]


@dataclass(frozen=True, slots=True)
class LoanInput:
    """One loan of a batch."""

    loan_id: str
    disbursed_on: date
    channel: str
    product: str | None = None
    region: str | None = None
    customer_ref: str | None = None  # the lender's customer: handed to the accounts, never stored


@dataclass(frozen=True, slots=True)
class LoanBatchInput:
    """A lender's batch of loans."""

    batch_id: str
    loans: tuple[LoanInput, ...]
    factor_release: str | None = None


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Who writes, under which idempotency key and request checksum, and when."""

    tenant: str
    idempotency_key: str
    request_checksum: str
    now: datetime
