"""Personal carbon accounts over HTTP: credited with exactly the ledger's milligrams, debited by a
reversal, never linkable across tenants, erasable without moving a total (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from carbon.adapters.schema import account_credits, account_erasures
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.api import create_app
from carbon.core.access import Role
from carbon.settings import Settings
from tests.api.test_jobs import finished, upload
from tests.api.test_loan_batches import mg
from tests.backends import BACKENDS, database_url
from tests.integration.test_one_file_every_path import batches
from tests.keys import authorize, bearer, issue
from tests.oracle import VARIED_FACTORS, Oracle, varied_loans

ORACLE = Oracle()
HOLD_SECONDS = 30.0  # how long a test holds a tenant's lock: far beyond the 1 s a write may wait for it


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


def customers_of(loans: list[dict[str, str]], n: int) -> list[dict[str, str]]:
    """Give each loan one of n customers (references that look like personal data)."""
    return [{**loan, "customer_ref": f"cust-{i % n:04d}@example.cn"} for i, loan in enumerate(loans)]


def record(
    client: TestClient,
    loans: list[dict[str, Any]],
    batch: str,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    loans = [{k: v for k, v in loan.items() if v} for loan in loans]
    headers = {**(headers or {}), "Idempotency-Key": key or str(uuid.uuid4())}
    response = client.post("/v1/loan-batches", json={"batch_id": batch, "loans": loans}, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def account(client: TestClient, ref: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.post("/v1/carbon-accounts/query", json={"customer_ref": ref},
                           params={"unit": "mgCO2e"}, headers=headers or {})  # fmt: skip
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def avoided_mg(client: TestClient) -> int:
    totals = client.get("/v1/totals", params={"book": "avoided", "unit": "mgCO2e"}).json()["totals"]
    return mg(totals[0]["amount"])


def oracle_accounts(loans: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Per customer, from the oracle's per-loan milligrams: balance, loans, by month, factors."""
    figures = ORACLE.loans([{k: v for k, v in loan.items() if k != "customer_ref"} for loan in loans])
    found: dict[str, dict[str, Any]] = defaultdict(lambda: {"mg": 0, "loans": 0, "months": defaultdict(int)})
    seen: set[str] = set()
    for loan in loans:
        if loan["loan_id"] in seen or loan["channel"] != "online":
            seen.add(loan["loan_id"])
            continue
        seen.add(loan["loan_id"])
        one = figures.per_loan[loan["loan_id"]]
        slot = found[loan["customer_ref"]]
        slot["mg"] += one
        slot["loans"] += 1
        slot["months"][loan["disbursed_on"][:7]] += one
    return found


def test_each_account_holds_exactly_its_loans_milligrams_and_the_accounts_sum_to_the_book(
    client: TestClient,
) -> None:
    loans = customers_of(varied_loans(240, duplicates=12), 17)
    for number, batch in enumerate(batches(loans, 60)):
        record(client, batch, f"b{number}")
    expected = oracle_accounts(loans)
    total = 0
    for ref, want in expected.items():
        got = account(client, ref)
        assert mg(got["balance"]) == want["mg"]
        assert got["loans"] == want["loans"]
        by_month: dict[str, int] = defaultdict(int)
        for month in got["months"]:
            assert month["activity"] == "online_loan"
            assert month["factors"] and all(f["release"] == ORACLE.current for f in month["factors"])
            by_month[month["month"]] += mg(month["avoided"])
        assert by_month == want["months"]
        total += mg(got["balance"])
    assert total == avoided_mg(client) == ORACLE.loans(
        [{k: v for k, v in loan.items() if k != "customer_ref"} for loan in loans]).total  # fmt: skip


