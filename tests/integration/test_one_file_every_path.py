"""One loan file, every path: the same loans through `carbon calculate loans --file`, `carbon ingest` (current
and pinned release), POST /v1/jobs and per-batch posting, each against the independent oracle.

The factors vary by province, change mid-year (on 2021-07-16 for CN, on 2021-07-01 for CN-GD) and differ
between the pinned release and the one superseding it, so a loan priced on the wrong day, in the wrong
region or under the wrong release moves some figure by milligrams the oracle does not expect.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, create_engine, select
from typer.testing import CliRunner

from carbon.adapters.schema import entries, entry_lines, loan_claims
from carbon.api import create_app
from carbon.cli import app
from carbon.settings import Settings, get_settings
from tests.backends import BACKENDS, database_url
from tests.integration.test_bulk_files import write
from tests.keys import authorize
from tests.oracle import CURRENT, PINNED, VARIED_FACTORS, LoanFigures, Oracle, varied_loans

runner = CliRunner()
ORACLE = Oracle()
LOANS = varied_loans(1500, seed=21, duplicates=60)
YEAR = {"from": "2021-01-01", "to": "2021-12-31"}


def mg(amount: dict[str, str]) -> int:
    value = Fraction(amount["value"]) * {"mgCO2e": 1, "gCO2e": 10**3, "tCO2e": 10**9}[amount["unit"]]
    assert value.denominator == 1, amount
    return int(value)


def nonzero(table: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in table.items() if v}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(str(request.param), tmp_path) as url:
        yield url


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[None]:
    monkeypatch.setenv("CARBON_FACTORS_DIR", str(VARIED_FACTORS))
    monkeypatch.setenv("CARBON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CARBON_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def carbon(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_oracle_sees_every_kind_of_loan() -> None:
    """The file really mixes what it should: otherwise the comparisons below prove little."""
    current, pinned = ORACLE.loans(LOANS), ORACLE.loans(LOANS, PINNED)
    assert current.duplicates == 60 and current.branch > 100
    assert {f for f, _, _ in current.factors} == {
        "test.online_loan.cn.early", "test.online_loan.cn.late", "test.online_loan.zj",
        "test.online_loan.gd.h1", "test.online_loan.gd.h2", "test.online_loan.bj", "test.online_loan.he",
    }  # fmt: skip
    assert set(current.by_region) == {"CN", "CN-ZJ", "CN-GD", "CN-BJ", "CN-HE"}
    assert len(current.by_month) == 12 and set(current.by_product) == {"", "consumer", "sme", "agri"}
    assert current.total != pinned.total and current.by_region["CN-HE"] != pinned.by_region["CN-HE"]


@pytest.mark.parametrize("release", [None, PINNED])
def test_calculate_loans_file_json_equals_the_oracle(tmp_path: Path, release: str | None) -> None:
    path = write(tmp_path / "loans.csv", LOANS, "csv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARBON_FACTORS_DIR", str(VARIED_FACTORS))
        get_settings.cache_clear()
        view = carbon("calculate", "loans", "--file", str(path), "--json", "--unit", "mgCO2e",
                      *(["--release", release] if release else []))  # fmt: skip
    get_settings.cache_clear()
    expected = ORACLE.loans(LOANS, release)
    assert (view["mg"], mg(view["avoided"])) == (expected.total, expected.total)
    assert (view["online"], view["branch"], view["duplicates_in_file"]) == (
        expected.online, expected.branch, expected.duplicates,
    )  # fmt: skip
    assert view["factor_release"] == expected.release
    assert {(f["id"], f["version"], f["release"]) for f in view["factors"]} == expected.factors
    assert {r["month"]: mg(r["amount"]) for r in view["by_month"]} == dict(expected.by_month)
    assert {r["product"] or "": mg(r["amount"]) for r in view["by_product"]} == dict(expected.by_product)
    assert {r["region"]: mg(r["amount"]) for r in view["by_region"]} == dict(expected.by_region)


def table(url: str, which: Table) -> list[Any]:
    """Every row of a ledger table, read straight from the database."""
    engine = create_engine(_psycopg(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(which)))
    finally:
        engine.dispose()


def ledger_rows(url: str) -> tuple[dict[str, tuple[int, str | None, str | None]], list[Any]]:
    """Each counted loan's (mg, product, region) and every entry line."""
    claims = {row.loan_id: (int(row.mg), row.product, row.region) for row in table(url, loan_claims)}
    return claims, table(url, entry_lines)


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def assert_ledger_equals(url: str, expected: LoanFigures, report: dict[str, Any]) -> None:
    """Every loan's mg, every line's day, factor and release, and the report's breakdowns."""
    claims, lines = ledger_rows(url)
    assert {loan: amount for loan, (amount, _, _) in claims.items()} == expected.per_loan
    by_region: dict[str, int] = defaultdict(int)
    for loan, (amount, _, region) in claims.items():
        if expected.per_loan[loan]:
            by_region[region or "CN"] += amount
    assert dict(by_region) == dict(expected.by_region)
    priced = [line for line in lines if line.activity == "online_loan"]
    assert {line.factor_release for line in priced} == {expected.release}
    assert {row.factor_release for row in table(url, entries)} == {expected.release}
    per_day: dict[tuple[date, str], int] = defaultdict(int)
    for line in priced:
        per_day[(line.activity_date, line.factor_id)] += int(line.mg)
    assert dict(per_day) == dict(expected.by_day_factor)
    assert sum(int(line.mg) for line in lines) == expected.total
    assert mg(report["avoided"]["total"]) == expected.total
    assert nonzero({r["month"]: mg(r["avoided"]) for r in report["by_month"]}) == dict(expected.by_month)
    by_product = {r["product"] or "": mg(r["amount"]) for r in report["avoided"]["by_product"]}
    assert by_product == dict(expected.by_product)
    assert report["factor_releases"] == [expected.release]


