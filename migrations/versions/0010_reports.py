"""reports (K1–K3): every generated report with its figures and definitions

Revision ID: 0010_reports
Revises: 0007_access_contractor_id
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_reports"
down_revision: str | None = "0007_access_contractor_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_reports_kind_period", "reports", ["kind", "period", "generated_at"])


def downgrade() -> None:
    op.drop_index("ix_reports_kind_period", table_name="reports")
    op.drop_table("reports")
