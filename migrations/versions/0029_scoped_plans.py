"""a company's 我的待办 and the register's overdue=yes at a million cases (P5): a partial index of a company's open
cases (company first), and the overdue index again over the overdue cases only

Revision ID: 0029_scoped_plans
Revises: 0028_case_files_provenance
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_scoped_plans"
down_revision: str | None = "0028_case_files_provenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_KEY = ["received_at", "case_no"]
SECOND = ["case_type", "status", "department", "overdue", "project", "company_id", "project_key"]
WAITING = ["next_roles", "next_user", "department", "contractor_id", "project", "case_type", "company_id", "project_key"]
OPEN = sa.text("next_roles <> ''")


def upgrade() -> None:
    op.create_index("ix_cases_waiting_company", "cases",
                    ["company_id", *SORT_KEY, *(c for c in WAITING if c != "company_id")],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_cases_overdue_yes", "cases", ["overdue", *SORT_KEY, *(c for c in SECOND if c != "overdue")],
                    sqlite_where=sa.text("overdue = 1"), postgresql_where=sa.text("overdue"))


def downgrade() -> None:
    op.drop_index("ix_cases_overdue_yes", table_name="cases")
    op.drop_index("ix_cases_waiting_company", table_name="cases")
