"""case numbers (C1): every number handed out, claimed → started, or void / taken with
the reason, so the register has no silent gaps

Revision ID: 0006_intake
Revises: 0005_register
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_intake"
down_revision: str | None = "0005_register"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_numbers",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_case_numbers_state_claimed_at", "case_numbers", ["state", "claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_case_numbers_state_claimed_at", table_name="case_numbers")
    op.drop_table("case_numbers")
