"""Personal carbon accounts: each tenant's pseudonym secret, the credits per account, the erasures.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the account tables; ledgers recorded before have no accounts (no loan named a customer)."""
    op.create_table(
        "account_secrets",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "account_credits",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(32)),
        sa.Column("entry_id", sa.String(40), sa.ForeignKey("entries.entry_id"), nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("activity", sa.String(128), nullable=False),
        sa.Column("factor_id", sa.String(128), nullable=False),
        sa.Column("factor_version", sa.Integer, nullable=False),
        sa.Column("factor_release", sa.String(64), nullable=False),
        sa.Column("loans", sa.BigInteger, nullable=False),
        sa.Column("mg", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_account_credits_account", "account_credits", ["tenant", "pseudonym"])
    op.create_index("ix_account_credits_entry", "account_credits", ["entry_id"])
    op.create_table(
        "account_erasures",
        sa.Column("erasure_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credits_severed", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    """Drop the account tables (the ledger keeps every figure)."""
    op.drop_table("account_erasures")
    op.drop_table("account_credits")
    op.drop_table("account_secrets")
