"""The scope report's arithmetic and charts over an in-memory ledger: no database, no HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from carbon.core.inventory import ActivityLine, BookLine, LineStatus
from carbon.core.ledger import EntryLine
from carbon.core.model import Book
from carbon.registry import FactorRegistry
from carbon.services.report_formats import Bar, report_html, report_tables, svg_bar_chart
from carbon.services.reports import ReportQuery, scope_report

DAY = date(2024, 3, 31)


def _line(
    n: int, scope: int, category: str, mg: int, method: str | None = None, **extra: object
) -> ActivityLine:
    return ActivityLine(f"a{n}", "x", "x", DAY, scope, category, "1", "kWh", mg, method=method,
                        entry_id="e_1", line_no=n, **extra)  # type: ignore[arg-type]  # fmt: skip


class FakeReader:
    def __init__(self, inventory: list[ActivityLine], avoided: list[BookLine]) -> None:
        self.inventory, self.avoided = inventory, avoided

    def activity_lines(self, tenant: str, start: date, end: date) -> list[ActivityLine]:
        return [x for x in self.inventory if start <= x.activity_date <= end]

    def book_lines(self, tenant: str, book: Book, start: date, end: date) -> list[BookLine]:
        return [b for b in self.avoided if start <= b.line.activity_date <= end]

    def avoided_by_product(self, tenant: str, start: date, end: date) -> list[tuple[str | None, int, int]]:
        return []


INVENTORY = [
    _line(1, 1, "1:fugitive", 100),
    _line(2, 2, "2:purchased-electricity", 1000, "location"),
    _line(3, 2, "2:purchased-electricity", 800, "market"),
    _line(4, 2, "2:purchased-electricity", 0, "market", status=LineStatus.INSTRUMENT),
    _line(5, 3, "3.6:business-travel", 50),
]
AVOIDED = [BookLine("e_2", 1, EntryLine("online_loan", DAY, "10", "loan", 5000))]
QUERY = ReportQuery("t", date(2024, 1, 1), date(2024, 12, 31), unit="mgCO2e")


def test_scope_2_is_counted_once_per_method_and_avoided_is_never_netted(
    mini_registry: FactorRegistry,
) -> None:
    report = scope_report(FakeReader(INVENTORY, AVOIDED), mini_registry, QUERY)
    totals = report["inventory"]["totals"]
    assert (totals["location_based"]["value"], totals["market_based"]["value"]) == ("1150", "950")
    assert report["avoided"]["total"]["value"] == "5000"
    march = report["by_month"][2]
    assert (march["total_location"]["value"], march["avoided"]["value"]) == ("1150", "5000")
    assert len(report["by_month"]) == 12


def test_the_digest_does_not_depend_on_the_order_lines_are_read(mini_registry: FactorRegistry) -> None:
    one = scope_report(FakeReader(INVENTORY, AVOIDED), mini_registry, QUERY)["digest"]
    two = scope_report(FakeReader(INVENTORY[::-1], AVOIDED), mini_registry, QUERY)["digest"]
    assert one == two and one["lines"] == 6
    fewer = scope_report(FakeReader(INVENTORY[1:], AVOIDED), mini_registry, QUERY)["digest"]
    assert fewer != one


def test_charts_draw_a_bar_and_two_labels_per_value_and_escape_text(mini_registry: FactorRegistry) -> None:
    svg = svg_bar_chart("c", "<title>", [Bar("a", Decimal(1)), Bar("<b>", Decimal(2))], "tCO2e")
    assert svg.count('<rect class="bar') == 2 and svg.count('class="bar-label"') == 2
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    report = scope_report(FakeReader(INVENTORY, AVOIDED), mini_registry, QUERY)
    page = report_html(report)
    assert page.count("<svg") == 3 and "<script" not in page
    assert [t.name for t in report_tables(report)][:3] == ["Summary", "Scope 1", "Scope 2"]
