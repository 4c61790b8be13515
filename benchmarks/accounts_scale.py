"""Personal carbon accounts at scale: a year-shaped loan file over many customers recorded as one entry
(the job path: ledger claims and account credits in one transaction), then single-account reads with that
many accounts stored, beside a DuckDB group-by of the same file. Prints one JSON line.

    python -m benchmarks.accounts_scale --customers 1000000 [--database URL] [--reads 2000] [--no-accounts]
    python -m benchmarks.accounts_scale --stored-accounts 50000000 [--reads 2000]

Loans are customers x 283,129,023 / 50,000,000 (MYbank's 2021 loans over its 50 million borrowers), all
online, drawn over 2021 as the year benchmark draws them; each loan's customer is uniform at random. The
data is generated at run time under .benchmarks/data (not committed). Peak RSS is the process's high-water
mark (VmHWM) after each phase; the file is recorded in this fresh process. `--no-accounts` records the
same file without crediting accounts (the ledger alone), for the ratio.

`--stored-accounts N` measures reads alone: N accounts of one credit row each are written straight into
a new SQLite ledger (no loans: building N x 5.66 loans through the ledger is the other mode), the index is
built after the rows, then single-account reads through the use case are timed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.conftest import FACTORS, build_prices, price_rows
from benchmarks.generate import DATA_DIR, day_counts, generate
from benchmarks.year_run import peak_rss_bytes

LOANS_PER_CUSTOMER = 283_129_023 / 50_000_000
_CHUNK = 1 << 20


def customer_refs(codes: np.ndarray[Any, Any]) -> pa.Array:
    """'C' + 9 digits per code, built as fixed-width bytes (no Python string per row)."""
    digits = np.empty((codes.size, 10), dtype=np.uint8)
    digits[:, 0] = ord("C")
    rest = codes.astype(np.int64)
    for position in range(9, 0, -1):
        digits[:, position] = ord("0") + rest % 10
        rest //= 10
    offsets = np.arange(0, (codes.size + 1) * 10, 10, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), codes.size, [None, pa.py_buffer(offsets), pa.py_buffer(digits)])


def loan_file(customers: int, seed: int = 2021) -> tuple[Path, int]:
    """The file (written once per size and reused) and its loan count."""
    n = round(customers * LOANS_PER_CUSTOMER)
    path = DATA_DIR / f"accounts-v1-{customers}-seed{seed}.parquet"
    if path.is_file():
        return path, n
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    counts = day_counts(n, seed)
    rng = np.random.default_rng([seed, 7])
    writer: pq.ParquetWriter | None = None
    for start in range(0, n, _CHUNK):
        loans = generate(n, seed, online_share=1.0, counts=counts, rows=(start, min(start + _CHUNK, n)))
        table = loans.table(dates_as="date")
        table = table.append_column("customer_ref", customer_refs(rng.integers(0, customers, table.num_rows)))
        if writer is None:
            writer = pq.ParquetWriter(scratch, table.schema, use_dictionary=["channel", "product", "region"])
        writer.write_table(table, row_group_size=_CHUNK)
    assert writer is not None
    writer.close()
    scratch.replace(path)
    return path, n


def record(path: Path, url: str, accounts: bool = True) -> dict[str, Any]:
    """Record the file as one entry with its account credits; time and peak memory."""
    from carbon.adapters.account_store import SqlAccounts
    from carbon.adapters.loan_files import read_loan_chunks
    from carbon.adapters.migrate import upgrade
    from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
    from carbon.books.accounts import Accounts
    from carbon.registry import load_registry
    from carbon.services.ingest import record_loan_file
    from carbon.services.ledger_inputs import WriteContext

    engine = create_ledger_engine(url)
    upgrade(engine)
    registry = load_registry(FACTORS)
    ctx = WriteContext("bench", "accounts-year", "bench", datetime.now(UTC))
    before = peak_rss_bytes()
    start = time.perf_counter()
    ledger = SqlLedger(engine)
    outcome = record_loan_file(ledger, registry, ctx, lambda: read_loan_chunks(path, "parquet"),
                               reference=path.name, default_region="CN", unit="mgCO2e",
                               subledger=Accounts(SqlAccounts(ledger)) if accounts else None)  # fmt: skip
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"record_seconds": round(seconds, 1), "loans_counted": outcome.body["loans_counted"],
            "avoided_mg": int(outcome.body["avoided"]["value"]), "peak_rss_before_bytes": before,
            "peak_rss_after_record_bytes": peak_rss_bytes()}  # fmt: skip


def reads(url: str, customers: int, count: int) -> dict[str, Any]:
    """Single-account reads at random (one in ten a customer with no account): p50, p99, max in ms."""
    from carbon.adapters.account_store import SqlAccounts
    from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
    from carbon.books.accounts import AccountQuery, Accounts

    engine = create_ledger_engine(url)
    accounts = Accounts(SqlAccounts(SqlLedger(engine)))
    rng = random.Random(5)
    refs = [f"C{rng.randrange(customers * 11 // 10):09d}" for _ in range(count)]
    accounts.balance("bench", AccountQuery(refs[0]))  # connect once before timing
    times, total = [], 0
    for ref in refs:
        start = time.perf_counter()
        total += accounts.balance("bench", AccountQuery(ref)).loans
        times.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    times.sort()
    return {"reads": count, "read_ms_p50": round(statistics.median(times), 3),
            "read_ms_p99": round(times[int(0.99 * (count - 1))], 3), "read_ms_max": round(times[-1], 3),
            "loans_read": total}  # fmt: skip


def duckdb_accounts(path: Path) -> dict[str, Any]:
    """DuckDB on the same file: every customer's balance by a group-by joined to the price table."""
    import duckdb
    import polars as pl

    from carbon.registry import load_registry

    con = duckdb.connect()
    con.register("prices", pl.DataFrame(price_rows(build_prices(load_registry(FACTORS)))).to_arrow())
    start = time.perf_counter()
    row = con.execute(
        "SELECT count(*), sum(b) FROM (SELECT customer_ref, sum(p.mg) AS b FROM read_parquet(?) l "
        "JOIN prices p ON p.region = coalesce(l.region::VARCHAR, '') AND p.day = l.disbursed_on "
        "GROUP BY customer_ref)",
        [str(path)],
    ).fetchone()
    seconds = time.perf_counter() - start
    assert row is not None
    return {"duckdb_seconds": round(seconds, 1), "duckdb_accounts": int(row[0]), "duckdb_mg": int(row[1])}


