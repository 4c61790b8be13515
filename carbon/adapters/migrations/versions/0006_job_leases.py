"""Jobs across replicas: a lease on each job (owner, expiry, attempts) and the upload and rejected-rows
report kept in the database, where every replica reads them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the lease columns and the upload size to jobs; create job_files for uploads and reports."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(80)))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("upload_bytes", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_tenant_state", "jobs", ["tenant", "state"])
    op.create_table(
        "job_files",
        sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.job_id"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    """Uploads and reports live only in job_files; restore from a backup instead."""
    raise NotImplementedError("restore from a backup instead")
