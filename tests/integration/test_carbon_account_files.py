"""Loan files carrying customer_ref credit the personal accounts with exactly the milligrams the ledger
counts, chunk by chunk in the file's one transaction, in every format (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from carbon.adapters.account_store import SqlAccounts
from carbon.adapters.loan_files import FileFormat, read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.schema import account_credits
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.books.accounts import AccountQuery, Accounts
from carbon.core.ledger import CountedLoans, LedgerEntry
from carbon.registry import load_registry
from carbon.services.ingest import record_loan_file
from carbon.services.ledger import reverse_entry
from carbon.services.ledger_inputs import WriteContext
from carbon.services.ports import LedgerWrite
from tests.backends import BACKENDS, database_url
from tests.oracle import VARIED_FACTORS, Oracle, varied_loans

ORACLE = Oracle()
REGISTRY = load_registry(VARIED_FACTORS)
COLUMNS = ("loan_id", "disbursed_on", "channel", "product", "region", "customer_ref")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    with database_url(str(request.param), tmp_path) as url:
        engine = create_ledger_engine(url)
        upgrade(engine)
        yield SqlLedger(engine)
        engine.dispose()


def with_customers(n: int, seed: int) -> list[dict[str, str]]:
    """Varied loans (in-file duplicates included), most naming one of 23 customers, some none."""
    loans = varied_loans(n, seed=seed, duplicates=n // 20)
    return [
        {**loan, "customer_ref": "" if i % 7 == 3 else f"客户-{i % 23:03d}"} for i, loan in enumerate(loans)
    ]


def write(path: Path, loans: list[dict[str, str]], fmt: str) -> Path:
    if fmt == "csv":
        rows = [",".join(COLUMNS)] + [",".join(loan[c] for c in COLUMNS) for loan in loans]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    elif fmt == "ndjson":
        path.write_text(
            "".join(json.dumps(loan, ensure_ascii=False) + "\n" for loan in loans), encoding="utf-8"
        )
    else:
        pq.write_table(pa.table({c: [loan[c] for loan in loans] for c in COLUMNS}), path, row_group_size=97)
    return path


def ingest(store: SqlLedger, path: Path, fmt: FileFormat, key: str) -> dict[str, object]:
    ctx = WriteContext("default", key, f"sum-{key}", datetime.now(UTC))
    outcome = record_loan_file(store, REGISTRY, ctx, lambda: read_loan_chunks(path, fmt, chunk_rows=50),
                               reference=path.name, default_region="CN", unit="mgCO2e",
                               subledger=Accounts(SqlAccounts(store)))  # fmt: skip
    return outcome.body


def expected(loans: list[dict[str, str]]) -> dict[str, tuple[int, int]]:
    """Per customer, from the oracle's per-loan milligrams: (balance, online loans); first sightings only."""
    figures = ORACLE.loans(loans)
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    seen: set[str] = set()
    for loan in loans:
        first = loan["loan_id"] not in seen
        seen.add(loan["loan_id"])
        if first and loan["channel"] == "online" and loan["customer_ref"]:
            found[loan["customer_ref"]][0] += figures.per_loan[loan["loan_id"]]
            found[loan["customer_ref"]][1] += 1
    return {ref: (mg, n) for ref, (mg, n) in found.items()}


def balances(store: SqlLedger, refs: set[str]) -> dict[str, tuple[int, int]]:
    accounts = Accounts(SqlAccounts(store))
    found = {ref: accounts.balance("default", AccountQuery(ref)) for ref in refs if ref}
    return {ref: (b.mg, b.loans) for ref, b in found.items() if b.loans}