def test_a_replayed_batch_credits_nothing_twice_and_a_duplicate_loan_credits_nobody(
    client: TestClient,
) -> None:
    loans = customers_of(varied_loans(30, seed=3), 4)
    online = [loan for loan in loans if loan["channel"] == "online"]
    record(client, loans, "b1", key="same")
    first = {ref: account(client, ref) for ref in {loan["customer_ref"] for loan in loans}}
    replay = client.post("/v1/loan-batches", json={"batch_id": "b1", "loans": [
                             {k: v for k, v in loan.items() if v} for loan in loans]},
                         headers={"Idempotency-Key": "same"})  # fmt: skip
    assert replay.headers.get("Idempotent-Replayed") == "true"
    again = [{**loan, "customer_ref": "someone-else"} for loan in online]  # same loan ids, a new key
    assert record(client, again, "b2")["loans_counted"] == 0
    assert {ref: account(client, ref) for ref in first} == first
    assert account(client, "someone-else")["loans"] == 0


def test_a_reversal_debits_what_its_entry_credited(client: TestClient) -> None:
    loans = customers_of(varied_loans(40, seed=5), 3)
    kept = record(client, loans[:20], "keep")
    gone = record(client, loans[20:], "gone")
    before = avoided_mg(client)
    reversal = client.post(f"/v1/ledger/entries/{gone['entry_id']}/reversal")
    assert reversal.status_code == 201, reversal.text
    want = oracle_accounts(loans[:20])
    for ref in {loan["customer_ref"] for loan in loans}:
        got = account(client, ref)
        assert mg(got["balance"]) == want.get(ref, {"mg": 0})["mg"]
        assert got["loans"] == want.get(ref, {"loans": 0})["loans"]
    assert avoided_mg(client) == before - mg({"value": gone["avoided"]["value"], "unit": "tCO2e"})
    assert sum(mg(account(client, ref)["balance"]) for ref in want) == avoided_mg(client)
    assert kept["loans_counted"] == 20
    # the released loans counted again, for another customer, credit that customer only
    moved = [{**loan, "customer_ref": "new-owner"} for loan in loans[20:]]
    record(client, moved, "again")
    assert mg(account(client, "new-owner")["balance"]) == oracle_accounts(moved)["new-owner"]["mg"]


def test_another_tenant_with_the_same_reference_sees_nothing_and_cannot_link(
    client: TestClient, db_url: str
) -> None:
    loans = customers_of(varied_loans(20, seed=9), 1)
    record(client, loans, "b1")
    ref = loans[0]["customer_ref"]
    assert account(client, ref)["loans"] > 0
    other = bearer(issue(client, tenant="other-bank", roles=(Role.ADMIN,)))
    assert account(client, ref, other) == {"balance": {"value": "0", "unit": "mgCO2e"}, "loans": 0,
                                           "months": [], "factor_releases": []}  # fmt: skip
    theirs = [{**loan, "loan_id": "o-" + loan["loan_id"]} for loan in loans[:5]]
    assert record(client, theirs, "o1", headers=other)["loans_counted"] == 5
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        pseudonyms = dict(connection.execute(
            select(account_credits.c.tenant, account_credits.c.pseudonym).distinct()).all())  # fmt: skip
    engine.dispose()
    assert set(pseudonyms) == {"default", "other-bank"}
    assert pseudonyms["default"] != pseudonyms["other-bank"]  # the same customer is not linkable


def test_erasure_severs_the_account_and_leaves_every_total_unchanged(client: TestClient, db_url: str) -> None:
    loans = customers_of(varied_loans(60, seed=11), 3)
    entry = record(client, loans, "b1")
    ref = loans[0]["customer_ref"]
    before_total, before_account = avoided_mg(client), account(client, ref)
    assert before_account["loans"] > 0
    erased = client.post("/v1/carbon-accounts/erase", json={"customer_ref": ref})
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True and erased.json()["credits_severed"] > 0
    assert ref not in erased.text
    assert account(client, ref)["loans"] == 0
    assert avoided_mg(client) == before_total
    others = {loan["customer_ref"] for loan in loans} - {ref}
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        stored = connection.execute(select(func.sum(account_credits.c.mg))).scalar_one()
        events = connection.execute(select(func.count()).select_from(account_erasures)).scalar_one()
    assert int(stored) == before_total  # the severed credits keep their milligrams, without a customer
    assert events == 1
    again = client.post("/v1/carbon-accounts/erase", json={"customer_ref": ref})
    assert again.status_code == 200 and again.json()["erased"] is False  # idempotent
    # a reversal after the erasure still takes back all the entry credited, severed credits included
    assert client.post(f"/v1/ledger/entries/{entry['entry_id']}/reversal").status_code == 201
    with engine.connect() as connection:
        assert int(connection.execute(select(func.sum(account_credits.c.mg))).scalar_one()) == 0
    engine.dispose()
    assert all(account(client, other)["loans"] == 0 for other in others)
    # a later loan of the erased customer opens a new account
    record(client, [{"loan_id": "later", "disbursed_on": "2021-09-01", "channel": "online",
                     "customer_ref": ref}], "b2")  # fmt: skip
    assert account(client, ref)["loans"] == 1


