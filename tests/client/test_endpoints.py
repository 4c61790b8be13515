"""Every endpoint through the client against the real app: typed results, exact amounts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from carbon.api import create_app
from carbon.client import AsyncCarbonClient, CarbonClient, NotFound, to_decimal
from carbon.client.types import ActivityIn, LoanIn
from carbon.core.access import Role
from carbon.services.keys import issue_key
from carbon.settings import Settings
from tests.client.conftest import FAST

LOANS: list[LoanIn] = [
    {"loan_id": "L-1001", "disbursed_on": date(2021, 6, 30), "channel": "online"},
    {"loan_id": "L-1002", "disbursed_on": "2021-06-30", "channel": "online", "product": "micro"},
    {"loan_id": "L-1003", "disbursed_on": "2021-06-30", "channel": "branch", "region": "CN"},
]
ACTIVITIES: list[ActivityIn] = [
    {"activity_id": "hq-elec-06", "kind": "electricity", "date": date(2023, 6, 30), "region": "CN",
     "entity": "HQ", "quantity": {"value": Decimal("1000"), "unit": "kWh"},
     "instruments": [{"kind": "green_certificate", "energy": {"value": "200", "unit": "kWh"},
                      "reference": "GEC-1"}]},
    {"activity_id": "dc-leak-06", "kind": "refrigerant", "date": "2023-06-30", "type": "r_410a",
     "gwp_set": "AR5", "quantity": {"value": "2.5", "unit": "kg"}},
]  # fmt: skip


def test_loan_batches_replay_duplicates_entries_reversal_and_totals(client: CarbonClient) -> None:
    first = client.record_loan_batch("2021-06-30-001", LOANS, idempotency_key="batch-001")
    assert first["loans_received"] == 3 and first["loans_counted"] == 3 and first["duplicates"] == []
    assert first["avoided"] == {"value": "0.0000696", "unit": "tCO2e"}
    assert to_decimal(first["avoided"]) == Decimal("0.0000696")
    assert first["factors"][0]["id"] == "mybank.online_loan.2021" and first["factors"][0]["value"] == "34.80"
    assert client.record_loan_batch("2021-06-30-001", LOANS, idempotency_key="batch-001") == first

    again = client.record_loan_batch("2021-06-30-002", LOANS, unit="mgCO2e")  # a new key: a new write
    assert again["loans_counted"] == 0 and sorted(again["duplicates"]) == ["L-1001", "L-1002", "L-1003"]
    assert again["avoided"] == {"value": "0", "unit": "mgCO2e"}

    totals = client.totals(book="avoided", unit="gCO2e", from_=date(2021, 1, 1), to="2021-12-31")
    assert totals["from"] == "2021-01-01" and totals["to"] == "2021-12-31"
    assert totals["totals"] == [{"book": "avoided", "amount": {"value": "69.6", "unit": "gCO2e"}, "lines": 2}]

    page = client.list_entries(limit=1)
    assert page["has_more"] is True and page["data"][0]["entry_id"] == first["entry_id"]
    entries = list(client.iter_entries(page_size=1, unit="mgCO2e"))
    assert [e["client_reference"] for e in entries] == ["2021-06-30-001", "2021-06-30-002"]
    assert entries[0]["amount"] == {"value": "69600", "unit": "mgCO2e"}

    assert first["entry_id"] is not None
    entry = client.get_entry(first["entry_id"])
    assert entry["book"] == "avoided" and any(line["factor"] is not None for line in entry["lines"])
    reversal = client.reverse_entry(first["entry_id"])
    assert reversal["reverses"] == first["entry_id"]
    assert client.reverse_entry(first["entry_id"]) == reversal  # once per entry
    assert client.totals(book="avoided")["totals"][0]["amount"]["value"] == "0"


def test_energy_savings_and_calculations(client: CarbonClient) -> None:
    saving = client.record_energy_saving(
        {"saving_id": "ant-2021", "energy_saved": {"value": Decimal("46769.74"), "unit": "MWh"},
         "period": {"start": date(2021, 1, 1), "end": date(2021, 12, 31)},
         "factor_id": "ant.green_computing.2021"}
    )  # fmt: skip
    assert saving["avoided"] == {"value": "21883.63", "unit": "tCO2e"} and saving["entry_id"]
    preview = client.calculate_loan_batch("preview", LOANS, unit="gCO2e")
    assert preview["entry_id"] is None and preview["avoided"] == {"value": "69.6", "unit": "gCO2e"}
    energy = client.calculate_energy_saving(
        {"saving_id": "p", "energy_saved": {"value": "1200", "unit": "kWh"}, "region": "CN",
         "period": {"start": "2022-06-01", "end": "2022-06-01"}, "method": "market"}
    )  # fmt: skip
    assert energy["entry_id"] is None and energy["method"] == "market"
    assert [e["kind"] for e in client.iter_entries()] == ["energy_saving"]  # previews record nothing


def test_activities_scope_report_in_every_format_and_trace(client: CarbonClient) -> None:
    recorded = client.record_activities("hq-2023-06", ACTIVITIES)
    assert recorded["activities_received"] == 2
    assert recorded["totals"]["scope1"] == {"value": "4.81", "unit": "tCO2e"}
    assert recorded["totals"]["scope2_location"] == {"value": "0.5306", "unit": "tCO2e"}
    assert recorded["totals"]["scope2_market"] == {"value": "0.48768", "unit": "tCO2e"}

    report = client.scope_report(date(2023, 1, 1), date(2023, 12, 31), unit="kgCO2e")
    assert report["from"] == "2023-01-01" and report["unit"] == "kgCO2e"
    assert report["inventory"]["totals"]["location_based"] == {"value": "5340.6", "unit": "kgCO2e"}
    csv = client.scope_report_file("2023-01-01", "2023-12-31", format="csv")
    assert csv.startswith(b"section,line,figure,amount (tCO2e)\n") and b"0.48768" in csv
    assert client.scope_report_file("2023-01-01", "2023-12-31", format="xlsx").startswith(b"PK")
    assert b"<svg" in client.scope_report_file("2023-01-01", "2023-12-31", format="html")

    trace = client.trace("scope2:location", "2023-01-01", "2023-12-31")
    assert trace["amount"] == {"value": "0.5306", "unit": "tCO2e"}
    assert trace["entries"] == [recorded["entry_id"]]


def test_factor_releases_and_factors(client: CarbonClient) -> None:
    releases = client.factor_releases()
    current = [r for r in releases if r["current"]]
    assert len(current) == 1 and client.factor_release(current[0]["id"]) == current[0]
    found = client.factors(activity="online_loan", region="CN", on=date(2021, 12, 31))
    assert [f["id"] for f in found] == ["mybank.online_loan.2021"]
    factor = client.factor("mybank.online_loan.2021", release=current[0]["id"])
    assert factor["value"] == "34.80" and factor["unit"] == "gCO2e/loan" and factor["source"]["document"]


def test_jobs_upload_state_and_rejected_rows(client: CarbonClient) -> None:
    data = (
        b"loan_id,disbursed_on,channel\nJ-1,2021-06-30,online\nJ-2,not-a-day,online\nJ-3,2021-06-30,branch\n"
    )
    job = client.upload_job(data, format="csv", idempotency_key="job-2021-06")
    assert job["state"] in ("queued", "running", "succeeded") and job["format"] == "csv"
    assert client.upload_job(data, format="csv", idempotency_key="job-2021-06")["job_id"] == job["job_id"]
    deadline = time.monotonic() + 20
    while (job := client.get_job(job["job_id"]))["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["state"] == "succeeded", job
    assert job["result"] is not None and job["result"]["loans_counted"] == 2
    assert job["result"]["rejected_count"] == 1
    rejected = client.get_rejected_rows(job["job_id"]).decode().splitlines()
    assert rejected == ["where,reason", "line 3,disbursed_on must be a date YYYY-MM-DD"]


def test_loan_intensity_windows_and_probes(client: CarbonClient) -> None:
    intensity = client.loan_intensity(
        {"period": {"start": date(2021, 1, 1), "end": date(2021, 12, 31)},
         "energy": {"value": "1000", "unit": "MWh"}, "loans": 1_000_000}
    )  # fmt: skip
    assert intensity["loans_source"] == "request" and intensity["intensity"]["unit"] == "gCO2e/loan"
    assert Decimal(intensity["intensity"]["value"]) > 0

    start = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    points = [
        {"start": start.replace(hour=h).isoformat(), "intensity": v}
        for h, v in enumerate(["500", "400", "100", "100", "300", "600"])
    ]
    windows = client.carbon_aware_windows(
        {"series": {"unit": "gCO2e/kWh", "points": points}, "profile": {"unit": "kWh", "steps": ["2", "1"]},
         "deadline": start.replace(hour=5), "now": start, "top": 2}
    )  # fmt: skip
    assert windows["source"] == "upload" and windows["step_seconds"] == 3600
    assert windows["now"]["emissions"] == {"value": "1400", "unit": "gCO2e"}
    assert windows["windows"][0]["start"].startswith("2026-11-22T02:00:00")
    assert windows["windows"][0]["emissions"] == {"value": "300", "unit": "gCO2e"}
    assert len(windows["windows"]) == 2

    assert client.healthz() == {"status": "ok"}
    assert client.readyz()["status"] == "ready"


def app_key(app: FastAPI) -> str:
    """A key of the running app's own store."""
    state = app.state.carbon
    return issue_key(
        state.keys, state.key_secret, "default", [Role.SUBMIT], "test", datetime.now(UTC)
    ).plaintext


