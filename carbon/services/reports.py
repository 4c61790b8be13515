"""The scope report: inventory by scope and category (scope 2 location- and market-based side by side),
avoided emissions by kind in their own section (never subtracted), monthly/entity/region breakdowns, the
factor releases used, a SHA-256 digest of the lines behind it, a restatement under another release and a
trace from any report line to its entries and factors.

Every figure is an integer sum of stored milligrams; restated figures are recomputed from the stored
activity quantities with the other release's factors, and nothing stored is changed.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from carbon.core.calculate import calculate, mg_per_unit, round_mg
from carbon.core.inventory import ActivityLine, BookLine, LineStatus
from carbon.core.ledger import EntryLine
from carbon.core.model import Book, Factor, Method
from carbon.core.units import parse_unit
from carbon.errors import CarbonError, RequestError
from carbon.registry import FactorRegistry
from carbon.services.activities import activity_line_view
from carbon.services.market_hierarchy import market_factor, step_shares
from carbon.services.ports import ReportReader
from carbon.services.views import amount_view

__all__ = ["AVOIDED_NOTE", "ReportQuery", "line_keys", "scope_report", "trace_view"]

AVOIDED_NOTE = "Avoided emissions are shown beside the inventory and never subtracted from it."
_AVOIDED_KINDS = {"online_loan": "online-lending", "branch_loan": "online-lending",
                  "electricity.saved": "green-computing"}  # fmt: skip
MAX_DAYS = 3700


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What a report covers."""

    tenant: str
    start: date
    end: date
    entity: str | None = None
    release: str | None = None
    restate_with: str | None = None
    unit: str = "tCO2e"


@dataclass(frozen=True, slots=True)
class _Data:
    inventory: list[ActivityLine]
    avoided: list[BookLine]


def avoided_kind(line: EntryLine) -> str:
    """online-lending, green-computing, or the activity itself for anything else."""
    return _AVOIDED_KINDS.get(line.activity, line.activity)


def line_keys(line: ActivityLine) -> list[str]:
    """The report lines an inventory line adds to."""
    if line.scope == 2:
        return [f"scope2:{line.method or 'location'}"]
    return [f"scope{line.scope}:{line.category}"]


def _load(reader: ReportReader, query: ReportQuery) -> _Data:
    if query.end < query.start:
        raise RequestError(f"to ({query.end}) is before from ({query.start})")
    if (query.end - query.start).days > MAX_DAYS:
        raise RequestError(f"a report covers at most {MAX_DAYS} days")
    parse_unit(query.unit)
    inventory = reader.activity_lines(query.tenant, query.start, query.end)
    avoided = reader.book_lines(query.tenant, Book.AVOIDED, query.start, query.end)
    if query.entity is not None:
        inventory = [x for x in inventory if x.entity == query.entity]
    if query.release is not None:
        inventory = [x for x in inventory if x.factor_release == query.release]
        avoided = [x for x in avoided if x.line.factor_release == query.release]
    return _Data(inventory, avoided)


def _sums(data: _Data) -> dict[str, int]:
    """Milligrams per report line, plus the totals; avoided lines never reach an inventory total."""
    sums: dict[str, int] = defaultdict(int)
    for line in data.inventory:
        for key in line_keys(line):
            sums[key] += line.mg
        if line.counts_in_location_total:
            sums["total:location"] += line.mg
        if line.counts_in_market_total:
            sums["total:market"] += line.mg
    for book_line in data.avoided:
        sums[f"avoided:{avoided_kind(book_line.line)}"] += book_line.line.mg
        sums["avoided:total"] += book_line.line.mg
    return sums


def _digest(data: _Data) -> dict[str, Any]:
    """SHA-256 over the canonical lines behind the report: the same lines give the same digest."""
    rows: list[list[Any]] = [
        [x.entry_id, x.line_no, x.activity_id, x.activity_date.isoformat(), x.scope, x.category, x.method,
         x.status, x.quantity, x.unit, x.mg, x.factor_id, x.factor_version, x.factor_release]
        for x in data.inventory
    ]  # fmt: skip
    rows += [
        [b.entry_id, b.line_no, b.line.activity, b.line.activity_date.isoformat(), b.line.quantity,
         b.line.unit, b.line.mg, b.line.factor_id, b.line.factor_version, b.line.factor_release]
        for b in data.avoided
    ]  # fmt: skip
    rows.sort(key=lambda r: (str(r[0]), int(r[1])))
    text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return {"algorithm": "sha256", "value": hashlib.sha256(text.encode()).hexdigest(), "lines": len(rows)}


def _months(start: date, end: date) -> list[str]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


