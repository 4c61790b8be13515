"""Activity lines name the step of the market-based hierarchy that priced them (null on older lines).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable step column; lines recorded before keep null (their status says what they are)."""
    with op.batch_alter_table("activity_lines") as batch:
        batch.add_column(sa.Column("step", sa.String(32)))


def downgrade() -> None:
    """Drop the step column."""
    with op.batch_alter_table("activity_lines") as batch:
        batch.drop_column("step")
