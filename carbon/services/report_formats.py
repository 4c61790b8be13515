"""The scope report as tables, and those tables as CSV, XLSX and a self-contained HTML page with SVG charts.

Amounts stay exact decimal strings until a format needs a number: CSV writes the exact text (and no cell a
spreadsheet would evaluate: see `carbon.core.text.spreadsheet_cell`), XLSX writes
numbers (units in the headers) and writes every text cell as a string, never a formula; the HTML page
rounds for display only (tCO2e to 2 decimals, half-to-even) and draws its charts as inline SVG, with no
external script, style sheet or font.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode

import xlsxwriter

from carbon.core.text import spreadsheet_cell
from carbon.services.reports import AVOIDED_NOTE

__all__ = ["Table", "incomplete_note", "report_csv", "report_html", "report_tables", "report_xlsx"]

Cell = str | Decimal | int | None


@dataclass(frozen=True, slots=True)
class Table:
    """One section of the report: a sheet in XLSX, a block in CSV, a table in HTML."""

    name: str
    headers: list[str]
    rows: list[list[Cell]]


def _n(amount: dict[str, str]) -> Decimal:
    return Decimal(amount["value"])


def incomplete_note(report: dict[str, Any]) -> str | None:
    """Why the market-based figure is understated, when lines recorded without a market factor count 0."""
    market = report["inventory"]["scope2"]["market"]
    if market.get("complete", True):
        return None
    count = len(market.get("missing") or [])
    return (f"INCOMPLETE, understated: {count} market-based line(s) recorded without a market factor count "
            "0; restate the report to price them through the market-based hierarchy")  # fmt: skip


def _summary(report: dict[str, Any], unit: str) -> Table:
    inv = report["inventory"]
    note = incomplete_note(report)
    flag = f" - {note}" if note else ""
    rows: list[list[Cell]] = [
        ["scope1:total", "Scope 1", _n(inv["scope1"]["total"])],
        ["scope2:location", "Scope 2 (location-based)", _n(inv["scope2"]["location"]["amount"])],
        ["scope2:market", f"Scope 2 (market-based){flag}", _n(inv["scope2"]["market"]["amount"])],
        ["scope3:total", "Scope 3", _n(inv["scope3"]["total"])],
        ["total:location", "Total, scope 2 location-based", _n(inv["totals"]["location_based"])],
        ["total:market", f"Total, scope 2 market-based{flag}", _n(inv["totals"]["market_based"])],
        ["avoided:total", "Avoided (beside the inventory, never subtracted)", _n(report["avoided"]["total"])],
    ]
    return Table("Summary", ["line", "figure", f"amount ({unit})"], rows)


def _categories(report: dict[str, Any], scope: str, unit: str) -> Table:
    rows: list[list[Cell]] = [
        [c["line"], c["category"], _n(c["amount"]), c["lines"]]
        for c in report["inventory"][scope]["categories"]
    ]
    return Table(f"Scope {scope[-1]}", ["line", "category", f"amount ({unit})", "lines"], rows)


def _scope2(report: dict[str, Any], unit: str) -> Table:
    s2 = report["inventory"]["scope2"]
    rows: list[list[Cell]] = [
        ["scope2:location", "location", _n(s2["location"]["amount"]), "yes"],
        ["scope2:market", "market", _n(s2["market"]["amount"]), "yes" if s2["market"]["complete"] else "no"],
    ]
    return Table("Scope 2", ["line", "method", f"amount ({unit})", "complete"], rows)


def _market_steps(report: dict[str, Any]) -> Table:
    rows: list[list[Cell]] = [
        [x["step"], Decimal(x["energy"]["value"]), Decimal(x["share_percent"])]
        for x in report["inventory"]["scope2"]["market"].get("by_step") or []
    ]
    return Table("Scope 2 market steps", ["step", "energy (MWh)", "share (%)"], rows)


def _avoided(report: dict[str, Any], unit: str) -> Table:
    rows: list[list[Cell]] = [
        [k["line"], k["kind"], _n(k["amount"]), k["lines"]] for k in report["avoided"]["kinds"]
    ]
    return Table("Avoided", ["line", "kind", f"amount ({unit})", "lines"], rows)


def _products(report: dict[str, Any], unit: str) -> Table:
    rows: list[list[Cell]] = [
        [p["product"], _n(p["amount"]), p["loans"]] for p in report["avoided"]["by_product"]
    ]
    return Table("Avoided by product", ["product", f"amount ({unit})", "loans"], rows)


_BREAKDOWN = ["scope1", "scope2_location", "scope2_market", "scope3", "total_location", "total_market"]


def _breakdown(report: dict[str, Any], key: str, label: str, name: str, unit: str) -> Table:
    extra = ["avoided"] if key == "by_month" else []
    columns = _BREAKDOWN + extra
    rows: list[list[Cell]] = [[r[label], *(_n(r[c]) for c in columns)] for r in report[key]]
    return Table(name, [label, *(f"{c} ({unit})" for c in columns)], rows)


def _factors(report: dict[str, Any]) -> Table:
    keys = ["id", "version", "release", "value", "unit", "confidence", "method", "gwp_set", "book", "source"]
    rows: list[list[Cell]] = [[f[k] for k in keys] for f in report["factors"]]
    return Table("Factors", keys, rows)


def _restatement(report: dict[str, Any], unit: str) -> Table:
    restated = report["restatement"]
    rows: list[list[Cell]] = [
        [x["line"], _n(x["old"]), _n(x["new"]), _n(x["difference"])] for x in restated["lines"]
    ]
    old = ", ".join(restated["from_releases"]) or "-"
    headers = ["line", f"old {old} ({unit})", f"new {restated['release']} ({unit})", f"difference ({unit})"]
    return Table("Restatement", headers, rows)


def _digest(report: dict[str, Any]) -> Table:
    digest = report["digest"]
    rows: list[list[Cell]] = [
        ["from", report["from"]], ["to", report["to"]], ["entity", report["entity"]],
        ["factor releases", ", ".join(report["factor_releases"])], ["digest algorithm", digest["algorithm"]],
        ["digest", digest["value"]], ["lines", digest["lines"]], ["note", AVOIDED_NOTE],
    ]  # fmt: skip
    return Table("Digest", ["field", "value"], rows)


def report_tables(report: dict[str, Any]) -> list[Table]:
    """The report's sections as tables, numbers exact."""
    unit = report["unit"]
    tables = [
        _summary(report, unit),
        _categories(report, "scope1", unit),
        _scope2(report, unit),
        _market_steps(report),
        _categories(report, "scope3", unit),
        _avoided(report, unit),
        _products(report, unit),
        _breakdown(report, "by_month", "month", "Monthly", unit),
        _breakdown(report, "by_entity", "entity", "By entity", unit),
        _breakdown(report, "by_region", "region", "By region", unit),
        _factors(report),
    ]
    if report.get("restatement"):
        tables.append(_restatement(report, unit))
    tables.append(_digest(report))
    return tables