_COLUMNS = ("scope1", "scope2_location", "scope2_market", "scope3")


def _column(line: ActivityLine) -> str:
    return f"scope2_{line.method or 'location'}" if line.scope == 2 else f"scope{line.scope}"


def _breakdown(
    data: _Data, key: Callable[[ActivityLine], str | None], keys: Iterable[str] = ()
) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {k: dict.fromkeys(_COLUMNS, 0) for k in keys}
    for line in data.inventory:
        name = key(line) or "(none)"
        row = table.setdefault(name, dict.fromkeys(_COLUMNS, 0))
        row[_column(line)] += line.mg
    return table


def _rows(table: dict[str, dict[str, int]], label: str, unit: str) -> list[dict[str, Any]]:
    out = []
    for name in sorted(table):
        row = table[name]
        location = row["scope1"] + row["scope2_location"] + row["scope3"]
        market = row["scope1"] + row["scope2_market"] + row["scope3"]
        out.append(
            {
                label: name,
                **{c: amount_view(row[c], unit) for c in _COLUMNS},
                "total_location": amount_view(location, unit),
                "total_market": amount_view(market, unit),
            }
        )
    return out


def _monthly(data: _Data, query: ReportQuery) -> list[dict[str, Any]]:
    months = _months(query.start, query.end)
    table = _breakdown(data, lambda x: x.activity_date.isoformat()[:7], months)
    avoided: dict[str, int] = defaultdict(int)
    for b in data.avoided:
        avoided[b.line.activity_date.isoformat()[:7]] += b.line.mg
    rows = _rows(table, "month", query.unit)
    for row in rows:
        row["avoided"] = amount_view(avoided[row["month"]], query.unit)
    return rows


def _section_lines(sums: dict[str, int], scope: int, data: _Data, unit: str) -> list[dict[str, Any]]:
    categories = sorted({x.category for x in data.inventory if x.scope == scope})
    return [
        {"line": f"scope{scope}:{c}", "category": c, "amount": amount_view(sums[f"scope{scope}:{c}"], unit),
         "lines": sum(1 for x in data.inventory if x.scope == scope and x.category == c)}
        for c in categories
    ]  # fmt: skip


def _avoided_factor(registry: FactorRegistry | None, line: EntryLine) -> dict[str, Any]:
    """An avoided line's factor with its provenance, read back from its release."""
    found: Factor | None = None
    if registry is not None and line.factor_id is not None:
        try:
            found = registry.factor(line.factor_id, line.factor_release)
        except CarbonError:
            found = None
    return {
        "id": line.factor_id, "version": line.factor_version, "release": line.factor_release,
        "value": found.value_text if found else None, "unit": found.unit if found else None,
        "confidence": str(found.confidence) if found else None,
        "source": f"{found.source.publisher}: {found.source.document} ({found.table})" if found else None,
        "method": line.method, "gwp_set": found.gwp_set if found else None, "book": "avoided",
    }  # fmt: skip


def _factors(data: _Data, registry: FactorRegistry | None = None) -> list[dict[str, Any]]:
    seen: dict[tuple[str, int | None, str | None], dict[str, Any]] = {}
    for x in data.inventory:
        if x.factor_id is not None:
            seen[(x.factor_id, x.factor_version, x.factor_release)] = {
                "id": x.factor_id, "version": x.factor_version, "release": x.factor_release,
                "value": x.factor_value, "unit": x.factor_unit, "confidence": x.confidence,
                "source": x.source, "method": x.method, "gwp_set": x.gwp_set, "book": "inventory",
            }  # fmt: skip
    for b in data.avoided:
        if b.line.factor_id is not None:
            key = (b.line.factor_id, b.line.factor_version, b.line.factor_release)
            if key not in seen:
                seen[key] = _avoided_factor(registry, b.line)
    return [seen[k] for k in sorted(seen, key=lambda k: (k[0], k[1] or 0, k[2] or ""))]


def _by_product(reader: ReportReader, query: ReportQuery) -> list[dict[str, Any]]:
    """Online-lending avoided emissions per loan product (counted loans; `release` does not narrow it)."""
    rows = sorted(reader.avoided_by_product(query.tenant, query.start, query.end), key=lambda r: r[0] or "")
    return [{"product": p, "amount": amount_view(m, query.unit), "loans": n} for p, m, n in rows]