def stored_mg(store: SqlLedger) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.sum(account_credits.c.mg), 0))).scalar_one())


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_a_file_credits_each_customer_exactly_what_the_oracle_gives(
    store: SqlLedger, tmp_path: Path, fmt: FileFormat
) -> None:
    loans = with_customers(600, seed=31)
    body = ingest(store, write(tmp_path / f"l.{fmt}", loans, fmt), fmt, "f1")
    assert body["rejected_count"] == 0
    want = expected(loans)
    assert balances(store, {loan["customer_ref"] for loan in loans}) == want
    with_customer = sum(mg for mg, _ in want.values())
    assert stored_mg(store) == with_customer
    assert with_customer < ORACLE.loans(loans).total  # loans without a customer credit nobody
    # the same file again (a new key) counts nothing and credits nothing
    assert ingest(store, write(tmp_path / f"l.{fmt}", loans, fmt), fmt, "f2")["loans_counted"] == 0
    assert stored_mg(store) == with_customer


def test_a_file_of_loans_all_with_customers_sums_to_the_book_and_its_reversal_debits(
    store: SqlLedger, tmp_path: Path
) -> None:
    loans = [{**loan, "customer_ref": f"c{i % 11}"} for i, loan in enumerate(varied_loans(400, seed=8))]
    body = ingest(store, write(tmp_path / "l.csv", loans, "csv"), "csv", "f1")
    book = ORACLE.loans(loans).total
    assert body["avoided"] == {"value": str(book), "unit": "mgCO2e"}
    assert (
        sum(mg for mg, _ in balances(store, {f"c{i}" for i in range(11)}).values())
        == book
        == stored_mg(store)
    )
    reverse_entry(store, "default", str(body["entry_id"]), datetime.now(UTC),
                  subledger=Accounts(SqlAccounts(store)))  # fmt: skip
    assert balances(store, {f"c{i}" for i in range(11)}) == {}
    assert stored_mg(store) == 0


def test_a_bad_customer_ref_is_a_rejected_row_whose_reason_does_not_repeat_it(
    store: SqlLedger, tmp_path: Path
) -> None:
    long_ref, control = "L" * 129, "bad\x01ref"
    loans = [
        {"loan_id": "a", "disbursed_on": "2021-06-30", "channel": "online", "product": "", "region": "",
         "customer_ref": long_ref},
        {"loan_id": "b", "disbursed_on": "2021-06-30", "channel": "online", "product": "", "region": "",
         "customer_ref": control},
        {"loan_id": "c", "disbursed_on": "2021-06-30", "channel": "online", "product": "", "region": "",
         "customer_ref": "ok-" + "é" * 125},
    ]  # fmt: skip
    formats: tuple[FileFormat, ...] = ("csv", "ndjson", "parquet")
    for fmt in formats:
        body = ingest(store, write(tmp_path / f"bad.{fmt}", loans, fmt), fmt, f"bad-{fmt}")
        rejected = body["rejected"]
        assert isinstance(rejected, list) and len(rejected) == 2, (fmt, rejected)
        assert all(r["reason"].startswith("customer_ref must be") for r in rejected)
        assert long_ref not in str(body) and control not in str(body) and "ok-" not in str(body)
    assert balances(store, {"ok-" + "é" * 125}) == {"ok-" + "é" * 125: (34_800, 1)}


def test_a_credit_that_fails_records_nothing(store: SqlLedger, tmp_path: Path) -> None:
    class Failing:
        def loans_counted(self, tx: LedgerWrite, entry: LedgerEntry, loans: CountedLoans) -> None:
            raise RuntimeError("the accounts are unavailable")

        def entry_reversed(self, tx: LedgerWrite, original: LedgerEntry, reversal: LedgerEntry) -> None:
            raise AssertionError

    loans = with_customers(100, seed=2)
    ctx = WriteContext("default", "k", "sum", datetime.now(UTC))
    path = write(tmp_path / "l.csv", loans, "csv")
    with pytest.raises(RuntimeError):
        record_loan_file(store, REGISTRY, ctx, lambda: read_loan_chunks(path, "csv", chunk_rows=50),
                         reference="l.csv", default_region="CN", subledger=Failing())  # fmt: skip
    assert store.entries("default", 10, None)[0] == []
    assert stored_mg(store) == 0