def test_erasure_needs_the_admin_role_and_references_travel_only_in_bodies(client: TestClient) -> None:
    reader = bearer(issue(client, roles=(Role.READ,)))
    refused = client.post("/v1/carbon-accounts/erase", json={"customer_ref": "x"}, headers=reader)
    assert refused.status_code == 403
    assert account(client, "x", reader)["loans"] == 0
    document = client.get("/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    for path, model in (("/v1/carbon-accounts/query", "AccountQueryRequest"),
                        ("/v1/carbon-accounts/erase", "AccountEraseRequest")):  # fmt: skip
        assert model in str(paths[path]["post"]["requestBody"])
        assert list(schemas[model]["properties"]) == ["customer_ref"]
        assert all(p["in"] != "path" and p["name"] != "customer_ref" for p in paths[path]["post"].get(
            "parameters", []))  # fmt: skip


@pytest.mark.parametrize("ref", ["", "a\nb", "x" * 129])
def test_a_bad_reference_is_a_problem_that_does_not_echo_it(client: TestClient, ref: str) -> None:
    response = client.post("/v1/carbon-accounts/query", json={"customer_ref": ref})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    if ref:
        assert ref not in response.text


def _everything_stored(db_url: str, tmp_path: Path) -> bytes:
    """Every byte of the SQLite files, or every row of every PostgreSQL table as text."""
    if db_url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        tables = connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).scalars().all()  # fmt: skip
        dump = [
            repr(row) for table in tables for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"')
        ]
    engine.dispose()
    return "\n".join(dump).encode()