def report_csv(report: dict[str, Any]) -> str:
    """Every table in one CSV, the section in the first column; numbers as exact decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for table in report_tables(report):
        writer.writerow(["section", *(spreadsheet_cell(h) for h in table.headers)])
        for row in table.rows:
            writer.writerow([spreadsheet_cell(table.name), *(spreadsheet_cell(c) for c in row)])
        writer.writerow([])
    return out.getvalue()


def report_xlsx(report: dict[str, Any]) -> bytes:
    """One sheet per section; numbers as numbers, every text as text (never a formula)."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})  # fmt: skip
    bold = workbook.add_format({"bold": True})
    for table in report_tables(report):
        sheet = workbook.add_worksheet(table.name)
        for col, header in enumerate(table.headers):
            sheet.write_string(0, col, header, bold)
            sheet.set_column(col, col, max(12, min(60, len(header) + 2)))
        for r, row in enumerate(table.rows, 1):
            for col, cell in enumerate(row):
                if isinstance(cell, (Decimal, int)):
                    sheet.write_number(r, col, float(cell))
                elif cell is not None:
                    sheet.write_string(r, col, cell)
    workbook.close()
    return out.getvalue()


# --- HTML ---------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1b1b;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}td.num{text-align:right}
.note{background:#eef6ee;border-left:4px solid #2e7d32;padding:6px 10px}
.warning{background:#fdecea;border-left:4px solid #b71c1c;padding:6px 10px;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #ddd;background:#fff}
.bar{fill:#35608f}.bar.market{fill:#7a9cc6}.bar.avoided{fill:#2e7d32}
text{font-family:system-ui,sans-serif;font-size:11px;fill:#1b1b1b}
"""


def _display(value: Decimal) -> str:
    rounded = value.quantize(Decimal("0.01"))  # ROUND_HALF_EVEN is Decimal's default
    return f"{rounded:,.2f}"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart."""

    label: str
    value: Decimal
    style: str = ""


def svg_bar_chart(name: str, title: str, bars: list[Bar], unit: str) -> str:
    """A vertical bar chart as inline SVG, wide enough that no label is cut off."""
    slot = max(64, max((len(b.label) for b in bars), default=0) * 7 + 12)
    width, top, plot, bottom, left = len(bars) * slot + 40, 34, 160, 34, 20
    height = top + plot + bottom
    peak = max((b.value for b in bars), default=Decimal(0))
    parts = [
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="chart-title" x="{left}" y="16">{escape(title)} ({escape(unit)})</text>',
    ]
    for i, bar in enumerate(bars):
        x = left + i * slot + 8
        h = 0 if peak <= 0 or bar.value <= 0 else max(1, int(plot * bar.value / peak))
        y = top + plot - h
        centre = x + (slot - 16) // 2
        parts.append(f'<rect class="bar {bar.style}" x="{x}" y="{y}" width="{slot - 16}" height="{h}">'
                     f"<title>{escape(bar.label)}: {bar.value} {escape(unit)}</title></rect>")  # fmt: skip
        parts.append(f'<text class="value-label" x="{centre}" y="{y - 4}" text-anchor="middle">'
                     f"{_display(bar.value)}</text>")  # fmt: skip
        parts.append(f'<text class="bar-label" x="{centre}" y="{top + plot + 16}" text-anchor="middle">'
                     f"{escape(bar.label)}</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _charts(report: dict[str, Any]) -> str:
    unit = report["unit"]
    inv = report["inventory"]
    split = [
        Bar("Scope 1", _n(inv["scope1"]["total"])),
        Bar("Scope 2 location", _n(inv["scope2"]["location"]["amount"])),
        Bar(
            "Scope 2 market" + (" (incomplete)" if incomplete_note(report) else ""),
            _n(inv["scope2"]["market"]["amount"]),
            "market",
        ),
        Bar("Scope 3", _n(inv["scope3"]["total"])),
    ]
    months = [Bar(m["month"], _n(m["total_location"])) for m in report["by_month"]]
    beside = [
        Bar("Inventory location", _n(inv["totals"]["location_based"])),
        Bar(
            "Inventory market" + (" (incomplete)" if incomplete_note(report) else ""),
            _n(inv["totals"]["market_based"]),
            "market",
        ),
        Bar("Avoided", _n(report["avoided"]["total"]), "avoided"),
    ]
    return "".join([
        svg_bar_chart("scope-split", "Scope split", split, unit),
        svg_bar_chart("monthly-trend", "Monthly inventory, location-based", months, unit),
        svg_bar_chart("avoided-beside-inventory", "Avoided beside the inventory", beside, unit),
    ])  # fmt: skip


def _trace_link(report: dict[str, Any], line: str, base: str) -> str:
    query = {"line": line, "from": report["from"], "to": report["to"]}
    for key in ("entity", "release"):
        if report.get(key):
            query[key] = report[key]
    return f'<a class="trace" href="{escape(base)}?{escape(urlencode(query))}">trace</a>'


def _html_table(report: dict[str, Any], table: Table, base: str) -> str:
    traceable = table.headers[0] == "line"
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers) + ("<th>trace</th>" if traceable else "")
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{_display(c)}</td>' if isinstance(c, Decimal)
            else f"<td>{escape('' if c is None else str(c))}</td>"
            for c in row
        )  # fmt: skip
        if traceable:
            cells += f"<td>{_trace_link(report, str(row[0]), base)}</td>"
        body.append(f"<tr>{cells}</tr>")
    name = escape(table.name)
    return f'<h2>{name}</h2><table data-section="{name}"><tr>{head}</tr>{"".join(body)}</table>'


def report_html(report: dict[str, Any], trace_base: str = "/v1/reports/scopes/trace") -> str:
    """A self-contained page: the sections as tables (each line linked to its trace) and three charts."""
    title = f"Scope report {report['from']} to {report['to']}"
    tables = "".join(_html_table(report, t, trace_base) for t in report_tables(report))
    note = incomplete_note(report)
    warning = f'<p class="warning" role="alert">{escape(note)}</p>' if note else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1>{warning}<p class="note">{escape(AVOIDED_NOTE)} '
        f"Figures in {escape(report['unit'])}, "
        "rounded half-to-even to 2 decimals for display; the JSON, CSV and XLSX carry them exactly.</p>"
        f'<div class="charts">{_charts(report)}</div>{tables}</body></html>'
    )
