"""a group's million cases (P5): the register's indexes check a case's project inside them (a company's register
is its projects' cases); 我的待办 from partial indexes of the open cases (one for a department's); the pickers'
projects and buildings from an index of the property register

Revision ID: 0026_group_scale
Revises: 0025_organisation
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_group_scale"
down_revision: str | None = "0025_organisation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_KEY = ["received_at", "case_no"]
FILTERS = ["case_type", "status", "department", "project", "overdue", "escalation_level", "handler", "unit",
           "company_id", "project_key"]
OLD_SECOND = ["case_type", "status", "department", "overdue"]
NEW_SECOND = [*OLD_SECOND, "project", "company_id", "project_key"]  # the scope's columns inside every index (P5)
WAITING = ["next_roles", "next_user", "department", "contractor_id", "project", "case_type", "company_id", "project_key"]
OPEN = sa.text("next_roles <> ''")


def columns(column: str | None, second: list[str]) -> list[str]:
    return ([column] if column else []) + SORT_KEY + [c for c in second if c != column]


def _register_indexes(second: list[str]) -> None:
    for column in (None, *FILTERS):
        name = f"ix_cases_{column}_received" if column else "ix_cases_received"
        op.drop_index(name, table_name="cases")
        op.create_index(name, "cases", columns(column, second))


def upgrade() -> None:
    _register_indexes(NEW_SECOND)
    op.create_index("ix_cases_waiting", "cases", [*SORT_KEY, *WAITING], sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_cases_waiting_department", "cases",
                    ["department", *SORT_KEY, *(c for c in WAITING if c != "department")],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_property_units_project_building", "property_units", ["project", "building"])


def downgrade() -> None:
    op.drop_index("ix_property_units_project_building", table_name="property_units")
    op.drop_index("ix_cases_waiting_department", table_name="cases")
    op.drop_index("ix_cases_waiting", table_name="cases")
    _register_indexes(OLD_SECOND)
