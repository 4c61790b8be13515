"""Energy savings, previews, reversals, pagination and totals."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_loan_batches import avoided_total, entry_count, loans, mg, post

ANT = {
    "saving_id": "ant-2021",
    "energy_saved": {"value": "46769.74", "unit": "MWh"},
    "period": {"start": "2021-01-01", "end": "2021-12-31"},
    "factor_id": "ant.green_computing.2021",
}


def save(client: TestClient, body: dict[str, Any], **params: str) -> Any:
    return client.post(
        "/v1/energy-savings", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, params=params
    )


def test_ant_group_green_computing_reproduces_the_report(client: TestClient) -> None:
    response = save(client, ANT)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["avoided"] == {"value": "21883.63", "unit": "tCO2e"}
    assert result["factor"]["value"] == "21883.63 / 46769.74"
    assert result["factor"]["confidence"] == "derived"
    entry = client.get(f"/v1/ledger/entries/{result['entry_id']}").json()
    assert entry["book"] == "avoided"
    assert entry["period_end"] == "2021-12-31"
    listed = client.get("/v1/ledger/entries").json()["data"]
    assert listed == [entry]  # the list shows each entry as the single read does, claim included
    assert entry["lines"][0]["quantity"] == {"value": "46769.74", "unit": "MWh"}


def test_grid_lookup_by_region_and_method(client: TestClient) -> None:
    body = {**ANT, "factor_id": None, "region": "CN", "energy_saved": {"value": "1000", "unit": "kWh"}}
    location = save(client, {**body, "method": "location"}).json()
    market = save(client, {**body, "method": "market"}).json()
    assert (location["avoided"]["value"], location["method"]) == ("0.5568", "location")
    assert (market["avoided"]["value"], market["method"]) == ("0.5942", "market")


def test_a_period_outside_the_factor_validity_is_refused(client: TestClient) -> None:
    response = save(client, {**ANT, "period": {"start": "2021-06-01", "end": "2022-05-31"}})
    assert response.status_code == 422
    assert "split the period" in response.json()["detail"]
    assert entry_count(client) == 0


def test_energy_in_loans_is_a_unit_error_that_names_the_dimension(client: TestClient) -> None:
    response = save(client, {**ANT, "energy_saved": {"value": "5", "unit": "loan"}})
    assert response.status_code == 422
    assert response.json()["detail"] == "unit 'loan' has dimension loans, expected a quantity of energy"
    unknown = save(client, {**ANT, "energy_saved": {"value": "5", "unit": "wibble"}})
    assert unknown.json()["detail"] == "unknown unit 'wibble'"


def test_a_preview_computes_and_records_nothing(client: TestClient) -> None:
    post(client, {"batch_id": "seen", "loans": loans("V", 2)})
    preview = client.post(
        "/v1/calculations", json={"kind": "loan_batch", "batch_id": "p", "loans": loans("V", 3)}
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["entry_id"] is None
    assert preview.json()["duplicates"] == ["V0", "V1"]
    assert preview.json()["loans_counted"] == 1
    energy = client.post("/v1/calculations", json={"kind": "energy_saving", **ANT})
    assert energy.json()["avoided"]["value"] == "21883.63"
    assert entry_count(client) == 1


def test_a_reversal_negates_once_and_lets_its_loans_count_again(client: TestClient) -> None:
    first = post(client, {"batch_id": "wrong", "loans": loans("W", 3)}).json()
    reversal = client.post(f"/v1/ledger/entries/{first['entry_id']}/reversal")
    assert reversal.status_code == 201
    assert reversal.json()["reverses"] == first["entry_id"]
    assert reversal.json()["amount"] == {"value": "-0.0001044", "unit": "tCO2e"}
    again = client.post(f"/v1/ledger/entries/{first['entry_id']}/reversal")
    assert (again.status_code, again.json()["entry_id"]) == (200, reversal.json()["entry_id"])
    assert avoided_total(client) == 0
    corrected = post(client, {"batch_id": "right", "loans": loans("W", 3)}).json()
    assert corrected["loans_counted"] == 3
    assert avoided_total(client) == 3 * 34_800
    original = client.get(f"/v1/ledger/entries/{first['entry_id']}").json()
    assert original["amount"] == first["avoided"]  # the original entry is untouched


def test_reversals_are_not_reversed_and_unknown_entries_are_404(client: TestClient) -> None:
    first = post(client, {"batch_id": "r", "loans": loans("Q", 1)}).json()
    reversal = client.post(f"/v1/ledger/entries/{first['entry_id']}/reversal").json()
    response = client.post(f"/v1/ledger/entries/{reversal['entry_id']}/reversal")
    assert response.status_code == 422
    assert client.post("/v1/ledger/entries/e_missing/reversal").status_code == 404
    assert client.get("/v1/ledger/entries/e_missing").status_code == 404


def test_entries_page_with_a_cursor(client: TestClient) -> None:
    ids = [
        post(client, {"batch_id": f"p{i}", "loans": loans(f"P{i}-", 1)}).json()["entry_id"] for i in range(5)
    ]
    first = client.get("/v1/ledger/entries", params={"limit": 2}).json()
    assert [e["entry_id"] for e in first["data"]] == ids[:2]
    assert first["has_more"] is True
    rest = client.get("/v1/ledger/entries", params={"limit": 10, "starting_after": ids[1]}).json()
    assert [e["entry_id"] for e in rest["data"]] == ids[2:]
    assert rest["has_more"] is False
    bad = client.get("/v1/ledger/entries", params={"starting_after": "e_nope"})
    assert bad.status_code == 422


def test_totals_keep_the_books_apart_and_filter_by_activity_date(client: TestClient) -> None:
    post(client, {"batch_id": "jan", "loans": loans("J", 2, day="2021-01-15")})
    post(client, {"batch_id": "dec", "loans": loans("C", 5, day="2021-12-15")})
    save(client, ANT)
    totals = client.get("/v1/totals", params={"unit": "gCO2e"}).json()["totals"]
    by_book = {t["book"]: t for t in totals}
    assert by_book["inventory"]["amount"] == {"value": "0", "unit": "gCO2e"}
    assert mg(by_book["avoided"]["amount"]) == 7 * 34_800 + 21_883_630_000_000
    january = client.get("/v1/totals", params={"from": "2021-01-01", "to": "2021-01-31", "book": "avoided"})
    assert mg(january.json()["totals"][0]["amount"]) == 2 * 34_800 + 21_883_630_000_000  # saving starts Jan 1
    backwards = client.get("/v1/totals", params={"from": "2021-02-01", "to": "2021-01-01"})
    assert backwards.status_code == 422
