"""Personal carbon accounts, pure rules: the keyed pseudonym of a customer, and credits per account.

A customer is known only by a pseudonym: HMAC-SHA256 of the lender's reference under the tenant's own
secret, truncated to 128 bits (RFC 2104 keeps at least half the hash), as hex. The same reference in two
tenants gives unrelated pseudonyms. An entry credits each account once per (month, activity, factor) with
the exact milligrams the ledger counted for those loans, so the accounts sum to the book to the milligram.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carbon.core.ledger import CountedLoans
from carbon.core.text import is_plain_text

__all__ = [
    "CUSTOMER_REF_MAX_LENGTH",
    "CREDIT_COLUMNS",
    "AccountBalance",
    "Bin",
    "CreditRow",
    "Distribution",
    "FactorUsed",
    "MonthCredit",
    "balance_of",
    "distribution",
    "credit_table",
    "is_customer_ref",
    "pseudonym",
]

CUSTOMER_REF_MAX_LENGTH = 128
PSEUDONYM_BYTES = 16
CREDIT_COLUMNS = ("pseudonym", "month", "activity", "factor_id", "factor_version", "factor_release",
                  "loans", "mg")  # fmt: skip


def is_customer_ref(value: str) -> bool:
    """1 to 128 characters of plain text (no control characters): the lender's opaque customer id."""
    return is_plain_text(value, CUSTOMER_REF_MAX_LENGTH)


def pseudonym(secret: bytes, customer_ref: str) -> str:
    """The customer's pseudonym in the tenant whose secret this is; the reference cannot be read back."""
    return hmac.digest(secret, customer_ref.encode("utf-8"), "sha256")[:PSEUDONYM_BYTES].hex()


def _customer_codes(customers: object) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Each loan's customer as a code into the distinct references (-1: no customer)."""
    array = (
        customers if isinstance(customers, pa.Array | pa.ChunkedArray) else pa.array(customers, pa.string())
    )
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def credit_table(secret: bytes, loans: CountedLoans) -> pa.Table:
    """The credits of these loans as columns: one row per (pseudonym, month, factor), loans and milligrams
    summed as integers. Loans without a customer credit no account."""
    codes, refs = _customer_codes(loans.customers)
    keep = codes >= 0
    months = loans.days[keep].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    factor_codes = loans.factor_codes[keep].astype(np.int64)
    if not months.size:
        return pa.table({name: pa.array([], type_) for name, type_ in _TYPES.items()})
    first, n_factors = int(months.min()), max(len(loans.factors), 1)
    span = int(months.max()) - first + 1
    key = (codes[keep] * span + (months - first)) * n_factors + factor_codes
    groups, inverse = np.unique(key, return_inverse=True)
    mg = np.zeros(groups.size, dtype=np.int64)
    np.add.at(mg, inverse.reshape(-1), loans.mg[keep])
    counts = np.bincount(inverse.reshape(-1), minlength=groups.size).astype(np.int64)
    customer, rest = np.divmod(groups, span * n_factors)
    month, factor = np.divmod(rest, n_factors)
    present, which = np.unique(customer, return_inverse=True)
    names = pa.array([pseudonym(secret, refs[int(i)]) for i in present], pa.string())
    used = loans.factors
    factor_rows = pa.array(factor)
    return pa.table({
        "pseudonym": names.take(pa.array(which.reshape(-1))),
        "month": pa.array((month + first).astype("datetime64[M]").astype("datetime64[D]")).cast(pa.date32()),
        "activity": pa.array([loans.activity], pa.string()).take(pa.array(np.zeros(groups.size, np.int64))),
        "factor_id": pa.array([f.id for f in used], pa.string()).take(factor_rows),
        "factor_version": pa.array([f.version for f in used], pa.int32()).take(factor_rows),
        "factor_release": pa.array([f.release for f in used], pa.string()).take(factor_rows),
        "loans": pa.array(counts, pa.int64()),
        "mg": pa.array(mg, pa.int64()),
    })  # fmt: skip


