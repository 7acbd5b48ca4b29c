"""the register at 100,000 cases: composite indexes for every filter of GET /cases, each
ending in the sort key (received_at, case_no), instead of single-column ones; `view` nullable (written
when a case closes, without its timeline: the projection sends only what changed)

Revision ID: 0005_register
Revises: 0004_money_core
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_register"
down_revision: str | None = "0004_money_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_KEY = ["received_at", "case_no"]
FILTERS = ["case_type", "status", "department", "project", "overdue", "escalation_level", "handler", "unit"]
SECOND = ["case_type", "status", "department", "overdue"]  # checked inside the index, counted from it
OLD_SINGLE = ["case_type", "status", "project", "department", "overdue", "received_at"]


def columns(column: str | None) -> list[str]:
    return ([column] if column else []) + SORT_KEY + [c for c in SECOND if c != column]


def upgrade() -> None:
    for column in OLD_SINGLE:
        op.drop_index(f"ix_cases_{column}", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("view", existing_type=sa.JSON(), nullable=True)
    op.create_index("ix_cases_received", "cases", columns(None))
    for column in FILTERS:
        op.create_index(f"ix_cases_{column}_received", "cases", columns(column))


def downgrade() -> None:
    for column in FILTERS:
        op.drop_index(f"ix_cases_{column}_received", table_name="cases")
    op.drop_index("ix_cases_received", table_name="cases")
    op.execute(sa.text("UPDATE cases SET view = '{}' WHERE view IS NULL"))
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("view", existing_type=sa.JSON(), nullable=False)
    for column in OLD_SINGLE:
        op.create_index(f"ix_cases_{column}", "cases", [column])
