"""The append-only ledger: entries, lines, loan claims and releases, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ledger tables."""
    op.create_table(
        "entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(40), nullable=False, unique=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("book", sa.String(20), nullable=False),
        sa.Column("client_reference", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_checksum", sa.String(64), nullable=False),
        sa.Column("factor_release", sa.String(64)),
        sa.Column("reverses", sa.String(40), unique=True),
        sa.Column("period_end", sa.Date),
        sa.Column("mg", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_entries_tenant_seq", "entries", ["tenant", "seq"])
    op.create_table(
        "entry_lines",
        sa.Column("entry_id", sa.String(40), sa.ForeignKey("entries.entry_id"), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("book", sa.String(20), nullable=False),
        sa.Column("activity", sa.String(128), nullable=False),
        sa.Column("activity_date", sa.Date, nullable=False),
        sa.Column("quantity", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("mg", sa.BigInteger, nullable=False),
        sa.Column("factor_id", sa.String(128)),
        sa.Column("factor_version", sa.Integer),
        sa.Column("factor_release", sa.String(64)),
        sa.Column("region", sa.String(32)),
        sa.Column("method", sa.String(16)),
    )
    op.create_index("ix_entry_lines_tenant_book_date", "entry_lines", ["tenant", "book", "activity_date"])
    op.create_table(
        "loan_claims",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("loan_id", sa.String(128), primary_key=True),
        sa.Column("claim", sa.Integer, primary_key=True),
        sa.Column("entry_id", sa.String(40), sa.ForeignKey("entries.entry_id"), nullable=False),
        sa.Column("disbursed_on", sa.Date, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("product", sa.String(64)),
        sa.Column("region", sa.String(32)),
        sa.Column("mg", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_loan_claims_entry", "loan_claims", ["entry_id"])
    op.create_table(
        "loan_releases",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("loan_id", sa.String(128), primary_key=True),
        sa.Column("claim", sa.Integer, primary_key=True),
        sa.Column("reversal_entry_id", sa.String(40), sa.ForeignKey("entries.entry_id"), nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_checksum", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("entry_id", sa.String(40), sa.ForeignKey("entries.entry_id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """The ledger is never dropped by a migration."""
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
