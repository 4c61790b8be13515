"""The ledger's tables (SQLAlchemy Core). Ledger rows are inserted, never updated or deleted; jobs and
their files are working state, not ledger data."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "account_credits",
    "account_erasures",
    "account_secrets",
    "activity_lines",
    "api_keys",
    "entries",
    "entry_details",
    "entry_lines",
    "idempotency_keys",
    "job_files",
    "jobs",
    "loan_claims",
    "loan_releases",
    "metadata",
]

metadata = MetaData()

entries = Table(
    "entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", String(40), nullable=False, unique=True),
    Column("tenant", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("book", String(20), nullable=False),
    Column("client_reference", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("body_checksum", String(64), nullable=False),
    Column("factor_release", String(64)),
    Column("reverses", String(40), unique=True),
    Column("period_end", Date),
    Column("mg", BigInteger, nullable=False),
)
Index("ix_entries_tenant_seq", entries.c.tenant, entries.c.seq)

entry_lines = Table(
    "entry_lines",
    metadata,
    Column("entry_id", String(40), ForeignKey("entries.entry_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("book", String(20), nullable=False),
    Column("activity", String(128), nullable=False),
    Column("activity_date", Date, nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("mg", BigInteger, nullable=False),
    Column("factor_id", String(128)),
    Column("factor_version", Integer),
    Column("factor_release", String(64)),
    Column("region", String(32)),
    Column("method", String(16)),
)
Index(
    "ix_entry_lines_tenant_book_date", entry_lines.c.tenant, entry_lines.c.book, entry_lines.c.activity_date
)

loan_claims = Table(
    "loan_claims",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("loan_id", String(128), primary_key=True),
    Column("claim", Integer, primary_key=True),
    Column("entry_id", String(40), ForeignKey("entries.entry_id"), nullable=False),
    Column("disbursed_on", Date, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("product", String(64)),
    Column("region", String(32)),
    Column("mg", BigInteger, nullable=False),
)
Index("ix_loan_claims_entry", loan_claims.c.entry_id)

loan_releases = Table(
    "loan_releases",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("loan_id", String(128), primary_key=True),
    Column("claim", Integer, primary_key=True),
    Column("reversal_entry_id", String(40), ForeignKey("entries.entry_id"), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_checksum", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("entry_id", String(40), ForeignKey("entries.entry_id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(40), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("request_checksum", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("rows_total", BigInteger),
    Column("rows_processed", BigInteger, nullable=False),
    Column("result", Text),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("owner", String(80)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("upload_bytes", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_tenant_key"),
)
Index("ix_jobs_state", jobs.c.state)
Index("ix_jobs_tenant_state", jobs.c.tenant, jobs.c.state)

# A job's upload (kind "upload", deleted when the job ends) and its rejected-rows report (kind "rejected"),
# in parts of at most a mebibyte, so every replica reads them and a file is never held whole in memory.
job_files = Table(
    "job_files",
    metadata,
    Column("job_id", String(40), ForeignKey("jobs.job_id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

entry_details = Table(
    "entry_details",
    metadata,
    Column("entry_id", String(40), ForeignKey("entries.entry_id"), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("details", Text, nullable=False),
)

activity_lines = Table(
    "activity_lines",
    metadata,
    Column("entry_id", String(40), ForeignKey("entries.entry_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("activity_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("activity", String(128), nullable=False),
    Column("activity_date", Date, nullable=False),
    Column("scope", Integer, nullable=False),
    Column("category", String(64), nullable=False),
    Column("method", String(16)),
    Column("status", String(16), nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("mg", BigInteger, nullable=False),
    Column("factor_id", String(160)),
    Column("factor_version", Integer),
    Column("factor_release", String(64)),
    Column("factor_value", String(200)),
    Column("factor_unit", String(100)),
    Column("confidence", String(16)),
    Column("source", Text),
    Column("gwp_set", String(16)),
    Column("region", String(32)),
    Column("entity", String(128)),
    Column("description", Text),
    Column("reason", Text),
    Column("step", String(32)),
)
Index("ix_activity_lines_tenant_date", activity_lines.c.tenant, activity_lines.c.activity_date)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("tenant", String(64), nullable=False),
    Column("roles", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# Personal carbon accounts: personal data, kept apart from the append-only ledger because erasure must be
# able to sever it. A customer is only ever a pseudonym (HMAC under the tenant's secret); an erased
# account's credits keep their milligrams with a null pseudonym, so every sum stays the same.
account_secrets = Table(
    "account_secrets",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("secret", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

account_credits = Table(
    "account_credits",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("pseudonym", String(32)),
    Column("entry_id", String(40), ForeignKey("entries.entry_id"), nullable=False),
    Column("month", Date, nullable=False),
    Column("activity", String(128), nullable=False),
    Column("factor_id", String(128), nullable=False),
    Column("factor_version", Integer, nullable=False),
    Column("factor_release", String(64), nullable=False),
    Column("loans", BigInteger, nullable=False),
    Column("mg", BigInteger, nullable=False),
)
Index("ix_account_credits_account", account_credits.c.tenant, account_credits.c.pseudonym)
Index("ix_account_credits_entry", account_credits.c.entry_id)

account_erasures = Table(
    "account_erasures",
    metadata,
    Column("erasure_id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("credits_severed", BigInteger, nullable=False),
)
