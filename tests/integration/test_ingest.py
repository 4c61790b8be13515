"""Recording a loan file: one entry, all or nothing, duplicates against the ledger and the file, replays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carbon.adapters.loan_files import read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.schema import entries, loan_claims
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.core.ledger import LedgerEntry
from carbon.errors import FactorError
from carbon.registry import FactorRegistry
from carbon.services.ingest import record_loan_file
from carbon.services.ledger import record_loan_batch
from carbon.services.ledger_inputs import LoanBatchInput, LoanInput, WriteContext
from tests.backends import BACKENDS, database_url
from tests.integration.test_bulk_files import synthetic_loans, write

PER_LOAN_MG = 34_800


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    with database_url(str(request.param), tmp_path) as url:
        engine = create_ledger_engine(url)
        upgrade(engine)
        yield SqlLedger(engine)
        engine.dispose()


def ingest(store: SqlLedger, registry: FactorRegistry, path: Path, key: str) -> dict[str, object]:
    ctx = WriteContext("default", key, f"sum-{key}", datetime.now(UTC))
    outcome = record_loan_file(store, registry, ctx, lambda: read_loan_chunks(path, "csv", chunk_rows=700),
                               reference=path.name, default_region="CN", unit="mgCO2e")  # fmt: skip
    return outcome.body | {"replayed": outcome.replayed}


def all_entries(store: SqlLedger) -> list[LedgerEntry]:
    return store.entries("default", 500, None)[0]


def claims(store: SqlLedger) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(loan_claims)).scalar_one())


def test_a_file_is_one_entry_equal_to_per_batch_posting(
    store: SqlLedger, shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(3000, seed=5)
    body = ingest(store, shipped_registry, write(tmp_path / "l.csv", loans, "csv"), "file-1")
    online = sum(loan["channel"] == "online" for loan in loans)
    assert (body["loans_counted"], body["avoided"]) == (
        3000,
        {"value": str(online * PER_LOAN_MG), "unit": "mgCO2e"},
    )
    [entry] = all_entries(store)
    assert (entry.kind, entry.mg, entry.client_reference) == ("loan_file", online * PER_LOAN_MG, "l.csv")
    assert claims(store) == 3000
    by_day: dict[date, int] = {}
    for line in entry.lines:
        by_day[line.activity_date] = by_day.get(line.activity_date, 0) + line.mg
    expected: dict[date, int] = {}
    for loan in loans:
        if loan["channel"] == "online":
            day = date.fromisoformat(loan["disbursed_on"])
            expected[day] = expected.get(day, 0) + PER_LOAN_MG
    assert {d: mg for d, mg in by_day.items() if mg} == expected


def test_loans_in_the_ledger_or_earlier_in_the_file_are_not_counted(
    store: SqlLedger, shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(400, seed=9)
    first = tuple(
        LoanInput(x["loan_id"], date.fromisoformat(x["disbursed_on"]), x["channel"]) for x in loans[:100]
    )
    ctx = WriteContext("default", "batch", "c", datetime.now(UTC))
    record_loan_batch(
        store, shipped_registry, ctx, LoanBatchInput("b", first), max_loans=10_000, default_region="CN"
    )
    path = write(tmp_path / "l.csv", loans + loans[300:350], "csv")
    body = ingest(store, shipped_registry, path, "file-2")
    assert (body["loans_counted"], body["duplicates_in_ledger"], body["duplicates_in_file"]) == (300, 100, 50)
    assert claims(store) == 400
    again = ingest(store, shipped_registry, path, "file-2")
    assert again["replayed"] is True and again["entry_id"] == body["entry_id"]
    other_key = ingest(store, shipped_registry, path, "file-3")
    assert (other_key["loans_counted"], other_key["avoided"]["value"]) == (0, "0")  # type: ignore[index]
    assert claims(store) == 400


def test_a_failing_file_records_nothing(
    store: SqlLedger, shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(2000, seed=2)
    loans[1500]["disbursed_on"], loans[1500]["channel"] = "2023-05-05", "online"
    path = write(tmp_path / "l.csv", loans, "csv")
    with pytest.raises(FactorError, match="2023-05-05"):
        ingest(store, shipped_registry, path, "file-4")
    assert (all_entries(store), claims(store)) == ([], 0)
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(entries)).scalar_one() == 0
    loans[1500]["disbursed_on"] = "2021-05-05"
    assert ingest(store, shipped_registry, write(path, loans, "csv"), "file-4")["loans_counted"] == 2000
