"""Ledger use cases: record loan batches and energy savings, reverse entries, read entries and totals.

Each write is one transaction that checks the idempotency key, detects loans already counted, appends
the entry and stores the response under the key, so a retry can never count twice and a crash can never
leave the key without the work or the work without the key.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import numpy as np

from carbon.core.calculate import calculate
from carbon.core.ledger import CountedLoans, EntryKind, EntryLine, LedgerEntry, LoanClaim, LoanStatus
from carbon.core.model import Book, Factor
from carbon.core.units import parse_unit
from carbon.errors import (
    IdempotencyKeyReusedError,
    NotFoundError,
    RequestError,
)
from carbon.registry import FactorRegistry
from carbon.services.energy_claims import (
    EnergyClaimInput,
    check_storable,
    claim_details,
    claim_energy,
    claim_view,
)
from carbon.services.ledger_inputs import LoanBatchInput, WriteContext
from carbon.services.loan_factors import ONLINE_LOAN, LoanFactors
from carbon.services.ports import LedgerReader, LedgerStore, LedgerWrite, Subledger
from carbon.services.views import amount_view, factor_ref_view

__all__ = [
    "Outcome",
    "Recorded",
    "new_entry_id",
    "replay_or_none",
    "store_outcome",
    "entries_page",
    "entry_view",
    "preview_energy_saving",
    "preview_loan_batch",
    "record_energy_saving",
    "record_loan_batch",
    "reverse_entry",
    "totals_view",
]

BRANCH_LOAN = "branch_loan"
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A write's HTTP-neutral result: its status (201 new, 200 replayed or already done) and body, and for a
    new entry what it added (for the service's counters)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    recorded: Recorded | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one new entry added: its kind and book, its CO2e milligrams, the loans it newly counted."""

    kind: str
    book: str
    mg: int
    loans: int = 0

    @classmethod
    def of(cls, entry: LedgerEntry, loans: int = 0) -> Recorded:
        """The figures of a new entry."""
        return cls(str(entry.kind), str(entry.book), entry.mg, loans)


def new_entry_id() -> str:
    """A new, unguessable entry id."""
    return "e_" + uuid.uuid4().hex


def replay_or_none(tx: LedgerWrite, ctx: WriteContext) -> Outcome | None:
    """The stored first response for this key, or None; another request under the key is refused."""
    stored = tx.stored_response(ctx.idempotency_key)
    if stored is None:
        return None
    if stored.request_checksum != ctx.request_checksum:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was first used with a different request; use a new key for a new request"
        )
    return Outcome(stored.status_code, json.loads(stored.body), replayed=True)


def store_outcome(
    tx: LedgerWrite, ctx: WriteContext, outcome: Outcome, entry: LedgerEntry, loans: int = 0
) -> Outcome:
    """Keep the response under its Idempotency-Key, in the entry's transaction; the outcome then carries
    what the new entry added."""
    body = json.dumps(outcome.body, separators=(",", ":"), ensure_ascii=False)
    tx.remember(ctx.idempotency_key, ctx.request_checksum, outcome.status, body, entry.entry_id, ctx.now)
    return replace(outcome, recorded=Recorded.of(entry, loans))


# --- loan batches -------------------------------------------------------------------------------------


def _check_batch(batch: LoanBatchInput, max_loans: int) -> None:
    if len(batch.loans) > max_loans:
        raise RequestError(f"a batch holds at most {max_loans} loans; this one has {len(batch.loans)}")
    repeated = [loan_id for loan_id, n in Counter(loan.loan_id for loan in batch.loans).items() if n > 1]
    if repeated:
        raise RequestError(f"loan ids must be unique within a batch; repeated: {', '.join(repeated[:10])}")


def _price_loans(
    batch: LoanBatchInput, status: LoanStatus, factors: LoanFactors
) -> tuple[list[LoanClaim], list[EntryLine], list[Factor]]:
    """Claims for the loans not yet counted, and one line per (activity, factor, day)."""
    claims: list[LoanClaim] = []
    groups: Counter[tuple[str, str | None, date]] = Counter()
    used: dict[str, Factor] = {}
    per_loan: dict[str, int] = {}
    for loan in batch.loans:
        if loan.loan_id in status.counted:
            continue
        mg = 0
        factor_id = None
        if loan.channel == "online":
            factor = factors.factor(loan.region, loan.disbursed_on, loan.loan_id)
            per_loan[factor.id] = factors.mg_per_loan(factor)
            used[factor.id] = factor
            mg, factor_id = per_loan[factor.id], factor.id
        claims.append(LoanClaim(loan.loan_id, status.next_claim(loan.loan_id), loan.disbursed_on,
                                loan.channel, loan.product, loan.region, mg))  # fmt: skip
        activity = ONLINE_LOAN if loan.channel == "online" else BRANCH_LOAN
        groups[(activity, factor_id, loan.disbursed_on)] += 1
    lines = [
        _loan_line(activity, used.get(factor_id or ""), day, count, per_loan.get(factor_id or "", 0))
        for (activity, factor_id, day), count in sorted(groups.items(), key=lambda g: (g[0][2], g[0][0]))
    ]
    return claims, lines, sorted(used.values(), key=lambda f: f.id)


