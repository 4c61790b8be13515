"""Entry details: the structured record behind an entry (an energy-saving claim's scenarios, boundary and
location- and market-based figures), as JSON text. Append-only, like the ledger: one row per entry, never
updated or deleted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the entry_details table (additive: existing tables are not touched)."""
    op.create_table(
        "entry_details",
        sa.Column("entry_id", sa.String(40), sa.ForeignKey("entries.entry_id"), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Entry details are ledger data; they are never dropped by a migration."""
    raise NotImplementedError("restore from a backup instead")
