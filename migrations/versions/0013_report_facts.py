"""report facts (K2, K3): a repair's rounds of work, first-inspection pass, arrivals on
time and revisits in the register; every deadline of a case (case_deadlines) for the on-time rate per rule

Revision ID: 0013_report_facts
Revises: 0012_money_paths
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_report_facts"
down_revision: str | None = "0012_money_paths"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
COUNTS = ("arrivals", "arrivals_on_time", "revisits")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("work_rounds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_pass", sa.Boolean(), nullable=True))
        for column in COUNTS:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "case_deadlines",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("due_at", UTC_TIME, nullable=False),
        sa.Column("met_at", UTC_TIME, nullable=True),
        sa.Column("missed", sa.Boolean(), nullable=False),
        sa.Column("waived", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
    )
    op.create_index("ix_case_deadlines_rule_due", "case_deadlines", ["rule", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_case_deadlines_rule_due", table_name="case_deadlines")
    op.drop_table("case_deadlines")
    with op.batch_alter_table("cases") as batch:
        for column in (*reversed(COUNTS), "first_pass", "work_rounds"):
            batch.drop_column(column)