def test_the_raw_reference_is_in_no_table_log_line_metric_response_or_error(
    client: TestClient,
    db_url: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    refs = [f"13800138{i:03d}-张伟" for i in range(4)]  # phone-number-like references, with CJK text
    loans = [{**loan, "customer_ref": refs[i % 4]} for i, loan in enumerate(varied_loans(40, seed=2))]
    seen = [record(client, loans, "b1", key="k1"), record(client, loans, "b1", key="k1")]
    seen.append(record(client, [{**loans[0], "loan_id": "late", "customer_ref": refs[0]}], "b2"))
    seen += [account(client, ref) for ref in refs]
    seen.append(client.post("/v1/carbon-accounts/erase", json={"customer_ref": refs[1]}).json())
    seen.append(client.post(f"/v1/ledger/entries/{seen[0]['entry_id']}/reversal").json())
    bad = client.post("/v1/carbon-accounts/query", json={"customer_ref": refs[2] + "\u0000"})
    refused = client.post("/v1/loan-batches", json={"batch_id": "x", "loans": [
        {**loans[0], "customer_ref": refs[3] + "\n"}]}, headers={"Idempotency-Key": "bad"})  # fmt: skip
    assert bad.status_code == refused.status_code == 422
    metrics = client.get("/metrics").text
    entries = client.get("/v1/ledger/entries", params={"limit": 100}).text
    report = client.get(
        "/v1/reports/scopes", params={"from": "2021-01-01", "to": "2021-12-31", "format": "csv"}
    )
    assert report.status_code == 200, report.text
    captured = capfd.readouterr()
    texts = [captured.out, captured.err, caplog.text, metrics, entries, report.text, bad.text, refused.text,
             repr(seen)]  # fmt: skip
    stored = _everything_stored(db_url, tmp_path)
    assert b"account_credits" in stored or db_url.startswith("postgresql")
    for ref in refs:
        for form in (ref, ref.split("-")[0]):
            assert form not in "\n".join(texts)
            assert form.encode() not in stored
            assert form.encode("utf-16-le") not in stored


def test_a_job_credits_the_customers_its_file_names(client: TestClient) -> None:
    loans = customers_of(varied_loans(300, seed=13, duplicates=10), 7)
    header = "loan_id,disbursed_on,channel,product,region,customer_ref\n"
    rows = "".join(",".join(loan[c] for c in header.strip().split(",")) + "\n" for loan in loans)
    accepted = upload(client, (header + rows).encode(), "job-accounts")
    assert accepted.status_code == 202, accepted.text
    job = finished(client, accepted.headers["location"])
    assert job["state"] == "succeeded", job
    expected = oracle_accounts(loans)
    assert {ref: mg(account(client, ref)["balance"]) for ref in expected} == {
        ref: want["mg"] for ref, want in expected.items()
    }
    assert sum(want["mg"] for want in expected.values()) == avoided_mg(client)
    assert all(loan["customer_ref"] not in str(job) for loan in loans)


def test_the_distribution_of_balances_names_no_account_and_matches_a_plain_oracle(client: TestClient) -> None:
    loans = customers_of(varied_loans(500, seed=17), 37)
    for number, batch in enumerate(batches(loans, 100)):
        record(client, batch, f"d{number}")
    client.post("/v1/carbon-accounts/erase", json={"customer_ref": loans[0]["customer_ref"]})
    balances = sorted(
        want["mg"] for ref, want in oracle_accounts(loans).items() if ref != loans[0]["customer_ref"]
    )
    response = client.get("/v1/carbon-accounts/distribution", params={"unit": "mgCO2e", "bins": 4})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["accounts"] == len(balances) == 36
    assert mg(found["total"]) == sum(balances)
    n = len(balances)
    expected = {p: balances[max(1, -(-p * n // 100)) - 1] for p in (10, 25, 50, 75, 90, 99)}
    assert {x["percentile"]: mg(x["balance"]) for x in found["percentiles"]} == expected
    width = -(-(balances[-1] - balances[0] + 1) // 4)
    in_bins = [sum(1 for b in balances if min((b - balances[0]) // width, 3) == i) for i in range(4)]
    assert [x["accounts"] for x in found["bins"]] == in_bins
    assert mg(found["bins"][0]["low"]) == balances[0] and mg(found["bins"][-1]["high"]) == balances[-1]
    assert "cust-" not in response.text


def test_an_erasure_waits_for_a_held_ledger_lock_only_as_long_as_a_write_may_then_is_busy(
    db_url: str, tmp_path: Path
) -> None:
    """Another process's write holds the tenant's lock: the erasure is 503 with Retry-After within the
    bound (not a wait as long as the other write), severs nothing, and succeeds once the lock is free."""
    settings = Settings(factors_dir=VARIED_FACTORS, data_dir=tmp_path, database_url=db_url,
                        db_lock_wait_seconds=1)  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        authorize(client)
        ref = "held@example.cn"
        record(client, [{"loan_id": "h-1", "disbursed_on": "2021-06-30", "channel": "online",
                         "customer_ref": ref}], "held")  # fmt: skip
        before = account(client, ref)
        holder = create_ledger_engine(db_url)
        try:
            with ThreadPoolExecutor(1) as pool:
                with SqlLedger(holder).write("default"):  # on SQLite: the database's write lock
                    erasing = pool.submit(
                        client.post, "/v1/carbon-accounts/erase", json={"customer_ref": ref}
                    )
                    busy = erasing.result(timeout=HOLD_SECONDS)  # raises if it waited out the holder
                assert busy.status_code == 503, busy.text
                assert int(busy.headers["Retry-After"]) >= 1
                assert busy.headers["content-type"].startswith("application/problem+json")
                assert account(client, ref) == before
                erased = client.post("/v1/carbon-accounts/erase", json={"customer_ref": ref})
                assert erased.status_code == 200 and erased.json()["erased"] is True, erased.text
        finally:
            holder.dispose()
