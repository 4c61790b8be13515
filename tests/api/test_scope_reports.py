"""Inventory activities and the scope report over HTTP, on SQLite and PostgreSQL: a seeded year reproduced
to the milligram, avoided emissions beside the inventory, restatement, trace, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.registry import FactorRegistry, load_registry
from carbon.settings import Settings
from tests.api.reporting import (
    CN_LOCATION,
    CN_MARKET,
    FORMULA_ENTITY,
    FORMULA_SOURCE,
    NEW,
    OLD,
    build_factor_folder,
    mg,
    post_year,
    seeded_year,
    value,
)
from tests.keys import authorize

YEAR = {"from": "2024-01-01", "to": "2024-12-31"}
MG = {**YEAR, "unit": "mgCO2e"}


@pytest.fixture(scope="session")
def report_registry(tmp_path_factory: pytest.TempPathFactory) -> FactorRegistry:
    return load_registry(build_factor_folder(tmp_path_factory.mktemp("report-factors")))


@pytest.fixture
def report_client(settings: Settings, report_registry: FactorRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, report_registry), raise_server_exceptions=False) as client:
        authorize(client)
        yield client


def _report(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get("/v1/reports/scopes", params={**MG, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_seeded_year_reproduces_independent_figures_to_the_milligram(report_client: TestClient) -> None:
    post_year(report_client)
    _, expect = seeded_year()
    report = _report(report_client)
    inventory = report["inventory"]
    months = expect["month"].values()
    total = {c: sum(m[c] for m in months) for c in ("scope1", "scope2_location", "scope2_market", "scope3")}
    assert value(inventory["scope1"]["total"]) == total["scope1"]
    assert value(inventory["scope2"]["location"]["amount"]) == total["scope2_location"]
    assert value(inventory["scope2"]["market"]["amount"]) == total["scope2_market"]
    assert inventory["scope2"]["market"]["complete"] is True
    assert len(inventory["scope2"]["market"]["instruments"]) == 12
    assert value(inventory["scope3"]["total"]) == total["scope3"]
    assert (
        value(inventory["totals"]["location_based"])
        == total["scope1"] + total["scope2_location"] + total["scope3"]
    )
    assert (
        value(inventory["totals"]["market_based"])
        == total["scope1"] + total["scope2_market"] + total["scope3"]
    )
    categories = {
        c["line"]: value(c["amount"]) for s in ("scope1", "scope3") for c in inventory[s]["categories"]
    }
    assert categories == dict(expect["cat"])
    for row in report["by_month"]:
        for column in ("scope1", "scope2_location", "scope2_market", "scope3"):
            assert value(row[column]) == expect["month"][row["month"]][column], (row["month"], column)
    assert [r["month"] for r in report["by_month"]] == [f"2024-{m:02d}" for m in range(1, 13)]
    for row in report["by_entity"]:
        for column in ("scope1", "scope2_location", "scope2_market", "scope3"):
            assert value(row[column]) == expect["entity"][row["entity"]][column]
    assert report["factor_releases"] == [OLD]
    # the figures behind the fixed values, spelled out once: January's HQ electricity
    assert mg("12250.25", CN_LOCATION[OLD]) == 6_125_125_000
    assert mg("10250.25", CN_MARKET) == 6_150_150_000
    # a re-run over the same lines proves it is the same report
    assert _report(report_client)["digest"] == report["digest"]
    # 12 months x (HQ: location, market, instrument; DC: location, market; T&D, car, rail, bus, diesel)
    # + 4 quarters x (HFC-32, paper) + one R-410A leak
    assert report["digest"]["lines"] == 12 * 10 + 4 * 2 + 1


def test_recording_avoided_emissions_leaves_every_inventory_figure_unchanged(
    report_client: TestClient,
) -> None:
    post_year(report_client)
    period = {"from": "2021-01-01", "to": "2024-12-31", "unit": "mgCO2e"}
    before = _report(report_client, **period)
    totals_before = report_client.get("/v1/totals", params={**period, "book": "inventory"}).json()
    loans = {
        "batch_id": "b1",
        "loans": [
            {"loan_id": "L1", "disbursed_on": "2021-06-30", "channel": "online", "product": "=micro"},
            {"loan_id": "L2", "disbursed_on": "2021-06-30", "channel": "online"},
            {"loan_id": "L3", "disbursed_on": "2021-06-30", "channel": "branch", "product": "=micro"},
        ],
    }
    assert (
        report_client.post("/v1/loan-batches", json=loans, headers={"Idempotency-Key": "l1"}).status_code
        == 201
    )
    saving = {
        "saving_id": "s1",
        "energy_saved": {"value": "46769.74", "unit": "MWh"},
        "period": {"start": "2021-01-01", "end": "2021-12-31"},
        "factor_id": "ant.green_computing.2021",
    }
    assert (
        report_client.post("/v1/energy-savings", json=saving, headers={"Idempotency-Key": "s1"}).status_code
        == 201
    )
    after = _report(report_client, **period)
    assert after["inventory"] == before["inventory"]
    strip = ("avoided",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in after["by_month"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in before["by_month"]
    ]
    assert after["by_entity"] == before["by_entity"]
    assert report_client.get("/v1/totals", params={**period, "book": "inventory"}).json() == totals_before
    kinds = {k["kind"]: value(k["amount"]) for k in after["avoided"]["kinds"]}
    assert kinds == {"online-lending": 2 * 34_800, "green-computing": 21_883_630_000_000}
    assert value(after["avoided"]["total"]) == 69_600 + 21_883_630_000_000
    assert value(before["avoided"]["total"]) == 0
    assert after["digest"] != before["digest"]
    loan_factor = next(f for f in after["factors"] if f["id"] == "mybank.online_loan.2021")
    assert (loan_factor["book"], loan_factor["value"], loan_factor["unit"]) == (
        "avoided",
        "34.80",
        "gCO2e/loan",
    )
    products = [(p["product"], value(p["amount"]), p["loans"]) for p in after["avoided"]["by_product"]]
    assert products == [(None, 34_800, 1), ("=micro", 34_800, 1)]
    xlsx = report_client.get("/v1/reports/scopes", params={**period, "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["Avoided by product"]
    product = next(c for c in sheet["A"] if c.value == "=micro")
    assert product.data_type == "s" and sheet.cell(product.row, 2).value == 34_800
    june = next(r for r in after["by_month"] if r["month"] == "2021-06")
    assert value(june["avoided"]) == 69_600


def test_restating_under_another_release_shows_both_and_changes_nothing(report_client: TestClient) -> None:
    entry_ids = post_year(report_client)
    stored = [report_client.get(f"/v1/ledger/entries/{i}").json() for i in entry_ids]
    before = _report(report_client)
    restated = _report(report_client, restate_with=NEW)
    activities, expect = seeded_year()
    kwh = [a["quantity"]["value"] for a in activities if a["kind"] == "electricity"]
    old = sum(mg(q, CN_LOCATION[OLD]) for q in kwh)
    new = sum(mg(q, CN_LOCATION[NEW]) for q in kwh)
    lines = {x["line"]: x for x in restated["restatement"]["lines"]}
    assert restated["restatement"]["release"] == NEW
    assert (value(lines["scope2:location"]["old"]), value(lines["scope2:location"]["new"])) == (old, new)
    assert value(lines["scope2:location"]["difference"]) == new - old > 0
    assert value(lines["scope2:market"]["difference"]) == 0
    assert value(lines["total:location"]["difference"]) == new - old
    assert value(lines["total:market"]["difference"]) == 0
    assert all(
        value(x["difference"]) == 0 for k, x in lines.items() if not k.startswith(("scope2:loc", "total:loc"))
    )
    assert restated["restatement"]["unresolved"] == []
    # the old figures stay: the report itself, the stored entries and the digest are unchanged
    assert {k: v for k, v in restated.items() if k != "restatement"} == {
        k: v for k, v in before.items() if k != "restatement"
    }
    assert [report_client.get(f"/v1/ledger/entries/{i}").json() for i in entry_ids] == stored
    assert _report(report_client)["digest"] == before["digest"]


def test_trace_leads_from_a_report_line_to_its_entries_and_factors(report_client: TestClient) -> None:
    entry_ids = post_year(report_client)
    report = _report(report_client)
    for line, amount in (
        ("scope2:market", report["inventory"]["scope2"]["market"]["amount"]),
        ("scope1:1:fugitive", report["inventory"]["scope1"]["categories"][0]["amount"]),
        ("total:location", report["inventory"]["totals"]["location_based"]),
    ):
        trace = report_client.get("/v1/reports/scopes/trace", params={**MG, "line": line})
        assert trace.status_code == 200, trace.text
        body = trace.json()
        assert body["amount"] == amount
        assert sum(value(x["amount"]) for x in body["inventory_lines"]) == value(amount)
        assert set(body["entries"]) <= set(entry_ids)
    market = report_client.get("/v1/reports/scopes/trace", params={**MG, "line": "scope2:market"}).json()
    factor_ids = {f["id"] for f in market["factors"]}
    assert factor_ids == {"test.cn.electricity_market.2024"}
    assert {x["status"] for x in market["inventory_lines"]} == {"computed", "instrument"}
    fugitive = report_client.get(
        "/v1/reports/scopes/trace", params={**MG, "line": "scope1:1:fugitive"}
    ).json()
    assert {(f["id"], f["gwp_set"]) for f in fugitive["factors"]} == {
        ("ipcc.ar6.gwp100.hfc_32", "AR6"),
        ("ipcc.ar5.gwp100.r_410a", "AR5"),
    }
    bad = report_client.get("/v1/reports/scopes/trace", params={**MG, "line": "scope9:x"})
    assert bad.status_code == 422


def test_a_region_without_a_market_factor_is_priced_at_its_grid_average_never_zero(
    report_client: TestClient,
) -> None:
    body = {
        "batch_id": "gb",
        "activities": [
            {
                "activity_id": "gb-1",
                "kind": "electricity",
                "date": "2024-05-31",
                "quantity": {"value": "1000", "unit": "kWh"},
                "region": "GB",
            }
        ],
    }
    response = report_client.post(
        "/v1/activities", json=body, headers={"Idempotency-Key": "gb"}, params={"unit": "mgCO2e"}
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert value(result["totals"]["scope2_location"]) == mg("1000", "0.20705")
    assert value(result["totals"]["scope2_market"]) == mg("1000", "0.20705")
    assert result["missing"] == []
    line = next(x for x in result["lines"] if x["method"] == "market")
    assert line["step"] == "grid-average" and "no residual mix for GB" in line["reason"]
    market = _report(report_client)["inventory"]["scope2"]["market"]
    assert market["complete"] is True and value(market["amount"]) == mg("1000", "0.20705")
    replay = report_client.post(
        "/v1/activities", json=body, headers={"Idempotency-Key": "gb"}, params={"unit": "mgCO2e"}
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == result


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"kind": "fuel", "type": "diesel"}, "fuel activity needs its `factor`"),
        ({"kind": "refrigerant", "type": "r_410a", "region": None}, "gwp_set"),
        (
            {
                "instruments": [
                    {
                        "kind": "green_certificate",
                        "energy": {"value": "2000", "unit": "kWh"},
                        "reference": "x",
                    }
                ]
            },
            "more than the electricity",
        ),
        ({"region": "ZZ"}, "no factor"),
    ],
)
def test_activities_that_cannot_be_priced_are_refused_whole(
    report_client: TestClient, change: dict[str, Any], needle: str
) -> None:
    item = {
        "activity_id": "a",
        "kind": "electricity",
        "date": "2024-05-31",
        "quantity": {"value": "1000", "unit": "kWh"},
        "region": "CN",
        **change,
    }
    item = {k: v for k, v in item.items() if v is not None}
    body = {"batch_id": "bad", "activities": [item], "factor_release": OLD}
    response = report_client.post("/v1/activities", json=body, headers={"Idempotency-Key": "bad"})
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"]
    assert report_client.get("/v1/ledger/entries").json()["data"] == []


def test_csv_and_xlsx_carry_the_json_figures_and_text_stays_text(report_client: TestClient) -> None:
    post_year(report_client)
    report = _report(report_client, unit="tCO2e")
    xlsx = report_client.get("/v1/reports/scopes", params={**YEAR, "format": "xlsx"})
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == [
        "Summary",
        "Scope 1",
        "Scope 2",
        "Scope 2 market steps",
        "Scope 3",
        "Avoided",
        "Avoided by product",
        "Monthly",
        "By entity",
        "By region",
        "Factors",
        "Digest",
    ]
    inv = report["inventory"]
    summary = {row[0]: row[2] for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert book["Summary"]["C1"].value == "amount (tCO2e)"
    assert summary["scope2:location"] == float(inv["scope2"]["location"]["amount"]["value"])
    assert summary["scope2:market"] == float(inv["scope2"]["market"]["amount"]["value"])
    assert summary["total:location"] == float(inv["totals"]["location_based"]["value"])
    assert summary["avoided:total"] == 0
    monthly = list(book["Monthly"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in monthly] == [r["month"] for r in report["by_month"]]
    for row, expected in zip(monthly, report["by_month"], strict=True):
        assert isinstance(row[1], float | int)
        assert row[1:5] == tuple(
            float(expected[c]["value"]) for c in ("scope1", "scope2_location", "scope2_market", "scope3")
        )
    entities = book["By entity"]
    cell = next(c for c in entities["A"] if c.value == FORMULA_ENTITY)
    assert cell.data_type == "s"
    sources = [c for c in book["Factors"]["J"] if c.value == FORMULA_SOURCE]
    assert sources and all(c.data_type == "s" for c in sources)
    text = report_client.get("/v1/reports/scopes", params={**YEAR, "format": "csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text.text)))
    csv_summary = {r[1]: r[3] for r in rows if r and r[0] == "Summary"}
    assert csv_summary["scope2:market"] == inv["scope2"]["market"]["amount"]["value"]
    csv_entities = [r[1] for r in rows if r and r[0] == "By entity"]
    assert f"'{FORMULA_ENTITY}" in csv_entities  # a spreadsheet opening the CSV shows it as text
    assert FORMULA_ENTITY not in csv_entities
    accept = report_client.get("/v1/reports/scopes", params=YEAR, headers={"Accept": "text/csv"})
    assert accept.text == text.text


def test_cli_report_writes_the_same_figures(
    report_client: TestClient, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from carbon.cli import app
    from carbon.settings import get_settings

    post_year(report_client)
    report = _report(report_client, unit="tCO2e")
    monkeypatch.setenv("CARBON_DATABASE_URL", settings.resolved_database_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "report.xlsx"
        result = CliRunner().invoke(
            app,
            [
                "report",
                "--from",
                "2024-01-01",
                "--to",
                "2024-12-31",
                "--format",
                "xlsx",
                "--output",
                str(out),
            ],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    summary = {
        r[0]: r[2] for r in openpyxl.load_workbook(out)["Summary"].iter_rows(min_row=2, values_only=True)
    }
    assert summary["scope1:total"] == float(report["inventory"]["scope1"]["total"]["value"])


def test_the_location_based_total_is_the_ledger_total_and_a_reversal_removes_an_entry(
    report_client: TestClient,
) -> None:
    first, second = post_year(report_client)
    report = _report(report_client)
    totals = report_client.get("/v1/totals", params={**MG, "book": "inventory"}).json()["totals"][0]
    assert value(totals["amount"]) == value(report["inventory"]["totals"]["location_based"])
    second_half = report_client.get("/v1/ledger/entries/" + second, params={"unit": "mgCO2e"}).json()
    assert report_client.post(f"/v1/ledger/entries/{second}/reversal").status_code == 201
    after = _report(report_client)
    assert value(after["inventory"]["totals"]["location_based"]) == value(
        report["inventory"]["totals"]["location_based"]
    ) - value(second_half["amount"])
    assert (
        first
        in report_client.get("/v1/reports/scopes/trace", params={**MG, "line": "total:market"}).json()[
            "entries"
        ]
    )
    assert after["digest"] != report["digest"]