def test_the_async_client_against_the_app(settings: Settings) -> None:
    app = create_app(settings)

    async def run() -> None:
        async with (
            app.router.lifespan_context(app),
            AsyncCarbonClient(
                "http://testserver", transport=httpx.ASGITransport(app=app), retry=FAST, api_key=app_key(app)
            ) as client,
        ):
            first = await client.record_loan_batch("async-1", LOANS)
            assert first["loans_counted"] == 3
            assert await client.record_loan_batch("async-1", LOANS[:1], idempotency_key="k") != first
            entries = [entry async for entry in client.iter_entries(page_size=1)]
            assert [e["client_reference"] for e in entries] == ["async-1", "async-1"]
            assert (await client.totals(book="avoided", unit="gCO2e"))["totals"][0]["amount"][
                "value"
            ] == "69.6"
            assert (await client.readyz())["status"] == "ready"
            csv = await client.scope_report_file("2021-01-01", "2021-12-31", format="csv")
            assert csv.startswith(b"section,")
            with pytest.raises(NotFound):
                await client.get_entry("e_missing")

    asyncio.run(run())


def test_personal_carbon_accounts_through_the_client(client: CarbonClient) -> None:
    loans: list[LoanIn] = [
        {"loan_id": f"A-{i}", "disbursed_on": date(2021, 6, 30), "channel": "online", "customer_ref": "C-9"}
        for i in range(3)
    ]
    client.record_loan_batch("accounts-1", loans)
    account = client.query_account("C-9", unit="mgCO2e")
    assert account["balance"] == {"value": "104400", "unit": "mgCO2e"} and account["loans"] == 3
    spread = client.account_distribution(bins=2, unit="mgCO2e")
    assert spread["accounts"] == 1 and spread["total"] == {"value": "104400", "unit": "mgCO2e"}
    assert client.erase_account("C-9")["erased"] is True
    assert client.erase_account("C-9")["erased"] is False
    assert client.query_account("C-9")["loans"] == 0