def _loan_line(activity: str, factor: Factor | None, day: date, count: int, mg_each: int) -> EntryLine:
    return EntryLine(
        activity=activity,
        activity_date=day,
        quantity=str(count),
        unit="loan",
        mg=count * mg_each,
        factor_id=factor.id if factor else None,
        factor_version=factor.version if factor else None,
        factor_release=factor.release if factor else None,
        region=factor.region if factor else None,
    )


def _loan_batch_outcome(
    registry: FactorRegistry,
    batch: LoanBatchInput,
    status: LoanStatus,
    default_region: str,
    unit: str,
    entry_id: str | None,
) -> tuple[Outcome, list[LoanClaim], list[EntryLine], str]:
    factors = LoanFactors(registry, batch.factor_release, default_region)
    release = factors.release
    claims, lines, used = _price_loans(batch, status, factors)
    body = {
        "batch_id": batch.batch_id,
        "entry_id": entry_id,
        "loans_received": len(batch.loans),
        "loans_counted": len(claims),
        "duplicates": [loan.loan_id for loan in batch.loans if loan.loan_id in status.counted],
        "avoided": amount_view(sum(line.mg for line in lines), unit),
        "factor_release": release,
        "factors": [factor_ref_view(f) for f in used],
    }
    return Outcome(201, body), claims, lines, release


def record_loan_batch(
    store: LedgerStore,
    registry: FactorRegistry,
    ctx: WriteContext,
    batch: LoanBatchInput,
    *,
    max_loans: int,
    default_region: str,
    unit: str = "tCO2e",
    subledger: Subledger | None = None,
) -> Outcome:
    """Record a batch once: loans already counted for the tenant come back as duplicates; the `subledger`
    (the personal accounts) learns of the online loans counted, in the same transaction."""
    _check_batch(batch, max_loans)
    parse_unit(unit)
    with store.write(ctx.tenant) as tx:
        replay = replay_or_none(tx, ctx)
        if replay is not None:
            return replay
        entry_id = new_entry_id()
        status = tx.loan_status(loan.loan_id for loan in batch.loans)
        outcome, claims, lines, release = _loan_batch_outcome(
            registry, batch, status, default_region, unit, entry_id
        )
        entry = LedgerEntry(entry_id, ctx.tenant, EntryKind.LOAN_BATCH, Book.AVOIDED, batch.batch_id, ctx.now,
                            ctx.request_checksum, tuple(lines), factor_release=release)  # fmt: skip
        tx.append(entry, claims)
        if subledger is not None:
            subledger.loans_counted(
                tx, entry, _counted(batch, claims, LoanFactors(registry, release, default_region))
            )
        return store_outcome(tx, ctx, outcome, entry, len(claims))


def _counted(batch: LoanBatchInput, claims: list[LoanClaim], factors: LoanFactors) -> CountedLoans:
    """The online loans just counted, each with its customer, milligrams and factor."""
    customer = {loan.loan_id: loan.customer_ref for loan in batch.loans}
    online = [c for c in claims if c.channel == "online"]
    used = [factors.factor(c.region, c.disbursed_on) for c in online]
    codes = {f.id: i for i, f in enumerate(dict.fromkeys(used))}
    return CountedLoans(
        customers=[customer[c.loan_id] for c in online],
        days=np.array([(c.disbursed_on - _EPOCH).days for c in online], dtype=np.int32),
        mg=np.array([c.mg for c in online], dtype=np.int64),
        factor_codes=np.array([codes[f.id] for f in used], dtype=np.int32),
        factors=tuple(dict.fromkeys(used)),
        activity=ONLINE_LOAN,
    )


