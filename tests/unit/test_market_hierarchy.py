"""The market-based hierarchy's fallback rule on the shipped factors, the supplier step, and reports over
lines recorded before the hierarchy (a market line counted 0) that must say they are understated."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest

from carbon.core.inventory import ActivityLine, BookLine, LineStatus
from carbon.core.model import Book
from carbon.errors import FactorNotFoundError
from carbon.registry import FactorRegistry
from carbon.services.activities import ActivityInput, UserFactorInput, price_activity
from carbon.services.market_hierarchy import market_factor
from carbon.services.report_formats import report_csv, report_html, report_xlsx
from carbon.services.reports import ReportQuery, scope_report

RELEASE = "2026-12"


@pytest.mark.parametrize(
    ("region", "day", "step", "factor_id"),
    [
        ("CN", "2022-05-01", "residual-mix", "cn.mee_nbs.electricity_excl_market_nonfossil.national.2022"),
        ("CN-HE", "2022-05-01", "national-residual-mix",
         "cn.mee_nbs.electricity_excl_market_nonfossil.national.2022"),
        ("CN-GRID-NORTH", "2023-05-01", "national-residual-mix",
         "cn.mee_nbs.electricity_excl_market_nonfossil.national.2023"),
        ("US-EGRID-CAMX", "2023-05-01", "grid-average", "us.epa_egrid.electricity_co2e_ar5.camx.2023"),
        ("US", "2023-05-01", "grid-average", "us.epa_egrid.electricity_co2e_ar5.us.2023"),
        ("GB", "2025-05-01", "grid-average", "gb.desnz.electricity_generation.2025"),
    ],
)  # fmt: skip
def test_residual_mix_else_national_residual_else_the_regions_grid_average(
    shipped_registry: FactorRegistry, region: str, day: str, step: str, factor_id: str
) -> None:
    choice = market_factor(shipped_registry, region, date.fromisoformat(day), RELEASE)
    assert (choice.step, choice.factor.id) == (step, factor_id)
    assert region in choice.reason


def test_no_factor_at_any_step_is_an_error_not_a_zero(shipped_registry: FactorRegistry) -> None:
    with pytest.raises(FactorNotFoundError, match="CN-HE"):
        market_factor(shipped_registry, "CN-HE", date(2019, 5, 1), RELEASE)


def test_a_supplier_rate_prices_the_market_line_before_any_residual_mix(
    shipped_registry: FactorRegistry,
) -> None:
    supplier = UserFactorInput("0.25", "kgCO2e/kWh", "supplier disclosure 2022")
    item = ActivityInput("a", "electricity", date(2022, 5, 1), "1000", "kWh", region="CN", factor=supplier)
    location, market = price_activity(shipped_registry, item, RELEASE)
    assert (location.mg, location.factor_id) == (536_600_000, "cn.mee_nbs.electricity_avg.national.2022")
    assert (market.mg, market.step, market.confidence) == (250_000_000, "supplier", "user-supplied")


class _Legacy:
    """A reader holding lines recorded before the hierarchy: one market line counted 0 (missing)."""

    def __init__(self) -> None:
        common = {"activity_id": "gb", "kind": "electricity", "activity": "electricity",
                  "activity_date": date(2024, 5, 1), "scope": 2, "category": "2:purchased-electricity",
                  "quantity": "1000", "unit": "kWh", "region": "GB", "entry_id": "e1"}  # fmt: skip
        self.lines = [
            ActivityLine(**common, mg=207_050_000, method="location", line_no=1,  # type: ignore[arg-type]
                         factor_id="gb.desnz.electricity_generation.2024", factor_release=RELEASE),
            ActivityLine(**common, mg=0, method="market", status=LineStatus.MISSING, line_no=2,  # type: ignore[arg-type]
                         factor_release=RELEASE, reason="no factor for electricity in GB (market method)"),
        ]  # fmt: skip

    def activity_lines(self, tenant: str, start: date, end: date) -> list[ActivityLine]:
        return self.lines

    def book_lines(self, tenant: str, book: Book, start: date, end: date) -> list[BookLine]:
        return []

    def avoided_by_product(self, tenant: str, start: date, end: date) -> list[tuple[str | None, int, int]]:
        return []


def test_an_understated_market_total_is_flagged_in_every_format_and_restating_prices_it(
    shipped_registry: FactorRegistry,
) -> None:
    query = ReportQuery("t", date(2024, 1, 1), date(2024, 12, 31), restate_with=RELEASE)
    report = scope_report(_Legacy(), shipped_registry, query)
    market = report["inventory"]["scope2"]["market"]
    assert market["complete"] is False
    assert market["by_step"] == [{"step": "missing", "energy": {"value": "1", "unit": "MWh"},
                                  "share_percent": "100"}]  # fmt: skip
    assert "INCOMPLETE, understated: 1 market-based line(s)" in report_csv(report)
    assert 'class="warning" role="alert">INCOMPLETE' in report_html(report)
    book = openpyxl.load_workbook(io.BytesIO(report_xlsx(report)))
    assert any("INCOMPLETE" in str(c.value) for row in book["Summary"].iter_rows() for c in row)
    restated = {x["line"]: x for x in report["restatement"]["lines"]}
    assert restated["scope2:market"]["new"] == {"value": "0.20705", "unit": "tCO2e"}
    assert report["restatement"]["unresolved"] == []
