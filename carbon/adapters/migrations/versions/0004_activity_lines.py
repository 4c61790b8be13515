"""Inventory activity lines: each scope 1, 2 or 3 figure of an inventory entry with its scope, category,
method (location or market), status (computed, instrument, missing) and factor provenance. Append-only,
like the ledger; additive (existing tables are not touched).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the activity_lines table and its (tenant, activity_date) index."""
    op.create_table(
        "activity_lines",
        sa.Column("entry_id", sa.String(40), sa.ForeignKey("entries.entry_id"), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("activity_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("activity", sa.String(128), nullable=False),
        sa.Column("activity_date", sa.Date, nullable=False),
        sa.Column("scope", sa.Integer, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("quantity", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("mg", sa.BigInteger, nullable=False),
        sa.Column("factor_id", sa.String(160)),
        sa.Column("factor_version", sa.Integer),
        sa.Column("factor_release", sa.String(64)),
        sa.Column("factor_value", sa.String(200)),
        sa.Column("factor_unit", sa.String(100)),
        sa.Column("confidence", sa.String(16)),
        sa.Column("source", sa.Text),
        sa.Column("gwp_set", sa.String(16)),
        sa.Column("region", sa.String(32)),
        sa.Column("entity", sa.String(128)),
        sa.Column("description", sa.Text),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_activity_lines_tenant_date", "activity_lines", ["tenant", "activity_date"])


def downgrade() -> None:
    """Activity lines are ledger data; they are never dropped by a migration."""
    raise NotImplementedError("restore from a backup instead")