def preview_loan_batch(
    reader: LedgerReader,
    registry: FactorRegistry,
    tenant: str,
    batch: LoanBatchInput,
    *,
    max_loans: int,
    default_region: str,
    unit: str = "tCO2e",
) -> dict[str, Any]:
    """What recording the batch now would give; nothing is written."""
    _check_batch(batch, max_loans)
    status = reader.loan_status(tenant, (loan.loan_id for loan in batch.loans))
    return _loan_batch_outcome(registry, batch, status, default_region, unit, None)[0].body


# --- energy savings -----------------------------------------------------------------------------------


def _saving_factor(registry: FactorRegistry, saving: EnergyClaimInput) -> Factor:
    """The pinned factor, or the grid factor of the region; it must be valid over the whole period."""
    if saving.end < saving.start:
        raise RequestError(f"period end {saving.end} is before its start {saving.start}")
    if saving.factor_id is not None:
        factor = registry.factor(saving.factor_id, saving.factor_release)
    elif saving.region is not None:
        factor = registry.find("electricity", saving.region, saving.start, method=saving.method,
                               release=saving.factor_release)  # fmt: skip
    else:
        raise RequestError("give a factor_id, or a region whose grid factor applies")
    if not (factor.applies_on(saving.start) and factor.applies_on(saving.end)):
        valid = f"{factor.valid_from}..{factor.valid_to or 'open'}"
        raise RequestError(f"{factor.id} is valid {valid}; the period {saving.start}..{saving.end} is not "
                           "inside it: split the period")  # fmt: skip
    return factor


def _energy_outcome(
    registry: FactorRegistry, claim: EnergyClaimInput, unit: str, entry_id: str | None
) -> tuple[Outcome, EntryLine, Factor, dict[str, Any]]:
    factor = _saving_factor(registry, claim)
    energy = claim_energy(registry, claim)
    emission = calculate(energy.amount, energy.unit, factor)
    check_storable(emission.mg)
    line = EntryLine(activity="electricity.saved", activity_date=claim.start, quantity=energy.text,
                     unit=energy.unit, mg=emission.mg, factor_id=factor.id, factor_version=factor.version,
                     factor_release=factor.release, region=factor.region,
                     method=str(factor.method) if factor.method else None)  # fmt: skip
    details = claim_details(registry, claim, energy, factor)
    body = {
        "saving_id": claim.saving_id,
        "entry_id": entry_id,
        "energy_saved": {"value": energy.text, "unit": energy.unit},
        "period": {"start": claim.start.isoformat(), "end": claim.end.isoformat()},
        "avoided": amount_view(emission.mg, unit),
        "factor_release": factor.release,
        "method": line.method,
        "factor": factor_ref_view(factor),
        "claim": claim_view(details, unit),
    }
    return Outcome(201, body), line, factor, details


def record_energy_saving(
    store: LedgerStore,
    registry: FactorRegistry,
    ctx: WriteContext,
    saving: EnergyClaimInput,
    unit: str = "tCO2e",
) -> Outcome:
    """Record saved electricity as an avoided-emission entry, with the claim's details beside it."""
    parse_unit(unit)
    _energy_outcome(registry, saving, unit, None)  # validate before taking the write lock
    with store.write(ctx.tenant) as tx:
        replay = replay_or_none(tx, ctx)
        if replay is not None:
            return replay
        entry_id = new_entry_id()
        outcome, line, factor, details = _energy_outcome(registry, saving, unit, entry_id)
        entry = LedgerEntry(entry_id, ctx.tenant, EntryKind.ENERGY_SAVING, Book.AVOIDED, saving.saving_id,
                            ctx.now, ctx.request_checksum, (line,), factor_release=factor.release,
                            period_end=saving.end)  # fmt: skip
        tx.append(entry)
        tx.append_details(entry_id, json.dumps(details, separators=(",", ":"), ensure_ascii=False))
        return store_outcome(tx, ctx, outcome, entry)


def preview_energy_saving(
    registry: FactorRegistry, saving: EnergyClaimInput, unit: str = "tCO2e"
) -> dict[str, Any]:
    """What recording the saving would give; nothing is written."""
    parse_unit(unit)
    return _energy_outcome(registry, saving, unit, None)[0].body


# --- reversals and reads --------------------------------------------------------------------------------


def _negated(line: EntryLine) -> EntryLine:
    quantity = line.quantity[1:] if line.quantity.startswith("-") else f"-{line.quantity}"
    return EntryLine(line.activity, line.activity_date, quantity, line.unit, -line.mg, line.factor_id,
                     line.factor_version, line.factor_release, line.region, line.method)  # fmt: skip


