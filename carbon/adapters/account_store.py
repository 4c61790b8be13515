"""Personal carbon accounts in SQL: the tenant's secret, credits per pseudonym, erasure by severing.

Credits are written in the ledger write's own transaction (`within`), through the driver like the loan
claims (COPY on PostgreSQL, executemany on SQLite). An account is read by the (tenant, pseudonym) index.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, func, insert, select, text, update

from carbon.adapters.schema import account_credits, account_erasures, account_secrets
from carbon.adapters.sql_store import SqlLedger

__all__ = ["SqlAccountWrite", "SqlAccounts"]

_COLUMNS = ("pseudonym", "month", "activity", "factor_id", "factor_version", "factor_release", "loans", "mg")
_SECRET_BYTES = 32
_PART_ROWS = 1 << 16  # credit rows handed to the driver at a time: bounds the Python objects made


class SqlAccountWrite:
    """Account writes of one tenant inside a transaction that holds the tenant's write lock."""

    def __init__(self, connection: Connection, tenant: str) -> None:
        self._connection = connection
        self._tenant = tenant

    def secret(self) -> bytes:
        """The tenant's secret; 32 random bytes made on first use (the tenant's lock is held)."""
        found = _secret(self._connection, self._tenant)
        if found is not None:
            return found
        made = secrets.token_bytes(_SECRET_BYTES)
        self._connection.execute(insert(account_secrets).values(
            tenant=self._tenant, secret=made, created_at=datetime.now(UTC)))  # fmt: skip
        return made

    def add_credits(self, entry_id: str, credits: pa.Table) -> None:
        """Insert an entry's credits."""
        n = credits.num_rows
        if not n:
            return
        table = credits.select(list(_COLUMNS))
        table = table.add_column(0, "entry_id", pa.array([entry_id] * n, pa.string()))
        table = table.add_column(0, "tenant", pa.array([self._tenant] * n, pa.string()))
        columns = ", ".join(table.column_names)
        driver: Any = self._connection.connection.driver_connection
        if self._connection.dialect.name == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY account_credits ({columns}) FROM STDIN (FORMAT csv)") as copy,
            ):
                for part in table.to_batches(max_chunksize=_PART_ROWS):
                    buffer = io.BytesIO()
                    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
                    pa_csv.write_csv(part, buffer, options)
                    copy.write(buffer.getbuffer())
            return
        table = table.set_column(3, "month", table.column("month").cast(pa.string()))
        marks = ", ".join(["?"] * table.num_columns)
        cursor = driver.cursor()
        for part in table.to_batches(max_chunksize=_PART_ROWS):  # Python rows for a part at a time only
            cursor.executemany(
                f"INSERT INTO account_credits ({columns}) VALUES ({marks})",
                zip(*(part.column(i).to_pylist() for i in range(part.num_columns)), strict=True),
            )
        cursor.close()

    def debit(self, original_entry_id: str, reversal_entry_id: str) -> None:
        """Append the negation of every credit row of the original entry, under the reversal's id."""
        self._connection.execute(
            text(
                "INSERT INTO account_credits (tenant, pseudonym, entry_id, month, activity, factor_id, "
                "factor_version, factor_release, loans, mg) SELECT tenant, pseudonym, :reversal, month, "
                "activity, factor_id, factor_version, factor_release, -loans, -mg FROM account_credits "
                "WHERE tenant = :tenant AND entry_id = :original"
            ),
            {"reversal": reversal_entry_id, "tenant": self._tenant, "original": original_entry_id},
        )

    def sever(self, pseudonym: str, now: datetime) -> int:
        """Null the pseudonym on the account's rows; record the erasure when there were any."""
        moved = self._connection.execute(
            update(account_credits)
            .where(account_credits.c.tenant == self._tenant, account_credits.c.pseudonym == pseudonym)
            .values(pseudonym=None)
        ).rowcount
        if moved:
            self._connection.execute(insert(account_erasures).values(
                tenant=self._tenant, erased_at=now, credits_severed=moved))  # fmt: skip
        return int(moved)


