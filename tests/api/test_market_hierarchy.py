"""Market-based scope 2 through the GHG Protocol hierarchy, on SQLite and PostgreSQL: the 2022 inventory
that gave 58.56 t market-based against 753.07 t location-based (provinces, GB and US without a market
factor counted 0) now prices every line, each naming its step; figures computed here by hand (Decimal)."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from tests.api.reporting import value

# Shipped factors (release 2026-12), kg per kWh, as published.
CN_2022_AVERAGE = Decimal("0.5366")
CN_2022_RESIDUAL = Decimal("0.5856")  # national, excluding market-traded non-fossil electricity
HEBEI_2022 = Decimal("0.7252")
SICHUAN_2022 = Decimal("0.1404")
GB_2024 = Decimal("0.20705")
LB = Decimal("0.45359237")  # kg per lb, exact by definition
US_2023 = (Decimal("771.523") + Decimal("0.057") * 28 + Decimal("0.008") * 265) * LB / 1000  # lbCO2e/MWh

# (activity id, region, date, kWh, location factor, market factor, market step, market factor id)
LINES = [
    ("cn-hq", "CN", "2022-06-30", "100000", CN_2022_AVERAGE, CN_2022_RESIDUAL, "residual-mix",
     "cn.mee_nbs.electricity_excl_market_nonfossil.national.2022"),
    ("hebei", "CN-HE", "2022-06-30", "400000", HEBEI_2022, CN_2022_RESIDUAL, "national-residual-mix",
     "cn.mee_nbs.electricity_excl_market_nonfossil.national.2022"),
    ("sichuan", "CN-SC", "2022-06-30", "20000", SICHUAN_2022, CN_2022_RESIDUAL, "national-residual-mix",
     "cn.mee_nbs.electricity_excl_market_nonfossil.national.2022"),
    ("london", "GB", "2024-03-31", "1000000", GB_2024, GB_2024, "grid-average",
     "gb.desnz.electricity_generation.2024"),
    ("us", "US", "2023-09-30", "567258", US_2023, US_2023, "grid-average",
     "us.epa_egrid.electricity_co2e_ar5.us.2023"),
]  # fmt: skip
PERIOD = {"from": "2022-01-01", "to": "2024-12-31"}


def _mg(kwh: str, kg_per_kwh: Decimal) -> int:
    return int((Decimal(kwh) * kg_per_kwh * 10**6).to_integral_value(rounding=ROUND_HALF_EVEN))


def _tonnes(mg: int) -> Decimal:
    return (Decimal(mg) / 10**9).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _post(client: TestClient) -> dict[str, Any]:
    activities = [
        {"activity_id": a, "kind": "electricity", "date": day, "quantity": {"value": kwh, "unit": "kWh"},
         "region": region}
        for a, region, day, kwh, *_ in LINES
    ]  # fmt: skip
    response = client.post(
        "/v1/activities",
        json={"batch_id": "inventory-2022", "activities": activities},
        headers={"Idempotency-Key": "inventory-2022"},
        params={"unit": "mgCO2e"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_2022_inventory_is_priced_through_the_hierarchy_not_understated(client: TestClient) -> None:
    location = sum(_mg(kwh, loc) for _, _, _, kwh, loc, *_ in LINES)
    market = sum(_mg(kwh, mkt) for _, _, _, kwh, _, mkt, *_ in LINES)
    assert _tonnes(location) == Decimal("753.07")  # the location-based figure
    understated = _mg("100000", CN_2022_RESIDUAL)  # what counting the missing lines as 0 gave
    assert _tonnes(understated) == Decimal("58.56")
    assert _tonnes(market) == Decimal("711.03")

    batch = _post(client)
    assert value(batch["totals"]["scope2_location"]) == location
    assert value(batch["totals"]["scope2_market"]) == market
    assert batch["missing"] == []
    steps = {x["activity_id"]: x for x in batch["lines"] if x["method"] == "market"}
    for activity_id, region, _, _, _, _, step, factor_id in LINES:
        line = steps[activity_id]
        assert (line["step"], line["factor"]["id"], line["region"]) == (step, factor_id, region)
        assert line["factor"]["release"] == "2026-12" and line["reason"]
        assert line["status"] == "computed" and value(line["amount"]) > 0
    assert "fallback rule: the national residual mix of CN" in steps["hebei"]["reason"]
    assert "last resort: the location-based grid average of GB" in steps["london"]["reason"]

    report = client.get("/v1/reports/scopes", params={**PERIOD, "unit": "mgCO2e"}).json()
    scope2 = report["inventory"]["scope2"]
    assert value(scope2["market"]["amount"]) == market
    assert value(report["inventory"]["totals"]["market_based"]) == market
    assert value(report["inventory"]["totals"]["location_based"]) == location
    assert scope2["market"]["complete"] is True
    assert scope2["market"]["by_step"] == [
        {"step": "residual-mix", "energy": {"value": "100", "unit": "MWh"}, "share_percent": "4.79"},
        {
            "step": "national-residual-mix",
            "energy": {"value": "420", "unit": "MWh"},
            "share_percent": "20.12",
        },
        {"step": "grid-average", "energy": {"value": "1567.258", "unit": "MWh"}, "share_percent": "75.09"},
    ]
    trace = client.get(
        "/v1/reports/scopes/trace", params={**PERIOD, "unit": "mgCO2e", "line": "scope2:market"}
    )
    assert value(trace.json()["amount"]) == market


def test_csv_xlsx_and_html_show_the_hierarchy_total_and_its_steps(client: TestClient) -> None:
    _post(client)
    market = _tonnes(sum(_mg(kwh, mkt) for _, _, _, kwh, _, mkt, *_ in LINES))
    text = client.get("/v1/reports/scopes", params={**PERIOD, "format": "csv"}).text
    rows = list(csv.reader(io.StringIO(text)))
    summary = {r[1]: r for r in rows if r and r[0] == "Summary"}
    assert Decimal(summary["total:market"][3]).quantize(Decimal("0.01")) == market
    assert "INCOMPLETE" not in text
    steps = {r[1]: r[2:] for r in rows if r and r[0] == "Scope 2 market steps"}
    assert steps["grid-average"] == ["1567.258", "75.09"]
    xlsx = client.get("/v1/reports/scopes", params={**PERIOD, "format": "xlsx"}).content
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert "Scope 2 market steps" in book.sheetnames
    html = client.get("/v1/reports/scopes", params={**PERIOD, "format": "html"}).text
    assert f"{market:,}" in html or str(market) in html
    assert 'class="warning"' not in html


def test_a_life_cycle_factor_cannot_price_an_inventory_line(client: TestClient) -> None:
    for kind, kind_type in (("purchased_goods", "electricity.footprint"),
                            ("purchased_goods", "electricity.footprint.wind")):  # fmt: skip
        activity = {"activity_id": "pcf", "kind": kind, "type": kind_type, "date": "2023-06-30",
                    "region": "CN", "quantity": {"value": "1000", "unit": "kWh"}}  # fmt: skip
        response = client.post(
            "/v1/activities",
            json={"batch_id": "pcf", "activities": [activity]},
            headers={"Idempotency-Key": f"pcf-{kind_type}"},
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "rule inventory-boundary" in problem["detail"] and kind_type in problem["detail"]
    assert client.get("/v1/ledger/entries").json()["data"] == []
