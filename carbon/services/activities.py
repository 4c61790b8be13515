"""Inventory activities (GHG Protocol scopes 1, 2 and 3) priced with their factors and recorded in the ledger.

A batch is one ledger entry of the inventory book. Each activity gives one or more `ActivityLine`s, stored
beside the entry: electricity gives a location-based and a market-based line (contractual instruments
count at zero for the market-based figure only; the rest is priced by the market hierarchy: supplier rate,
residual mix, national residual mix, grid average, each line naming its step).
The entry's own lines (what `/v1/totals` sums) are the lines of the location-based inventory, so a total
never counts scope 2 twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction
from typing import Any

from carbon.core.calculate import calculate, decimal_text
from carbon.core.inventory import ActivityLine, LineStatus, MarketStep
from carbon.core.ledger import EntryKind, EntryLine, LedgerEntry
from carbon.core.model import Book, Confidence, Factor, Gas, Method, Source
from carbon.core.units import conversion_factor, exact_amount, parse_unit
from carbon.errors import RequestError
from carbon.registry import FactorRegistry
from carbon.services.energy_claims import check_storable
from carbon.services.ledger import Outcome, new_entry_id, replay_or_none, store_outcome
from carbon.services.ledger_inputs import WriteContext
from carbon.services.market_hierarchy import market_factor
from carbon.services.ports import LedgerStore
from carbon.services.views import amount_view

__all__ = [
    "KINDS",
    "LIFE_CYCLE",
    "USER_SUPPLIED",
    "ActivityBatchInput",
    "ActivityInput",
    "InstrumentInput",
    "UserFactorInput",
    "activity_line_view",
    "is_life_cycle",
    "price_activity",
    "record_activities",
]

USER_SUPPLIED = "user-supplied"
LIFE_CYCLE = ("electricity.footprint",)  # product carbon-footprint (life-cycle) factor activities


def is_life_cycle(activity: str) -> bool:
    """A product footprint factor (life-cycle, e.g. MEE/NBS/NEA `electricity.footprint`), not inventory."""
    return any(activity == a or activity.startswith(a + ".") for a in LIFE_CYCLE)


@dataclass(frozen=True, slots=True)
class KindRule:
    """How an activity kind maps to a factor activity, scope and category."""

    prefix: str
    scope: int
    category: str
    needs_type: bool
    region: str | None = None


KINDS: dict[str, KindRule] = {
    "electricity": KindRule("electricity", 2, "2:purchased-electricity", False),
    "td_losses": KindRule("electricity.td_losses", 3, "3.3:fuel-and-energy", False),
    "refrigerant": KindRule("gas.", 1, "1:fugitive", True, region="GLOBAL"),
    "fuel": KindRule("fuel.", 1, "1:stationary-combustion", True),
    "business_travel": KindRule("travel.", 3, "3.6:business-travel", True),
    "employee_commuting": KindRule("travel.", 3, "3.7:employee-commuting", True),
    "purchased_goods": KindRule("", 3, "3.1:purchased-goods", True),
}


@dataclass(frozen=True, slots=True)
class InstrumentInput:
    """A contractual instrument (green certificate, green power purchase) covering some electricity."""

    kind: str
    value: str
    unit: str
    reference: str


@dataclass(frozen=True, slots=True)
class UserFactorInput:
    """A factor the user supplies (fuels: no fuel factors ship; electricity: the supplier's specific rate)."""

    value: str
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class ActivityInput:
    """One inventory activity as the client sends it."""

    activity_id: str
    kind: str
    on: date
    value: str
    unit: str
    type: str | None = None
    region: str | None = None
    gwp_set: str | None = None
    entity: str | None = None
    description: str | None = None
    instruments: tuple[InstrumentInput, ...] = ()
    factor: UserFactorInput | None = None


@dataclass(frozen=True, slots=True)
class ActivityBatchInput:
    """A batch of activities, recorded whole or not at all."""

    batch_id: str
    activities: tuple[ActivityInput, ...]
    factor_release: str | None = None


def _activity_name(item: ActivityInput, rule: KindRule) -> str:
    if rule.needs_type and not item.type:
        raise RequestError(f"activity {item.activity_id}: a {item.kind} activity needs its `type`")
    if not rule.needs_type and item.type:
        raise RequestError(f"activity {item.activity_id}: a {item.kind} activity takes no `type`")
    return rule.prefix + (item.type or "")


def _check(item: ActivityInput, rule: KindRule) -> None:
    """Rules a schema cannot state: which fields each kind takes."""
    where = f"activity {item.activity_id}"
    if item.kind not in KINDS:
        raise RequestError(f"{where}: unknown kind {item.kind!r}")
    if item.kind == "fuel" and item.factor is None:
        raise RequestError(f"{where}: a fuel activity needs its `factor` (no fuel factors ship)")
    if item.factor is not None and item.kind not in ("fuel", "electricity"):
        raise RequestError(f"{where}: a `factor` is given for fuel activities (which need one) and for "
                           "electricity (the supplier's specific rate) only")  # fmt: skip
    if item.instruments and item.kind != "electricity":
        raise RequestError(f"{where}: contractual instruments apply to electricity only")
    if (item.kind == "refrigerant") != (item.gwp_set is not None):
        raise RequestError(f"{where}: `gwp_set` (AR5 or AR6) is given for refrigerant activities only, "
                           "and they need one")  # fmt: skip
    if rule.region is None and item.region is None and item.kind != "fuel":
        raise RequestError(f"{where}: a {item.kind} activity needs its `region`")


def _computed_line(item: ActivityInput, rule: KindRule, activity: str, factor: Factor,
                   quantity: str, unit: str, method: str | None) -> ActivityLine:  # fmt: skip
    emission = calculate(quantity, unit, factor)
    check_storable(emission.mg)
    return ActivityLine(
        activity_id=item.activity_id, kind=item.kind, activity=activity, activity_date=item.on,
        scope=rule.scope, category=rule.category, quantity=quantity, unit=unit, mg=emission.mg,
        method=method, factor_id=factor.id, factor_version=factor.version, factor_release=factor.release,
        factor_value=factor.value_text, factor_unit=factor.unit, confidence=str(factor.confidence),
        source=_source_text(factor),
        gwp_set=factor.gwp_set, region=factor.region if item.kind != "fuel" else item.region,
        entity=item.entity, description=item.description,
    )  # fmt: skip


def _source_text(factor: Factor) -> str:
    """Where a factor comes from, in words; a user-supplied factor keeps the user's text as given."""
    if factor.confidence is Confidence.USER_SUPPLIED:
        return factor.source.document
    return f"{factor.source.publisher}: {factor.source.document} ({factor.table})"


def _user_factor(item: ActivityInput, rule: KindRule, activity: str, release: str) -> Factor:
    given = item.factor
    assert given is not None
    source = Source(id="user", publisher="user", document=given.source, licence=USER_SUPPLIED)
    return Factor(
        id=f"user:{item.activity_id}", version=1, activity=activity, value=exact_amount(given.value),
        value_text=given.value, unit=given.unit, region=item.region or "GLOBAL", valid_from=item.on,
        valid_to=item.on, book=Book.INVENTORY, category=rule.category, source=source, table="",
        confidence=Confidence.USER_SUPPLIED, release=release, scope=rule.scope, gas=Gas.CO2E,
        gwp_set="unstated",
    )  # fmt: skip


def _covered(item: ActivityInput) -> Fraction:
    """kWh (in the activity's unit) covered by contractual instruments; never more than consumed."""
    unit = parse_unit(item.unit)
    covered = sum(
        (exact_amount(i.value) * conversion_factor(parse_unit(i.unit), unit) for i in item.instruments),
        Fraction(0),
    )
    if covered > exact_amount(item.value):
        raise RequestError(
            f"activity {item.activity_id}: instruments cover more than the electricity consumed"
        )
    return covered


def _electricity_lines(
    registry: FactorRegistry, item: ActivityInput, rule: KindRule, release: str
) -> list[ActivityLine]:
    """Location-based line, a zero line per instrument, and the rest priced by the market hierarchy."""
    assert item.region is not None
    location = registry.find("electricity", item.region, item.on, method=Method.LOCATION, release=release)
    lines = [_computed_line(item, rule, "electricity", location, item.value, item.unit, "location")]
    rest = decimal_text(exact_amount(item.value) - _covered(item))
    if item.factor is not None:
        supplier = _user_factor(item, rule, "electricity", release)
        line = _computed_line(item, rule, "electricity", supplier, rest, item.unit, "market")
        lines.append(replace(line, step=MarketStep.SUPPLIER, reason="the supplier's specific emission rate"))
    else:
        choice = market_factor(registry, item.region, item.on, release)
        line = _computed_line(item, rule, "electricity", choice.factor, rest, item.unit, "market")
        lines.append(replace(line, region=item.region, step=choice.step, reason=choice.reason))
    for instrument in item.instruments:
        lines.append(ActivityLine(item.activity_id, item.kind, "electricity.contractual", item.on, rule.scope,
                                  rule.category, instrument.value, instrument.unit, 0,
                                  status=LineStatus.INSTRUMENT, method="market", factor_release=release,
                                  source=f"{instrument.kind}: {instrument.reference}", region=item.region,
                                  entity=item.entity, description=item.description,
                                  step=MarketStep.INSTRUMENT))  # fmt: skip
    return lines


def price_activity(registry: FactorRegistry, item: ActivityInput, release: str) -> list[ActivityLine]:
    """The lines of one activity under `release` (FactorNotFoundError and unit errors are the caller's)."""
    rule = KINDS.get(item.kind)
    if rule is None:
        raise RequestError(f"activity {item.activity_id}: unknown kind {item.kind!r}")
    _check(item, rule)
    activity = _activity_name(item, rule)
    if is_life_cycle(activity):
        raise RequestError(
            f"activity {item.activity_id}: rule inventory-boundary: {activity} is a life-cycle (product "
            "carbon footprint) factor and cannot price a corporate inventory line; purchased electricity "
            "is scope 2, its upstream and T&D losses scope 3 category 3 (kind td_losses)"
        )
    if item.kind == "electricity":
        return _electricity_lines(registry, item, rule, release)
    if item.kind == "fuel":
        factor = _user_factor(item, rule, activity, release)
    else:
        region = rule.region or item.region or ""
        factor = registry.find(activity, region, item.on, gwp_set=item.gwp_set, release=release)
        # commuting uses the business-travel factors of the same mode; every other kind keeps its category
        expected = "3.6:business-travel" if item.kind == "employee_commuting" else rule.category
        if factor.scope != rule.scope or factor.category != expected:
            raise RequestError(f"activity {item.activity_id}: {factor.id} is a scope {factor.scope} "
                               f"{factor.category} factor, not {expected}")  # fmt: skip
    return [_computed_line(item, rule, activity, factor, item.value, item.unit, None)]


def _entry_lines(lines: list[ActivityLine]) -> list[EntryLine]:
    """What the ledger's totals sum: the location-based inventory (instrument and market lines excluded)."""
    return [
        EntryLine(
            line.activity,
            line.activity_date,
            line.quantity,
            line.unit,
            line.mg,
            line.factor_id,
            line.factor_version,
            line.factor_release,
            line.region,
            line.method,
        )  # fmt: skip
        for line in lines
        if line.counts_in_location_total
    ]


def activity_line_view(line: ActivityLine, unit: str = "tCO2e") -> dict[str, Any]:
    """One line with its factor and provenance, as the API and the trace show it."""
    factor = None
    if line.factor_id is not None:
        factor = {"id": line.factor_id, "version": line.factor_version, "release": line.factor_release,
                  "value": line.factor_value, "unit": line.factor_unit, "confidence": line.confidence,
                  "source": line.source, "gwp_set": line.gwp_set}  # fmt: skip
    return {
        "entry_id": line.entry_id or None,
        "line_no": line.line_no or None,
        "activity_id": line.activity_id,
        "kind": line.kind,
        "activity": line.activity,
        "activity_date": line.activity_date.isoformat(),
        "scope": line.scope,
        "category": line.category,
        "method": line.method,
        "status": line.status,
        "quantity": {"value": line.quantity, "unit": line.unit},
        "amount": amount_view(line.mg, unit),
        "factor": factor,
        "instrument": line.source if line.status == LineStatus.INSTRUMENT else None,
        "region": line.region,
        "entity": line.entity,
        "description": line.description,
        "reason": line.reason,
        "step": line.step,
    }


def _price_batch(registry: FactorRegistry, batch: ActivityBatchInput) -> tuple[str, list[ActivityLine]]:
    ids = [a.activity_id for a in batch.activities]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise RequestError(
            f"activity ids must be unique within a batch; repeated: {', '.join(repeated[:10])}"
        )
    release = registry.release(batch.factor_release).id
    lines = [line for item in batch.activities for line in price_activity(registry, item, release)]
    return release, lines


def _body(batch: ActivityBatchInput, entry_id: str, release: str, lines: list[ActivityLine],
          unit: str) -> dict[str, Any]:  # fmt: skip
    def total(scope: int, method: str | None = None) -> dict[str, str]:
        return amount_view(sum(x.mg for x in lines if x.scope == scope and x.method == method), unit)

    return {
        "batch_id": batch.batch_id,
        "entry_id": entry_id,
        "factor_release": release,
        "activities_received": len(batch.activities),
        "totals": {
            "scope1": total(1),
            "scope2_location": total(2, "location"),
            "scope2_market": total(2, "market"),
            "scope3": total(3),
        },  # fmt: skip
        "missing": [activity_line_view(x, unit) for x in lines if x.status == LineStatus.MISSING],
        "lines": [activity_line_view(x, unit) for x in lines],
    }


def record_activities(
    store: LedgerStore,
    registry: FactorRegistry,
    ctx: WriteContext,
    batch: ActivityBatchInput,
    unit: str = "tCO2e",
) -> Outcome:
    """Record a batch of inventory activities as one entry of the inventory book (idempotent)."""
    parse_unit(unit)
    _price_batch(registry, batch)  # validate before taking the write lock
    with store.write(ctx.tenant) as tx:
        replay = replay_or_none(tx, ctx)
        if replay is not None:
            return replay
        entry_id = new_entry_id()
        release, lines = _price_batch(registry, batch)
        numbered = [replace(line, entry_id=entry_id, line_no=n) for n, line in enumerate(lines, 1)]
        entry = LedgerEntry(entry_id, ctx.tenant, EntryKind.INVENTORY_ACTIVITY, Book.INVENTORY,
                            batch.batch_id, ctx.now, ctx.request_checksum, tuple(_entry_lines(lines)),
                            factor_release=release)  # fmt: skip
        tx.append(entry)
        tx.append_activity_lines(entry_id, numbered)
        return store_outcome(tx, ctx, Outcome(201, _body(batch, entry_id, release, numbered, unit)), entry)