def stored_accounts(n: int, reads_count: int) -> dict[str, Any]:
    """n one-row accounts written straight into a new SQLite ledger, index built after; then reads."""
    import hmac
    import sqlite3

    from carbon.adapters.migrate import upgrade
    from carbon.adapters.sql_store import create_ledger_engine

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DATA_DIR) as scratch:
        file = Path(scratch) / "ledger.sqlite3"
        url = f"sqlite:///{file}"
        engine = create_ledger_engine(url)
        upgrade(engine)
        engine.dispose()
        secret = bytes(range(32))
        start = time.perf_counter()
        db = sqlite3.connect(file)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("DROP INDEX ix_account_credits_account")
        db.execute("INSERT INTO account_secrets VALUES ('bench', ?, '2021-12-31 00:00:00')", (secret,))
        db.execute("INSERT INTO entries (entry_id, tenant, kind, book, client_reference, created_at, "
                   "body_checksum, mg) VALUES ('e_bench', 'bench', 'loan_file', 'avoided', 'bench', "
                   "'2021-12-31 00:00:00', 'bench', 0)")  # fmt: skip
        for first in range(0, n, _CHUNK):
            rows = [(hmac.digest(secret, f"C{i:09d}".encode(), "sha256")[:16].hex(), 34_800 * (1 + i % 9),
                     1 + i % 9) for i in range(first, min(first + _CHUNK, n))]  # fmt: skip
            db.executemany(
                "INSERT INTO account_credits (tenant, pseudonym, entry_id, month, activity, factor_id, "
                "factor_version, factor_release, loans, mg) VALUES ('bench', ?, 'e_bench', '2021-06-01', "
                "'online_loan', 'mybank.online_loan.2021', 1, '2026-12', ?, ?)",
                [(p, loans, mg) for p, mg, loans in rows],
            )
            db.commit()
        written = time.perf_counter() - start
        db.execute("CREATE INDEX ix_account_credits_account ON account_credits (tenant, pseudonym)")
        db.commit()
        db.close()
        built = time.perf_counter() - start - written
        result = {"stored_accounts": n, "write_seconds": round(written, 1), "index_seconds": round(built, 1),
                  "database_bytes": sum(p.stat().st_size for p in Path(scratch).iterdir())}  # fmt: skip
        result |= reads(url, n, reads_count)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--database", help="a ledger URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--no-accounts", action="store_true", help="record the file without accounts")
    parser.add_argument("--stored-accounts", type=int, help="measure reads at this many stored accounts")
    args = parser.parse_args()
    if args.stored_accounts:
        print(json.dumps(stored_accounts(args.stored_accounts, args.reads)))
        return
    path, loans = loan_file(args.customers)
    with tempfile.TemporaryDirectory(dir=DATA_DIR) as scratch:
        url = args.database or f"sqlite:///{Path(scratch) / 'ledger.sqlite3'}"
        result: dict[str, Any] = {"customers": args.customers, "loans": loans, "database": url.split(":")[0],
                                  "accounts": not args.no_accounts}  # fmt: skip
        result |= record(path, url, accounts=not args.no_accounts)
        result |= reads(url, args.customers, args.reads)
        if url.startswith("sqlite"):
            result["database_bytes"] = sum(p.stat().st_size for p in Path(scratch).iterdir())
    result |= duckdb_accounts(path)
    assert result["duckdb_mg"] == result["avoided_mg"], "DuckDB and the ledger disagree"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
