"""The storage the use cases need, as protocols: the SQL adapter implements them, tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import IO, Protocol

from carbon.core.access import ApiKey
from carbon.core.inventory import ActivityLine, BookLine
from carbon.core.jobs import Job, JobState
from carbon.core.ledger import (
    CountedLoans,
    LedgerEntry,
    LoanClaim,
    LoanClaimColumns,
    LoanStatus,
    StoredResponse,
)
from carbon.core.model import Book

__all__ = [
    "Admit",
    "JobStore",
    "KeyStore",
    "LedgerReader",
    "LedgerStore",
    "LedgerWrite",
    "ReportReader",
    "Subledger",
]

Admit = Callable[[int, int], None]  # (a tenant's unfinished jobs, bytes their uploads hold): raises to refuse


class LedgerWrite(Protocol):
    """One write transaction of one tenant: all of it is committed, or none."""

    def stored_response(self, key: str) -> StoredResponse | None: ...

    def loan_status(self, loan_ids: Iterable[str]) -> LoanStatus: ...

    def append(self, entry: LedgerEntry, claims: Iterable[LoanClaim] = ()) -> None: ...

    def claim_loan_columns(self, entry_id: str, claims: LoanClaimColumns) -> None: ...

    def release_loans(self, original_entry_id: str, reversal_entry_id: str) -> None: ...

    def reversal_of(self, entry_id: str) -> LedgerEntry | None: ...

    def entry(self, entry_id: str) -> LedgerEntry | None: ...

    def remember(
        self,
        key: str,
        request_checksum: str,
        status_code: int,
        body: str,
        entry_id: str | None,
        now: datetime,
    ) -> None: ...

    def append_details(self, entry_id: str, details: str) -> None: ...

    def append_activity_lines(self, entry_id: str, lines: Sequence[ActivityLine]) -> None: ...


class Subledger(Protocol):
    """A book kept beside the ledger (the personal carbon accounts) that follows the loans an entry counts
    and the entries reversed, inside the ledger's own write transaction: both commit, or neither."""

    def loans_counted(self, tx: LedgerWrite, entry: LedgerEntry, loans: CountedLoans) -> None: ...

    def entry_reversed(self, tx: LedgerWrite, original: LedgerEntry, reversal: LedgerEntry) -> None: ...


class LedgerReader(Protocol):
    """Reads of one tenant's ledger."""

    def entry(self, tenant: str, entry_id: str) -> LedgerEntry | None: ...

    def entries(
        self, tenant: str, limit: int, starting_after: str | None
    ) -> tuple[list[LedgerEntry], bool]: ...

    def totals(self, tenant: str, start: date | None, end: date | None) -> dict[str, tuple[int, int]]: ...

    def loan_status(self, tenant: str, loan_ids: Iterable[str]) -> LoanStatus: ...

    def entry_details(self, tenant: str, entry_id: str) -> str | None: ...

    def online_loan_count(self, tenant: str, start: date, end: date) -> int: ...


class ReportReader(Protocol):
    """The reads a scope report needs."""

    def activity_lines(self, tenant: str, start: date, end: date) -> list[ActivityLine]: ...

    def book_lines(self, tenant: str, book: Book, start: date, end: date) -> list[BookLine]: ...

    def avoided_by_product(
        self, tenant: str, start: date, end: date
    ) -> list[tuple[str | None, int, int]]: ...


class LedgerStore(LedgerReader, Protocol):
    """A ledger that can open write transactions and report whether it is reachable."""

    def write(self, tenant: str) -> AbstractContextManager[LedgerWrite]: ...

    def ping(self) -> None: ...


class JobStore(Protocol):
    """Where jobs, their leases, uploads and reports are kept (every replica sees the same)."""

    def create(self, job: Job, upload: IO[bytes] | None = None, admit: Admit | None = None) -> Job: ...

    def get(self, tenant: str, job_id: str) -> Job | None: ...

    def by_key(self, tenant: str, key: str) -> Job | None: ...

    def usage(self, tenant: str) -> tuple[int, int]: ...

    def count_by_state(self) -> dict[str, int]: ...

    def claim_next(self, owner: str, lease_seconds: float) -> Job | None: ...

    def renew(
        self, job_id: str, owner: str, lease_seconds: float, *, rows_processed: int, rows_total: int | None
    ) -> bool: ...

    def settle(
        self,
        job_id: str,
        owner: str,
        state: JobState,
        *,
        rows_processed: int,
        result: str | None = None,
        error: str | None = None,
        report: IO[bytes] | None = None,
        within: object | None = None,
    ) -> bool: ...

    def read_upload(self, job_id: str, into: IO[bytes]) -> int: ...

    def report(self, tenant: str, job_id: str) -> Iterator[bytes] | None: ...

    def drop_reports(self, finished_before: datetime) -> int: ...


class KeyStore(Protocol):
    """API keys by prefix, with the keyed hash of each."""

    def add_key(self, key: ApiKey, key_hash: str) -> None: ...

    def find_key(self, prefix: str) -> tuple[ApiKey, str] | None: ...

    def list_keys(self, tenant: str | None) -> list[ApiKey]: ...

    def revoke_key(self, prefix: str, now: datetime) -> ApiKey | None: ...
