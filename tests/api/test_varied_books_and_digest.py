"""Inventory and green-computing figures under the varied test releases, against the oracle, and the scope
report's digest recomputed from its documented canonical rows, read straight from the ledger tables."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from carbon.adapters.schema import activity_lines, entries, entry_lines
from carbon.api import create_app
from carbon.settings import Settings
from tests.backends import BACKENDS, database_url
from tests.integration.test_one_file_every_path import batches, mg
from tests.keys import authorize
from tests.oracle import PINNED, VARIED_FACTORS, Oracle, varied_loans

ORACLE = Oracle()
YEAR = {"from": "2021-01-01", "to": "2021-12-31"}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(str(request.param), tmp_path) as url:
        yield url


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(factors_dir=VARIED_FACTORS, data_dir=tmp_path, database_url=db_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        authorize(test_client)
        yield test_client


def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())},
                           params={"unit": "mgCO2e"})  # fmt: skip
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


ELECTRICITY = [("e-h1", "2021-03-31", "1234.5", "CN"), ("e-h2", "2021-07-01", "1234.5", "CN"),
               ("e-gd", "2021-06-30", "777.77", "CN-GD")]  # fmt: skip


def record_year(client: TestClient) -> None:
    """Electricity in CN before and after the July change and in CN-GD, savings, loans and a reversal."""
    activities = [
        {"activity_id": a, "kind": "electricity", "date": day, "region": region,
         "quantity": {"value": kwh, "unit": "kWh"}}
        for a, day, kwh, region in ELECTRICITY
    ]  # fmt: skip
    post(client, "/v1/activities", {"batch_id": "inv-1", "activities": activities})
    for number, loans in enumerate(batches(varied_loans(300, seed=4, prefix="D", duplicates=5), 120)):
        body = {
            "batch_id": f"d{number}",
            "loans": loans,
            **({"factor_release": PINNED} if number == 1 else {}),
        }
        last = post(client, "/v1/loan-batches", body)
    reversal = client.post(f"/v1/ledger/entries/{last['entry_id']}/reversal",
                           headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    assert reversal.status_code == 201, reversal.text


def test_inventory_lines_use_the_factor_of_their_day_and_region(client: TestClient) -> None:
    activities = [
        {"activity_id": a, "kind": "electricity", "date": day, "region": region,
         "quantity": {"value": kwh, "unit": "kWh"}}
        for a, day, kwh, region in ELECTRICITY
    ]  # fmt: skip
    for release in (None, PINNED):
        body: dict[str, Any] = {"batch_id": f"inv-{release}", "activities": activities}
        if release:
            body["factor_release"] = release
        response = client.post("/v1/activities", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        lines = response.json()["lines"]
        for activity_id, day, kwh, region in ELECTRICITY:
            factor = ORACLE.factor("electricity", region, date.fromisoformat(day), release, method="location")
            [line] = [x for x in lines if x["activity_id"] == activity_id and x["method"] == "location"]
            assert (line["factor"]["id"], line["factor"]["release"]) == (factor.id, factor.release)
            assert mg(line["amount"]) == ORACLE.mg(kwh, "kWh", factor)


@pytest.mark.parametrize("release", [None, PINNED])
def test_green_computing_savings_use_the_release_asked_for(client: TestClient, release: str | None) -> None:
    body: dict[str, Any] = {
        "saving_id": f"s-{release}", "energy_saved": {"value": "46769.74", "unit": "MWh"},
        "period": {"start": "2021-01-01", "end": "2021-12-31"}, "factor_id": "test.green.cn",
    }  # fmt: skip
    if release:
        body["factor_release"] = release
    result = post(client, "/v1/energy-savings", body)
    factor = ORACLE.factor("electricity.saved", "CN", date(2021, 12, 31), release)
    assert mg(result["avoided"]) == ORACLE.mg(Decimal("46769.74"), "MWh", factor)
    assert result["factor_release"] == factor.release
    if release == PINNED:
        assert mg(result["avoided"]) == 21_883_630_000_000  # the published 21,883.63 t, exactly
    again = client.post("/v1/energy-savings", json=body, headers={"Idempotency-Key": f"s-{release}"},
                        params={"unit": "mgCO2e"})  # fmt: skip
    replay = client.post("/v1/energy-savings", json=body, headers={"Idempotency-Key": f"s-{release}"},
                         params={"unit": "mgCO2e"})  # fmt: skip
    assert (again.status_code, replay.status_code, replay.headers.get("idempotent-replayed")) == (
        201,
        201,
        "true",
    )
    assert replay.json()["entry_id"] == again.json()["entry_id"] != result["entry_id"]
    entry = client.get(f"/v1/ledger/entries/{result['entry_id']}").json()
    assert [line["factor"] for line in entry["lines"]] == [
        {"id": factor.id, "version": factor.version, "release": factor.release}
    ]
    assert entry["factor_release"] == factor.release


def test_a_reversal_keeps_the_release_and_is_made_once(client: TestClient) -> None:
    loans = [{"loan_id": "R1", "disbursed_on": "2021-07-16", "channel": "online", "region": "CN-ZJ"}]
    batch = post(client, "/v1/loan-batches", {"batch_id": "r", "loans": loans, "factor_release": PINNED})
    path = f"/v1/ledger/entries/{batch['entry_id']}/reversal"
    first = client.post(path, params={"unit": "mgCO2e"}, headers={"Idempotency-Key": "undo-1"})
    again = client.post(path, params={"unit": "mgCO2e"}, headers={"Idempotency-Key": "undo-2"})
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert again.json()["entry_id"] == first.json()["entry_id"]
    reversal = first.json()
    assert (reversal["reverses"], reversal["factor_release"]) == (batch["entry_id"], PINNED)
    factor = ORACLE.factor("online_loan", "CN-ZJ", date(2021, 7, 16), PINNED)
    assert mg(reversal["amount"]) == -ORACLE.mg(1, "loan", factor) == -41_234
    assert [(line["quantity"], line["factor"]) for line in reversal["lines"]] == [
        ({"value": "-1", "unit": "loan"}, {"id": factor.id, "version": factor.version, "release": PINNED})
    ]


def canonical_digest(url: str, start: date, end: date) -> tuple[str, int]:
    """The digest as README documents it, from the tables: inventory lines of entries not reversed and the
    avoided book's lines (reversals included), one JSON array per line, sorted by (entry id, line number)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            reversed_ids = {r for (r,) in connection.execute(select(entries.c.reverses)) if r}
            inventory = [
                [r.entry_id, r.line_no, r.activity_id, r.activity_date.isoformat(), r.scope, r.category,
                 r.method, r.status, r.quantity, r.unit, int(r.mg), r.factor_id, r.factor_version,
                 r.factor_release]
                for r in connection.execute(select(activity_lines))
                if r.entry_id not in reversed_ids and start <= r.activity_date <= end
            ]  # fmt: skip
            avoided = [
                [r.entry_id, r.line_no, r.activity, r.activity_date.isoformat(), r.quantity, r.unit,
                 int(r.mg), r.factor_id, r.factor_version, r.factor_release]
                for r in connection.execute(select(entry_lines).where(entry_lines.c.book == "avoided"))
                if start <= r.activity_date <= end
            ]  # fmt: skip
    finally:
        engine.dispose()
    rows = sorted(inventory + avoided, key=lambda row: (row[0], row[1]))
    text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), len(rows)


def test_the_report_digest_is_the_hash_of_its_canonical_rows(client: TestClient, db_url: str) -> None:
    record_year(client)
    report = client.get("/v1/reports/scopes", params=YEAR).json()
    value, lines = canonical_digest(db_url, date(2021, 1, 1), date(2021, 12, 31))
    assert report["digest"] == {"algorithm": "sha256", "value": value, "lines": lines}
    assert lines > 20
    half = client.get("/v1/reports/scopes", params={"from": "2021-01-01", "to": "2021-06-30"}).json()
    assert half["digest"]["value"] == canonical_digest(db_url, date(2021, 1, 1), date(2021, 6, 30))[0]
    assert half["digest"]["value"] != value
