"""quiet cases (rules 5): the register reminds of missed progress notes (E4, C5, R1/S3) —
case_deadlines.reminds, owners, department, next_remind_at, reminders_sent, reminded_by, and an index for the sweep

Revision ID: 0017_register_reminders
Revises: 0016_phone_lookup
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_register_reminders"
down_revision: str | None = "0016_phone_lookup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_deadlines") as batch:
        batch.add_column(sa.Column("reminds", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("owners", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("department", sa.String(64), nullable=True))
        batch.add_column(sa.Column("next_remind_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reminded_by", sa.String(128), nullable=True))
    op.create_index("ix_case_deadlines_reminding", "case_deadlines", ["reminds", "met_at", "waived", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_case_deadlines_reminding", table_name="case_deadlines")
    with op.batch_alter_table("case_deadlines") as batch:
        for column in ("reminded_by", "reminders_sent", "next_remind_at", "department", "owners", "reminds"):
            batch.drop_column(column)