def _avoided_section(sums: dict[str, int], data: _Data, unit: str) -> dict[str, Any]:
    kinds = sorted({avoided_kind(b.line) for b in data.avoided} | {"online-lending", "green-computing"})
    return {
        "note": AVOIDED_NOTE,
        "total": amount_view(sums["avoided:total"], unit),
        "kinds": [
            {"line": f"avoided:{k}", "kind": k, "amount": amount_view(sums[f"avoided:{k}"], unit),
             "lines": sum(1 for b in data.avoided if avoided_kind(b.line) == k)}
            for k in kinds
        ],
    }  # fmt: skip


def _inventory_section(sums: dict[str, int], data: _Data, unit: str) -> dict[str, Any]:
    missing = [x for x in data.inventory if x.status == LineStatus.MISSING]
    covered = [x for x in data.inventory if x.status == LineStatus.INSTRUMENT]
    scope_total = {s: sum(x.mg for x in data.inventory if x.scope == s) for s in (1, 3)}
    s1, s3 = _section_lines(sums, 1, data, unit), _section_lines(sums, 3, data, unit)
    return {
        "scope1": {"total": amount_view(scope_total[1], unit), "categories": s1},
        "scope2": {
            "location": {"line": "scope2:location", "amount": amount_view(sums["scope2:location"], unit)},
            "market": {"line": "scope2:market", "amount": amount_view(sums["scope2:market"], unit),
                       "complete": not missing, "by_step": step_shares(data.inventory),
                       "instruments": [activity_line_view(x, unit) for x in covered],
                       "missing": [activity_line_view(x, unit) for x in missing]},
        },
        "scope3": {"total": amount_view(scope_total[3], unit), "categories": s3},
        "totals": {"location_based": amount_view(sums["total:location"], unit),
                   "market_based": amount_view(sums["total:market"], unit)},
    }  # fmt: skip


def scope_report(reader: ReportReader, registry: FactorRegistry, query: ReportQuery) -> dict[str, Any]:
    """The report over [start, end], optionally restated under another release."""
    data = _load(reader, query)
    sums = _sums(data)
    releases = sorted({x.factor_release for x in data.inventory if x.factor_release}
                      | {b.line.factor_release for b in data.avoided if b.line.factor_release})  # fmt: skip
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "entity": query.entity,
        "release": query.release,
        "unit": query.unit,
        "inventory": _inventory_section(sums, data, query.unit),
        "avoided": {**_avoided_section(sums, data, query.unit), "by_product": _by_product(reader, query)},
        "by_month": _monthly(data, query),
        "by_entity": _rows(_breakdown(data, lambda x: x.entity), "entity", query.unit),
        "by_region": _rows(_breakdown(data, lambda x: x.region), "region", query.unit),
        "factor_releases": releases,
        "factors": _factors(data, registry),
        "digest": _digest(data),
        "restatement": _restatement(registry, data, sums, query) if query.restate_with else None,
    }


# --- restatement --------------------------------------------------------------------------------------


def _factor_in(registry: FactorRegistry, release: str, factor_id: str | None, activity: str,
               region: str | None, on: date, method: str | None, gwp_set: str | None) -> Factor:  # fmt: skip
    """The same factor id in the other release if it covers the day, else the lookup by key."""
    if factor_id is not None:
        try:
            factor = registry.factor(factor_id, release)
            if factor.applies_on(on):
                return factor
        except CarbonError:
            pass
    return registry.find(activity, region or "GLOBAL", on, method=Method(method) if method else None,
                         gwp_set=gwp_set, release=release)  # fmt: skip


def _restate_inventory(registry: FactorRegistry, line: ActivityLine, release: str) -> ActivityLine:
    if line.status == LineStatus.INSTRUMENT or line.confidence == "user-supplied":
        return line
    if line.scope == 2 and line.method == "market":  # the hierarchy again, under the other release
        choice = market_factor(registry, line.region or "GLOBAL", line.activity_date, release)
        mg = calculate(line.quantity, line.unit, choice.factor).mg
        return replace(line, mg=mg, status=LineStatus.COMPUTED, factor_id=choice.factor.id,
                       factor_version=choice.factor.version, factor_release=choice.factor.release,
                       factor_value=choice.factor.value_text, factor_unit=choice.factor.unit,
                       step=choice.step, reason=choice.reason)  # fmt: skip
    factor = _factor_in(registry, release, line.factor_id, line.activity, line.region, line.activity_date,
                        line.method, line.gwp_set)  # fmt: skip
    mg = calculate(line.quantity, line.unit, factor).mg
    return replace(line, mg=mg, status=LineStatus.COMPUTED, factor_id=factor.id,
                   factor_version=factor.version, factor_release=factor.release,
                   factor_value=factor.value_text, factor_unit=factor.unit)  # fmt: skip


