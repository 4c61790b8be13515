"""Record a whole loan file as one ledger entry: all of it, or nothing.

Two passes inside one write transaction: the first validates, finds loans already in the ledger or
earlier in the file, and prices the groups; then the entry and its lines are appended, and the second
pass counts the loans for it, chunk by chunk. The key, the entry and every claim commit together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carbon.core.columnar import LoanChunk, Rejected
from carbon.core.ledger import CountedLoans, EntryKind, EntryLine, LedgerEntry, LoanClaimColumns
from carbon.core.model import Book, Factor
from carbon.core.units import parse_unit
from carbon.registry import FactorRegistry
from carbon.services.bulk import EPOCH, BulkLoanResult, calculate_loan_chunks
from carbon.services.ledger import Outcome, new_entry_id, replay_or_none, store_outcome
from carbon.services.ledger_inputs import WriteContext
from carbon.services.loan_factors import ONLINE_LOAN, LoanFactors
from carbon.services.ports import LedgerStore, LedgerWrite, Subledger
from carbon.services.views import amount_view, factor_ref_view

__all__ = ["record_loan_file"]

OpenChunks = Callable[[], Iterable[LoanChunk]]


def record_loan_file(
    store: LedgerStore,
    registry: FactorRegistry,
    ctx: WriteContext,
    open_chunks: OpenChunks,
    *,
    reference: str,
    default_region: str,
    release: str | None = None,
    unit: str = "tCO2e",
    keep_rejected: int = 100,
    progress: Callable[[int], None] | None = None,
    rejected_sink: Callable[[list[Rejected]], None] | None = None,
    settle: Callable[[LedgerWrite, Outcome], None] | None = None,
    subledger: Subledger | None = None,
) -> Outcome:
    """Record every good, new loan of a file; bad rows are reported, duplicates are not counted; the
    `subledger` (the personal accounts) learns of the online loans counted that name a customer.

    `settle` runs last inside the write's transaction (a job's final state commits with its entry); if it
    raises, nothing is recorded. A replay does not call it.
    """
    parse_unit(unit)
    with store.write(ctx.tenant) as tx:
        replay = replay_or_none(tx, ctx)
        if replay is not None:
            return replay
        reclaims: dict[str, int] = {}
        result = calculate_loan_chunks(
            registry, open_chunks(), release=release, default_region=default_region,
            keep_rejected=keep_rejected, progress=progress, exclude=_ledger_check(tx, reclaims),
            keep_mask=True, rejected_sink=rejected_sink,
        )  # fmt: skip
        factors = LoanFactors(registry, result.release, default_region)
        entry_id = new_entry_id()
        lines = _lines(result, factors)
        entry = LedgerEntry(entry_id, ctx.tenant, EntryKind.LOAN_FILE, Book.AVOIDED, reference, ctx.now,
                            ctx.request_checksum, tuple(lines), factor_release=result.release)  # fmt: skip
        tx.append(entry)
        credit = None if subledger is None else partial(subledger.loans_counted, tx, entry)
        _claim(tx, entry_id, open_chunks(), result.counted_mask, reclaims, factors, credit)
        outcome = store_outcome(tx, ctx, Outcome(201, _body(result, reference, entry_id, unit)), entry,
                                result.loans_counted)  # fmt: skip
        if settle is not None:
            settle(tx, outcome)
        return outcome


def _ledger_check(tx: LedgerWrite, reclaims: dict[str, int]) -> Callable[[Any], npt.NDArray[np.bool_]]:
    """Mark loans the ledger counts already; remember claim numbers of loans a reversal released."""

    def check(loan_ids: Any) -> npt.NDArray[np.bool_]:
        ids: list[str] = loan_ids.to_pylist()
        status = tx.loan_status(ids)
        reclaims.update(status.reclaims)
        if not status.counted:
            return np.zeros(len(ids), dtype=np.bool_)
        return np.fromiter((i in status.counted for i in ids), dtype=np.bool_, count=len(ids))

    return check


def _lines(result: BulkLoanResult, factors: LoanFactors) -> list[EntryLine]:
    """One line per (activity, factor, day), as the per-batch path writes them."""
    per_day: Counter[tuple[int, str | None, bool]] = Counter()
    for (day, region, _product, online), count in result.groups.items():
        per_day[(day, region if online else None, online)] += count
    grouped: Counter[tuple[date, str, str | None]] = Counter()
    used: dict[str, Factor] = {}
    for (day, region, online), count in per_day.items():
        when = EPOCH + timedelta(days=day)
        if online:
            factor = factors.factor(region, when)
            used[factor.id] = factor
            grouped[(when, ONLINE_LOAN, factor.id)] += count
        else:
            grouped[(when, "branch_loan", None)] += count
    lines = []
    for (when, activity, factor_id), count in sorted(
        grouped.items(), key=lambda g: (g[0][0], g[0][1], str(g[0][2]))
    ):
        priced = used.get(factor_id or "")
        lines.append(EntryLine(
            activity=activity, activity_date=when, quantity=str(count), unit="loan",
            mg=count * factors.mg_per_loan(priced) if priced else 0,
            factor_id=priced.id if priced else None, factor_version=priced.version if priced else None,
            factor_release=priced.release if priced else None, region=priced.region if priced else None,
        ))  # fmt: skip
    return lines


def _claim(
    tx: LedgerWrite,
    entry_id: str,
    chunks: Iterable[LoanChunk],
    counted: npt.NDArray[np.bool_] | None,
    reclaims: dict[str, int],
    factors: LoanFactors,
    credit: Callable[[CountedLoans], None] | None = None,
) -> None:
    """Second pass: count, for the entry, exactly the rows the first pass decided to count, as columns;
    hand the online ones that name a customer to `credit`, chunk by chunk."""
    assert counted is not None
    offset = 0
    for chunk in chunks:
        mask = counted[offset : offset + len(chunk.days)]
        offset += len(chunk.days)
        rows = np.flatnonzero(mask)
        if not rows.size:
            continue
        ids = chunk.loan_ids.take(pa.array(rows))
        days, online, regions = chunk.days[rows], chunk.online[rows], chunk.regions[rows]
        mg = _mg_per_row(days, online, regions, chunk.region_names, factors)
        tx.claim_loan_columns(entry_id, LoanClaimColumns(
            loan_ids=ids, claims=_claim_numbers(ids, reclaims), days=days, online=online, regions=regions,
            region_names=chunk.region_names, products=chunk.products[rows], product_names=chunk.product_names,
            mg=mg,
        ))  # fmt: skip
        if credit is not None and chunk.customers is not None:
            online_rows = np.flatnonzero(online)
            credit(_counted(chunk.customers.take(pa.array(rows[online_rows])), days[online_rows],
                            regions[online_rows], chunk.region_names, mg[online_rows], factors))  # fmt: skip


def _counted(
    customers: Any,
    days: npt.NDArray[np.int32],
    regions: npt.NDArray[np.int32],
    region_names: list[str | None],
    mg: npt.NDArray[np.int64],
    factors: LoanFactors,
) -> CountedLoans:
    """A chunk's online loans for the accounts: the factor resolved once per (day, region) group."""
    key = days.astype(np.int64) * (len(region_names) + 1) + regions
    unique, inverse = np.unique(key, return_inverse=True)
    width = len(region_names) + 1
    found = [
        factors.factor(region_names[int(k % width)], EPOCH + timedelta(days=int(k // width))) for k in unique
    ]
    used = list(dict.fromkeys(found))
    code_of = np.array([used.index(f) for f in found], dtype=np.int32)
    return CountedLoans(customers=customers, days=days, mg=mg, factor_codes=code_of[inverse.reshape(-1)],
                        factors=tuple(used), activity=ONLINE_LOAN)  # fmt: skip


def _mg_per_row(
    days: npt.NDArray[np.int32],
    online: npt.NDArray[np.bool_],
    regions: npt.NDArray[np.int32],
    region_names: list[str | None],
    factors: LoanFactors,
) -> npt.NDArray[np.int64]:
    """Each loan's milligrams, priced once per (day, region) group and broadcast back to the rows."""
    key = days.astype(np.int64) * (len(region_names) + 1) + regions
    unique, inverse = np.unique(key, return_inverse=True)
    prices = np.array(
        [factors.mg_per_loan(factors.factor(region_names[int(k % (len(region_names) + 1))],
                                            EPOCH + timedelta(days=int(k // (len(region_names) + 1)))))
         for k in unique],
        dtype=np.int64,
    )  # fmt: skip
    mg: npt.NDArray[np.int64] = np.where(online, prices[inverse.reshape(-1)], 0)
    return mg


def _claim_numbers(ids: Any, reclaims: dict[str, int]) -> npt.NDArray[np.int32]:
    """Claim 0 for loans never counted; the next number for loans a reversal released."""
    numbers = np.zeros(len(ids), dtype=np.int32)
    if reclaims:
        keys = list(reclaims)
        where = pc.index_in(ids, value_set=pa.array(keys, pa.string())).to_numpy(zero_copy_only=False)
        found = ~np.isnan(where.astype(np.float64))
        lookup = np.array([reclaims[k] for k in keys], dtype=np.int32)
        numbers[found] = lookup[where[found].astype(np.int64)]
    return numbers


def _body(result: BulkLoanResult, reference: str, entry_id: str | None, unit: str) -> dict[str, Any]:
    """The same shape as a loan batch's result, plus the rows that were not counted and why."""
    return {
        "batch_id": reference,
        "entry_id": entry_id,
        "loans_received": result.rows,
        "loans_counted": result.loans_counted,
        "duplicates_count": result.duplicates_in_file + result.duplicates_in_ledger,
        "duplicates_in_file": result.duplicates_in_file,
        "duplicates_in_ledger": result.duplicates_in_ledger,
        "avoided": amount_view(result.mg, unit),
        "factor_release": result.release,
        "factors": [factor_ref_view(f) for f in result.factors],
        "rejected_count": result.rejected_count,
        "rejected": [{"where": r.where, "reason": r.reason} for r in result.rejected],
    }
