"""Append-only ledger records: an entry and its lines, each line traceable to one factor.

A loan batch becomes one entry with a line per (factor, activity date); a correction is a reversal entry
whose lines negate the original's. Nothing here is ever updated or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from carbon.core.model import Book, Factor

__all__ = [
    "CountedLoans",
    "EntryKind",
    "EntryLine",
    "LedgerEntry",
    "LoanClaim",
    "LoanClaimColumns",
    "LoanStatus",
    "StoredResponse",
]


class EntryKind(StrEnum):
    """What an entry records."""

    LOAN_BATCH = "loan_batch"
    LOAN_FILE = "loan_file"
    ENERGY_SAVING = "energy_saving"
    REVERSAL = "reversal"
    INVENTORY_ACTIVITY = "inventory_activity"


@dataclass(frozen=True, slots=True)
class EntryLine:
    """One activity of an entry, computed with one factor (or none, for zero-emission activity)."""

    activity: str
    activity_date: date
    quantity: str
    unit: str
    mg: int
    factor_id: str | None = None
    factor_version: int | None = None
    factor_release: str | None = None
    region: str | None = None
    method: str | None = None


@dataclass(frozen=True, slots=True)
class LoanClaim:
    """A loan counted once per tenant; `claim` numbers re-counts after a reversal released it."""

    loan_id: str
    claim: int
    disbursed_on: date
    channel: str
    product: str | None
    region: str | None
    mg: int


@dataclass(frozen=True, slots=True)
class LoanClaimColumns:
    """Many loan claims as columns (file ingest): codes index into the name lists.

    `loan_ids` is an Arrow string array; the core carries it without reading it.
    """

    loan_ids: Any
    claims: npt.NDArray[np.int32]
    days: npt.NDArray[np.int32]
    online: npt.NDArray[np.bool_]
    regions: npt.NDArray[np.int32]
    region_names: list[str | None]
    products: npt.NDArray[np.int32]
    product_names: list[str | None]
    mg: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CountedLoans:
    """Online loans an entry has just counted, as columns, with the customer each belongs to: what the
    personal carbon accounts credit in the entry's transaction.

    `customers` holds the lender's references as sent (a list, or an Arrow string array; None for a loan
    without one): the ledger hands them on and never stores them. `factor_codes` index into `factors`.
    """

    customers: Any
    days: npt.NDArray[np.int32]
    mg: npt.NDArray[np.int64]
    factor_codes: npt.NDArray[np.int32]
    factors: tuple[Factor, ...]
    activity: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """An immutable ledger entry with its lines."""

    entry_id: str
    tenant: str
    kind: EntryKind
    book: Book
    client_reference: str
    created_at: datetime
    body_checksum: str
    lines: tuple[EntryLine, ...]
    factor_release: str | None = None
    reverses: str | None = None
    period_end: date | None = None

    @property
    def mg(self) -> int:
        """The entry's total: the integer sum of its lines."""
        return sum(line.mg for line in self.lines)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to an idempotent write, replayed for a retry with the same key and body."""

    request_checksum: str
    status_code: int
    body: str


@dataclass(frozen=True, slots=True)
class LoanStatus:
    """Which loans are counted already; `reclaims` gives the claim number of loans a reversal released
    (every other new loan gets claim 0)."""

    counted: frozenset[str]
    reclaims: dict[str, int]

    def next_claim(self, loan_id: str) -> int:
        """The claim number a loan not yet counted gets."""
        return self.reclaims.get(loan_id, 0)