_TYPES = {"pseudonym": pa.string(), "month": pa.date32(), "activity": pa.string(), "factor_id": pa.string(),
          "factor_version": pa.int32(), "factor_release": pa.string(), "loans": pa.int64(),
          "mg": pa.int64()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreditRow:
    """A stored credit (or a reversal's debit) of one account, as the store reads it back."""

    month: date
    activity: str
    factor_id: str
    factor_version: int
    factor_release: str
    loans: int
    mg: int


@dataclass(frozen=True, slots=True)
class FactorUsed:
    """A factor behind an account's figures."""

    id: str
    version: int
    release: str


@dataclass(frozen=True, slots=True)
class MonthCredit:
    """One month and activity of an account: loans, milligrams, the factors that priced them."""

    month: str
    activity: str
    loans: int
    mg: int
    factors: tuple[FactorUsed, ...]


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """A customer's account: the balance (exact milligrams), loans, and the figures by month and activity."""

    mg: int
    loans: int
    months: tuple[MonthCredit, ...]
    factor_releases: tuple[str, ...]


def balance_of(rows: list[CreditRow]) -> AccountBalance:
    """Sum an account's credits and debits as integers, by month and activity; empty when none."""
    grouped: dict[tuple[str, str], list[CreditRow]] = {}
    for row in rows:
        grouped.setdefault((row.month.strftime("%Y-%m"), row.activity), []).append(row)
    months = []
    for (month, activity), found in sorted(grouped.items()):
        if sum(r.loans for r in found) == 0 and sum(r.mg for r in found) == 0:
            continue  # credited, then reversed whole: nothing left to show
        factors = sorted({FactorUsed(r.factor_id, r.factor_version, r.factor_release) for r in found},
                         key=lambda f: (f.id, f.version, f.release))  # fmt: skip
        months.append(MonthCredit(month, activity, sum(r.loans for r in found), sum(r.mg for r in found),
                                  tuple(factors)))  # fmt: skip
    return AccountBalance(
        mg=sum(r.mg for r in rows),
        loans=sum(r.loans for r in rows),
        months=tuple(months),
        factor_releases=tuple(sorted({r.factor_release for r in rows})),
    )


PERCENTILES = (10, 25, 50, 75, 90, 99)


@dataclass(frozen=True, slots=True)
class Bin:
    """Accounts whose balance lies in [low, high] milligrams (the last bin includes its top)."""

    low: int
    high: int
    accounts: int


@dataclass(frozen=True, slots=True)
class Distribution:
    """How a tenant's account balances are spread, with no account named: count, total, nearest-rank
    percentiles and equal-width bins between the lowest and the highest balance."""

    accounts: int
    mg: int
    percentiles: tuple[tuple[int, int], ...]
    bins: tuple[Bin, ...]


def distribution(
    count: int, lowest: int, highest: int, total: int, ordered: Iterable[int], bins: int = 10
) -> Distribution:
    """One pass over the balances in ascending order (streamed: memory does not grow with the accounts).

    Percentile p is the balance of rank ceil(p/100 x count) (nearest rank). Bin edges are integer
    milligrams: low + i x width, width = ceil((highest - lowest + 1) / bins)."""
    if count == 0:
        return Distribution(0, 0, (), ())
    width = max(1, -(-(highest - lowest + 1) // bins))
    counts = [0] * bins
    ranks = {p: max(1, -(-p * count // 100)) for p in PERCENTILES}
    found: dict[int, int] = {}
    for rank, balance in enumerate(ordered, 1):
        counts[min((balance - lowest) // width, bins - 1)] += 1
        found.update((p, balance) for p, r in ranks.items() if r == rank)
    edges = [(lowest + i * width, min(lowest + (i + 1) * width - 1, highest)) for i in range(bins)]
    return Distribution(
        accounts=count,
        mg=total,
        percentiles=tuple((p, found[p]) for p in PERCENTILES),
        bins=tuple(Bin(low, high, n) for (low, high), n in zip(edges, counts, strict=True) if low <= highest),
    )
