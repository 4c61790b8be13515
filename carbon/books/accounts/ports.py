"""The storage the accounts need, as protocols: the SQL adapter implements them, tests may fake them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Protocol

import pyarrow as pa

__all__ = ["AccountStore", "AccountWrite", "StoredCredit"]

StoredCredit = tuple[
    date, str, str, int, str, Any, Any
]  # month, activity, factor id/version/release, loans, mg


class AccountWrite(Protocol):
    """The account writes of one tenant, inside a transaction that holds the tenant's write lock."""

    def secret(self) -> bytes:
        """The tenant's pseudonym secret, made on first use."""
        ...

    def add_credits(self, entry_id: str, credits: pa.Table) -> None:
        """Store an entry's credits (columns as `rules.credit_table` makes them)."""
        ...

    def debit(self, original_entry_id: str, reversal_entry_id: str) -> None:
        """Negate what an entry credited, wherever its credits are now (an erased account's included)."""
        ...

    def sever(self, pseudonym: str, now: datetime) -> int:
        """Detach an account's credits from its pseudonym and record the erasure; how many were moved."""
        ...


class AccountStore(Protocol):
    """Accounts of every tenant: reads, and write transactions of their own (erasure)."""

    def write(self, tenant: str) -> AbstractContextManager[AccountWrite]: ...

    def within(self, ledger_write: object) -> AccountWrite:
        """The account writes of a ledger write transaction, so both commit together."""
        ...

    def secret(self, tenant: str) -> bytes | None:
        """The tenant's secret, or None when no account was ever credited for it."""
        ...

    def balance_summary(self, tenant: str) -> tuple[int, int, int, int]:
        """Over the tenant's accounts (erased credits aside, accounts left at zero too): how many, the
        lowest and highest balance, the total, in milligrams."""
        ...

    def balances(self, tenant: str) -> Iterator[int]:
        """Every account's balance in ascending order, streamed."""
        ...

    def credits(self, tenant: str, pseudonym: str) -> list[StoredCredit]:
        """An account's credits and debits summed per (month, activity, factor)."""
        ...
