"""access (P1–P3): who sees a case in the register (cases.contractor_id, cases.reached_roles, filled from
each row's stored view), the account-change log (staff_changes) and the record of each showing of a
full phone number (personal_data_access)

Revision ID: 0003_access
Revises: 0002_accounts
Create Date: 2026-11-23
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_access"
down_revision: str | None = "0002_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("contractor_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reached_roles", sa.String(255), nullable=False, server_default=""))
        batch.create_index("ix_cases_contractor_id", ["contractor_id"])
    _fill_visibility_facts()

    op.create_table(
        "staff_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_staff_changes_at", "staff_changes", ["at"])
    op.create_index("ix_staff_changes_username", "staff_changes", ["username"])

    op.create_table(
        "personal_data_access",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("case_no", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
    )
    op.create_index("ix_personal_data_access_at", "personal_data_access", ["at"])
    op.create_index("ix_personal_data_access_username", "personal_data_access", ["username"])
    op.create_index("ix_personal_data_access_case_no", "personal_data_access", ["case_no"])


def _fill_visibility_facts() -> None:
    """Rows projected before this revision: the facts from their stored view (later projections write them)."""
    from aftersales.access import case_facts, reached_column

    if op.get_context().as_sql:  # offline SQL script: no rows to read (a later projection writes them)
        return
    conn = op.get_bind()
    cases = sa.table("cases", sa.column("case_no", sa.String), sa.column("view", sa.JSON),
                     sa.column("contractor_id", sa.String), sa.column("reached_roles", sa.String))
    for case_no, view in conn.execute(sa.select(cases.c.case_no, cases.c.view)).all():
        facts = case_facts(json.loads(view) if isinstance(view, str) else (view or {}))
        conn.execute(cases.update().where(cases.c.case_no == case_no).values(
            contractor_id=facts["contractor_id"], reached_roles=reached_column(facts["reached_roles"])))


def downgrade() -> None:
    op.drop_table("personal_data_access")
    op.drop_table("staff_changes")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_contractor_id")
        batch.drop_column("reached_roles")
        batch.drop_column("contractor_id")