def reverse_entry(
    store: LedgerStore,
    tenant: str,
    entry_id: str,
    now: datetime,
    unit: str = "tCO2e",
    subledger: Subledger | None = None,
) -> Outcome:
    """Append the reversal of an entry (once: asking again returns the same reversal); the `subledger`
    takes back what the entry credited, in the same transaction."""
    parse_unit(unit)
    with store.write(tenant) as tx:
        original = tx.entry(entry_id)
        if original is None:
            raise NotFoundError(f"no ledger entry {entry_id!r}")
        if original.kind is EntryKind.REVERSAL:
            raise RequestError(f"{entry_id} is a reversal; reversals are not reversed, record a new entry")
        existing = tx.reversal_of(entry_id)
        if existing is not None:
            return Outcome(200, entry_view(existing, unit), replayed=True)
        reversal = LedgerEntry(new_entry_id(), tenant, EntryKind.REVERSAL, original.book,
                               original.client_reference, now, original.body_checksum,
                               tuple(_negated(line) for line in original.lines),
                               factor_release=original.factor_release, reverses=entry_id,
                               period_end=original.period_end)  # fmt: skip
        tx.append(reversal)
        tx.release_loans(entry_id, reversal.entry_id)
        if subledger is not None:
            subledger.entry_reversed(tx, original, reversal)
        return Outcome(201, entry_view(reversal, unit), recorded=Recorded.of(reversal))


def entry_view(
    entry: LedgerEntry, unit: str = "tCO2e", details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An entry with every line traceable to its factor (and an energy claim's details, when given)."""
    return {
        "entry_id": entry.entry_id,
        "kind": str(entry.kind),
        "book": str(entry.book),
        "client_reference": entry.client_reference,
        "created_at": entry.created_at.isoformat(),
        "amount": amount_view(entry.mg, unit),
        "factor_release": entry.factor_release,
        "reverses": entry.reverses,
        "period_end": entry.period_end.isoformat() if entry.period_end else None,
        "lines": [
            {
                "activity": line.activity,
                "activity_date": line.activity_date.isoformat(),
                "quantity": {"value": line.quantity, "unit": line.unit},
                "amount": amount_view(line.mg, unit),
                "factor": None
                if line.factor_id is None
                else {"id": line.factor_id, "version": line.factor_version, "release": line.factor_release},
                "region": line.region,
                "method": line.method,
            }
            for line in entry.lines
        ],
        "claim": claim_view(details, unit) if details is not None else None,
    }


def get_entry(reader: LedgerReader, tenant: str, entry_id: str, unit: str = "tCO2e") -> dict[str, Any]:
    """One entry, or NotFoundError."""
    entry = reader.entry(tenant, entry_id)
    if entry is None:
        raise NotFoundError(f"no ledger entry {entry_id!r}")
    return _entry_with_details(reader, entry, unit)


def entries_page(
    reader: LedgerReader, tenant: str, limit: int, starting_after: str | None, unit: str = "tCO2e"
) -> dict[str, Any]:
    """A page of entries in recording order, each as `get_entry` shows it."""
    if starting_after is not None and reader.entry(tenant, starting_after) is None:
        raise RequestError(f"starting_after {starting_after!r} is not an entry of this ledger")
    found, has_more = reader.entries(tenant, limit, starting_after)
    return {"data": [_entry_with_details(reader, e, unit) for e in found], "has_more": has_more}


def _entry_with_details(reader: LedgerReader, entry: LedgerEntry, unit: str) -> dict[str, Any]:
    """Energy-saving entries carry their stored claim (scenarios, boundary, both methods)."""
    details = (
        reader.entry_details(entry.tenant, entry.entry_id) if entry.kind is EntryKind.ENERGY_SAVING else None
    )
    return entry_view(entry, unit, json.loads(details) if details is not None else None)


def totals_view(
    reader: LedgerReader, tenant: str, start: date | None, end: date | None, book: Book | None, unit: str
) -> dict[str, Any]:
    """Exact totals per book over activity dates in [start, end]; avoided is never netted with inventory."""
    if start is not None and end is not None and end < start:
        raise RequestError(f"to ({end}) is before from ({start})")
    parse_unit(unit)
    found = reader.totals(tenant, start, end)
    books = [book] if book is not None else [Book.INVENTORY, Book.AVOIDED]
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "totals": [
            {"book": str(b), "amount": amount_view(found.get(str(b), (0, 0))[0], unit),
             "lines": found.get(str(b), (0, 0))[1]}
            for b in books
        ],
    }  # fmt: skip