def _secret(connection: Connection, tenant: str) -> bytes | None:
    found = connection.execute(
        select(account_secrets.c.secret).where(account_secrets.c.tenant == tenant)
    ).scalar_one_or_none()
    return bytes(found) if found is not None else None


class SqlAccounts:
    """The accounts beside one SQL ledger: its engine, and its writes' lock and queue."""

    def __init__(self, ledger: SqlLedger) -> None:
        self._ledger = ledger
        self.engine = ledger.engine
        self._postgres = self.engine.dialect.name == "postgresql"
        self._secrets: dict[str, bytes] = {}  # a tenant's secret never changes once made

    @contextmanager
    def write(self, tenant: str) -> Iterator[SqlAccountWrite]:
        """A write transaction under the tenant's ledger lock (no credit runs beside an erasure), waited
        for as long as a ledger write waits, then busy (503 with Retry-After)."""
        with self._ledger.write(tenant) as ledger_write:
            yield SqlAccountWrite(ledger_write.connection, tenant)

    def within(self, ledger_write: object) -> SqlAccountWrite:
        """The account writes of a ledger write (a `SqlWrite`), in its transaction."""
        connection = getattr(ledger_write, "connection", None)
        tenant = getattr(ledger_write, "tenant", None)
        if not isinstance(connection, Connection) or not isinstance(tenant, str):
            raise TypeError("accounts are written inside a SQL ledger write")
        return SqlAccountWrite(connection, tenant)

    def secret(self, tenant: str) -> bytes | None:
        """The tenant's secret, if one was ever made."""
        if tenant not in self._secrets:
            with self.engine.connect() as connection:
                found = _secret(connection, tenant)
            if found is None:
                return None
            self._secrets[tenant] = found
        return self._secrets[tenant]

    def _balances(self, tenant: str) -> Any:
        """Each live account's balance (erased credits and accounts reversed to nothing left out)."""
        return (
            select(func.sum(account_credits.c.mg).label("balance"))
            .where(account_credits.c.tenant == tenant, account_credits.c.pseudonym.is_not(None))
            .group_by(account_credits.c.pseudonym)
            .having((func.sum(account_credits.c.loans) != 0) | (func.sum(account_credits.c.mg) != 0))
            .subquery()
        )

    def balance_summary(self, tenant: str) -> tuple[int, int, int, int]:
        """How many accounts, the lowest and highest balance and the total, in milligrams."""
        balances = self._balances(tenant)
        query = select(func.count(), func.min(balances.c.balance), func.max(balances.c.balance),
                       func.sum(balances.c.balance))  # fmt: skip
        with self.engine.connect() as connection:
            count, lowest, highest, total = connection.execute(query).one()
        return int(count), int(lowest or 0), int(highest or 0), int(total or 0)

    def balances(self, tenant: str) -> Iterator[int]:
        """Every account's balance, ascending, streamed in batches (a server-side cursor on PostgreSQL)."""
        balances = self._balances(tenant)
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=10_000).execute(
                select(balances.c.balance).order_by(balances.c.balance)
            )
            for (balance,) in result:
                yield int(balance)

    def credits(self, tenant: str, pseudonym: str) -> list[tuple[date, str, str, int, str, Any, Any]]:
        """The account's credit rows: month, activity, factor id, version, release, loans, milligrams."""
        query = select(
            account_credits.c.month, account_credits.c.activity, account_credits.c.factor_id,
            account_credits.c.factor_version, account_credits.c.factor_release,
            func.sum(account_credits.c.loans), func.sum(account_credits.c.mg),
        ).where(account_credits.c.tenant == tenant, account_credits.c.pseudonym == pseudonym).group_by(
            account_credits.c.month, account_credits.c.activity, account_credits.c.factor_id,
            account_credits.c.factor_version, account_credits.c.factor_release,
        )  # fmt: skip
        with self.engine.connect() as connection:
            return [
                (row[0], row[1], row[2], row[3], row[4], row[5], row[6]) for row in connection.execute(query)
            ]
