"""Plain-data views of factors and emissions, shared by the CLI's --json and the HTTP API."""

from __future__ import annotations

from typing import Any

from carbon.core.calculate import decimal_text, format_amount
from carbon.core.model import Emission, Factor
from carbon.registry import Release
from carbon.services.bulk import BulkLoanResult

__all__ = [
    "bulk_view",
    "amount_view",
    "display_amount",
    "emission_view",
    "factor_ref_view",
    "factor_view",
    "release_view",
]


def amount_view(mg: int, unit: str = "tCO2e") -> dict[str, str]:
    """An exact amount over the wire: a decimal string with its unit, never a float."""
    return {"value": format_amount(mg, unit), "unit": unit}


def display_amount(mg: int, unit: str = "tCO2e", places: int = 2) -> str:
    """The display rule at the edge: rounded half-to-even, thousands grouped: '9,852.89 tCO2e'."""
    text = format_amount(mg, unit, places=places)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = digits.partition(".")
    grouped = f"{sign}{int(whole):,}"
    return f"{grouped}.{fraction} {unit}" if fraction else f"{grouped} {unit}"


def factor_view(factor: Factor) -> dict[str, Any]:
    """Everything an auditor needs to trace a figure to its factor."""
    return {
        "id": factor.id,
        "version": factor.version,
        "release": factor.release,
        "activity": factor.activity,
        "value": factor.value_text,
        "unit": factor.unit,
        "region": factor.region,
        "valid_from": factor.valid_from.isoformat(),
        "valid_to": factor.valid_to.isoformat() if factor.valid_to else None,
        "book": str(factor.book),
        "scope": factor.scope,
        "category": factor.category,
        "method": str(factor.method) if factor.method else None,
        "gas": str(factor.gas) if factor.gas else None,
        "gwp_set": factor.gwp_set,
        "confidence": str(factor.confidence),
        "derivation": factor.derivation or None,
        "source": {
            "id": factor.source.id,
            "publisher": factor.source.publisher,
            "document": factor.source.document,
            "table": factor.table,
            "published": factor.source.published or None,
            "url": factor.source.url or None,
            "licence": factor.source.licence,
        },
    }


def factor_ref_view(factor: Factor) -> dict[str, Any]:
    """The short form of a factor inside a result: enough to trace it, with its source."""
    view = factor_view(factor)
    keys = (
        "id",
        "version",
        "release",
        "value",
        "unit",
        "region",
        "method",
        "gwp_set",
        "confidence",
        "source",
    )
    return {key: view[key] for key in keys}


def emission_view(emission: Emission, book: str, unit: str = "tCO2e") -> dict[str, Any]:
    """An emission with its exact amount, a display figure and its factor's provenance."""
    return {
        "book": book,
        "emission": amount_view(emission.mg, unit),
        "display": display_amount(emission.mg),
        "mg": emission.mg,
        "quantity": {"value": format_quantity(emission), "unit": emission.unit},
        "factor": factor_view(emission.factor),
    }


def format_quantity(emission: Emission) -> str:
    """The activity amount as an exact decimal (amounts enter as decimals, so they always have one)."""
    return decimal_text(emission.quantity)


def release_view(release: Release, current: bool) -> dict[str, Any]:
    """A release's identity and integrity data."""
    return {
        "id": release.id,
        "published": release.published.isoformat(),
        "current": current,
        "supersedes": list(release.supersedes),
        "description": release.description,
        "licence_notes": release.licence_notes,
        "checksum": release.checksum,
        "files": dict(release.files),
        "factor_count": len(release.factors),
    }


def bulk_view(result: BulkLoanResult, unit: str = "tCO2e") -> dict[str, Any]:
    """A loan file's totals with breakdowns, factors and the first rejected rows."""

    def rows(totals: dict[str, int], key: str) -> list[dict[str, Any]]:
        return [{key: name or None, "amount": amount_view(mg, unit)} for name, mg in sorted(totals.items())]

    return {
        "avoided": amount_view(result.mg, unit),
        "display": display_amount(result.mg),
        "mg": result.mg,
        "rows": result.rows,
        "loans_counted": result.loans_counted,
        "online": result.online,
        "branch": result.branch,
        "duplicates_in_file": result.duplicates_in_file,
        "rejected_count": result.rejected_count,
        "rejected": [{"where": r.where, "reason": r.reason} for r in result.rejected],
        "factor_release": result.release,
        "factors": [factor_ref_view(f) for f in result.factors],
        "by_month": rows(result.by_month, "month"),
        "by_product": rows(result.by_product, "product"),
        "by_region": rows(result.by_region, "region"),
    }
