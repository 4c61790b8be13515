"""Account use cases: credit and debit with the ledger's entries, read a customer's account, erase it.

Typed commands in, typed results out. The raw customer reference is only ever an argument here: it is
turned into the tenant's pseudonym at once and is never stored, logged or returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from carbon.books.accounts.ports import AccountStore
from carbon.books.accounts.rules import (
    AccountBalance,
    CreditRow,
    Distribution,
    balance_of,
    credit_table,
    distribution,
    is_customer_ref,
    pseudonym,
)
from carbon.core.ledger import CountedLoans, LedgerEntry
from carbon.errors import RequestError

__all__ = ["AccountQuery", "Accounts", "EraseAccount", "Erasure"]


@dataclass(frozen=True, slots=True)
class AccountQuery:
    """Whose account to read (the lender's reference, from a request body)."""

    customer_ref: str


@dataclass(frozen=True, slots=True)
class EraseAccount:
    """Whose account to erase (the lender's reference, from a request body)."""

    customer_ref: str


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did: whether an account was found, and how many of its credit rows were severed."""

    erased: bool
    credits_severed: int
    erased_at: datetime


def _checked(customer_ref: str) -> str:
    if not is_customer_ref(customer_ref):
        raise RequestError("customer_ref must be 1 to 128 characters of plain text")
    return customer_ref


class Accounts:
    """The personal carbon accounts of every tenant, kept beside the ledger (a `Subledger` of it)."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store

    def loans_counted(self, tx: object, entry: LedgerEntry, loans: CountedLoans) -> None:
        """Credit each customer's account with exactly the milligrams the entry counted for their loans."""
        if not _has_customers(loans.customers):
            return
        accounts = self._store.within(tx)
        accounts.add_credits(entry.entry_id, credit_table(accounts.secret(), loans))

    def entry_reversed(self, tx: object, original: LedgerEntry, reversal: LedgerEntry) -> None:
        """Debit what the reversed entry credited."""
        self._store.within(tx).debit(original.entry_id, reversal.entry_id)

    def balance(self, tenant: str, query: AccountQuery) -> AccountBalance:
        """The customer's account in this tenant; empty when nothing was credited to it."""
        secret = self._store.secret(tenant)
        if secret is None:
            return balance_of([])
        rows = self._store.credits(tenant, pseudonym(secret, _checked(query.customer_ref)))
        return balance_of([CreditRow(m, a, f, int(v), r, int(n), int(mg)) for m, a, f, v, r, n, mg in rows])

    def distribution(self, tenant: str, bins: int = 10) -> Distribution:
        """How the tenant's balances are spread, naming no account (for the tenant's analysts)."""
        count, lowest, highest, total = self._store.balance_summary(tenant)
        return distribution(count, lowest, highest, total, self._store.balances(tenant), bins)

    def erase(self, tenant: str, command: EraseAccount, now: datetime) -> Erasure:
        """Sever the customer's pseudonym from their credits (idempotent); the ledger is not touched, so
        every total stays as it was. A later loan of the customer opens a new, empty account."""
        ref = _checked(command.customer_ref)
        if self._store.secret(tenant) is None:  # no account was ever credited in this tenant
            return Erasure(False, 0, now)
        with self._store.write(tenant) as tx:
            severed = tx.sever(pseudonym(tx.secret(), ref), now)
        return Erasure(severed > 0, severed, now)


def _has_customers(customers: object) -> bool:
    """Whether any loan names a customer (an Arrow array's nulls are counted, not read)."""
    if isinstance(customers, pa.Array | pa.ChunkedArray):
        return bool(customers.null_count < len(customers))
    assert isinstance(customers, list | tuple)
    return any(c is not None for c in customers)