@pytest.mark.parametrize("release", [None, PINNED])
def test_carbon_ingest_records_what_the_oracle_says(
    cli_env: None, db_url: str, tmp_path: Path, release: str | None
) -> None:
    path = write(tmp_path / "loans.csv", LOANS, "csv")
    body = carbon(
        "ingest", str(path), "--json", "--unit", "mgCO2e", *(["--release", release] if release else [])
    )
    expected = ORACLE.loans(LOANS, release)
    assert (mg(body["avoided"]), body["factor_release"], body["duplicates_in_file"]) == (
        expected.total, expected.release, expected.duplicates,
    )  # fmt: skip
    report = carbon("report", "--from", YEAR["from"], "--to", YEAR["to"], "--unit", "mgCO2e")
    assert_ledger_equals(db_url, expected, report)


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(factors_dir=VARIED_FACTORS, data_dir=tmp_path, database_url=db_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        authorize(test_client)
        yield test_client


def http_report(client: TestClient) -> dict[str, Any]:
    response = client.get("/v1/reports/scopes", params={**YEAR, "unit": "mgCO2e"})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def test_a_job_records_what_the_oracle_says(client: TestClient, db_url: str, tmp_path: Path) -> None:
    data = write(tmp_path / "loans.csv", LOANS, "csv").read_bytes()
    accepted = client.post("/v1/jobs", content=data,
                           headers={"Idempotency-Key": "every-path", "Content-Type": "text/csv"})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 60
    while (job := client.get(accepted.headers["location"]).json())["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["state"] == "succeeded", job
    expected = ORACLE.loans(LOANS)
    assert (mg(job["result"]["avoided"]), job["result"]["factor_release"]) == (expected.total, CURRENT)
    assert_ledger_equals(db_url, expected, http_report(client))


def batches(loans: list[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    """The file's loans in order, as batches of at most `size` with no id twice in one batch."""
    batch: list[dict[str, str]] = []
    for loan in loans:
        if len(batch) == size or any(x["loan_id"] == loan["loan_id"] for x in batch):
            yield batch
            batch = []
        batch.append({k: v for k, v in loan.items() if v})
    yield batch


@pytest.mark.parametrize("release", [None, PINNED])
def test_per_batch_posting_records_what_the_oracle_says(
    client: TestClient, db_url: str, release: str | None
) -> None:
    expected = ORACLE.loans(LOANS, release)
    total = 0
    for number, loans in enumerate(batches(LOANS, 400)):
        body: dict[str, Any] = {"batch_id": f"b{number}", "loans": loans}
        if release:
            body["factor_release"] = release
        response = client.post("/v1/loan-batches", json=body, headers={"Idempotency-Key": str(uuid.uuid4())},
                               params={"unit": "mgCO2e"})  # fmt: skip
        assert response.status_code == 201, response.text
        assert response.json()["factor_release"] == expected.release
        total += mg(response.json()["avoided"])
    assert total == expected.total
    assert_ledger_equals(db_url, expected, http_report(client))


def test_a_file_counts_again_the_loans_a_reversal_released(
    client: TestClient, cli_env: None, db_url: str, tmp_path: Path
) -> None:
    """The released loans get the next claim number and the oracle's milligrams; the others claim 0."""
    first = [{k: v for k, v in loan.items() if v} for loan in LOANS[:300]]
    batch = client.post("/v1/loan-batches", json={"batch_id": "early", "loans": first},
                        headers={"Idempotency-Key": "early"})  # fmt: skip
    assert batch.status_code == 201, batch.text
    reversal = client.post(f"/v1/ledger/entries/{batch.json()['entry_id']}/reversal",
                           headers={"Idempotency-Key": "undo-early"})  # fmt: skip
    assert reversal.status_code == 201, reversal.text
    body = carbon("ingest", str(write(tmp_path / "loans.csv", LOANS, "csv")), "--json", "--unit", "mgCO2e")
    expected = ORACLE.loans(LOANS)
    assert (body["loans_counted"], mg(body["avoided"])) == (expected.counted, expected.total)
    claims = [row for row in table(db_url, loan_claims) if row.entry_id == body["entry_id"]]
    assert {row.loan_id: int(row.mg) for row in claims} == expected.per_loan
    released = {loan["loan_id"] for loan in LOANS[:300]}
    assert {row.loan_id: row.claim for row in claims} == {
        loan: int(loan in released) for loan in expected.per_loan
    }