def _restate_avoided(registry: FactorRegistry, book_line: BookLine, release: str) -> BookLine:
    line = book_line.line
    if line.factor_id is None:
        return book_line
    factor = _factor_in(registry, release, line.factor_id, line.activity, line.region, line.activity_date,
                        line.method, None)  # fmt: skip
    if line.unit == "loan":  # loans are priced per loan, then counted (as a batch does)
        mg = int(line.quantity) * round_mg(mg_per_unit(factor, "loan"))
    else:
        mg = calculate(line.quantity.lstrip("-"), line.unit, factor).mg * (-1 if line.mg < 0 else 1)
    return replace(book_line, line=replace(line, mg=mg, factor_id=factor.id, factor_version=factor.version,
                                           factor_release=factor.release))  # fmt: skip


def _restatement(
    registry: FactorRegistry, data: _Data, old: dict[str, int], query: ReportQuery
) -> dict[str, Any]:
    release = registry.release(query.restate_with).id
    unresolved: list[dict[str, Any]] = []
    inventory = []
    for line in data.inventory:
        try:
            inventory.append(_restate_inventory(registry, line, release))
        except CarbonError as error:
            unresolved.append(
                {"activity_id": line.activity_id, "line": line_keys(line)[0], "reason": str(error)}
            )
            inventory.append(replace(line, mg=0, status=LineStatus.MISSING, reason=str(error)))
    avoided = []
    for b in data.avoided:
        try:
            avoided.append(_restate_avoided(registry, b, release))
        except CarbonError as error:
            unresolved.append({"activity_id": b.entry_id, "line": f"avoided:{avoided_kind(b.line)}",
                               "reason": str(error)})  # fmt: skip
            avoided.append(replace(b, line=replace(b.line, mg=0)))
    new = _sums(_Data(inventory, avoided))
    keys = sorted(set(old) | set(new))
    return {
        "release": release,
        "from_releases": sorted({x.factor_release for x in data.inventory if x.factor_release}),
        "lines": [
            {"line": k, "old": amount_view(old.get(k, 0), query.unit),
             "new": amount_view(new.get(k, 0), query.unit),
             "difference": amount_view(new.get(k, 0) - old.get(k, 0), query.unit)}
            for k in keys
        ],
        "unresolved": unresolved,
    }  # fmt: skip


# --- trace --------------------------------------------------------------------------------------------


def _matches(key: str) -> tuple[Callable[[ActivityLine], bool], Callable[[BookLine], bool]]:
    if key == "total:location":
        return (lambda x: x.counts_in_location_total), (lambda b: False)
    if key == "total:market":
        return (lambda x: x.counts_in_market_total), (lambda b: False)
    if key == "avoided:total":
        return (lambda x: False), (lambda b: True)
    if key.startswith("avoided:"):
        kind = key.removeprefix("avoided:")
        return (lambda x: False), (lambda b: avoided_kind(b.line) == kind)
    if key in ("scope2:location", "scope2:market") or key.startswith(("scope1:", "scope3:")):
        return (lambda x: key in line_keys(x)), (lambda b: False)
    raise RequestError(
        f"unknown report line {key!r}: use scope1:<category>, scope2:location, scope2:market, "
        "scope3:<category>, avoided:<kind>, total:location or total:market"
    )


def trace_view(
    reader: ReportReader, query: ReportQuery, key: str, registry: FactorRegistry | None = None
) -> dict[str, Any]:
    """The ledger lines and factors behind one report line, and their sum (equal to the report's)."""
    inventory_match, avoided_match = _matches(key)
    data = _load(reader, query)
    inventory = [x for x in data.inventory if inventory_match(x)]
    avoided = [b for b in data.avoided if avoided_match(b)]
    behind = _Data(inventory, avoided)
    return {
        "line": key,
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "amount": amount_view(sum(x.mg for x in inventory) + sum(b.line.mg for b in avoided), query.unit),
        "inventory_lines": [activity_line_view(x, query.unit) for x in inventory],
        "avoided_lines": [
            {"entry_id": b.entry_id, "line_no": b.line_no, "activity": b.line.activity,
             "activity_date": b.line.activity_date.isoformat(),
             "quantity": {"value": b.line.quantity, "unit": b.line.unit},
             "amount": amount_view(b.line.mg, query.unit),
             "factor": None if b.line.factor_id is None else
             {"id": b.line.factor_id, "version": b.line.factor_version, "release": b.line.factor_release},
             "region": b.line.region, "method": b.line.method}
            for b in avoided
        ],
        "entries": sorted({x.entry_id for x in inventory} | {b.entry_id for b in avoided}),
        "factors": _factors(behind, registry),
        "digest": _digest(behind),
    }  # fmt: skip
