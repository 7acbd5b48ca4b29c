"""the group's organisation (P5): companies and projects, each staff account's scope (company, project) and own
robot, each case's company and project key

Revision ID: 0025_organisation
Revises: 0024_repair_trades
Create Date: 2027-01-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_organisation"
down_revision: str | None = "0024_repair_trades"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SECOND = ("case_type", "status", "department", "overdue")


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("mailboxes", sa.JSON(), nullable=False),
        sa.Column("robots", sa.JSON(), nullable=False),
    )
    op.create_table(
        "projects",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_projects_company_id", "projects", ["company_id"])
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("company_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("project", sa.String(128), nullable=True))
        batch.add_column(sa.Column("webhook_url", sa.String(512), nullable=True))
    op.create_index("ix_staff_company_id", "staff", ["company_id"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("company_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("project_key", sa.String(128), nullable=True))
    # The cases of before: their project's key, as the register compares names (aftersales.properties.normalize_text:
    # NFKC, no spaces); their company comes when their project is registered to one (adapters.db.org.add_project).
    from aftersales.properties import normalize_text

    conn = op.get_bind()
    for (project,) in ([] if op.get_context().as_sql else conn.execute(sa.text("SELECT DISTINCT project FROM cases")).all()):
        conn.execute(sa.text("UPDATE cases SET project_key = :k WHERE project = :p"),
                     {"k": normalize_text(project), "p": project})
    for column in ("company_id", "project_key"):
        op.create_index(f"ix_cases_{column}_received", "cases",
                        [column, "received_at", "case_no", *_SECOND])


def downgrade() -> None:
    for column in ("company_id", "project_key"):
        op.drop_index(f"ix_cases_{column}_received", "cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("project_key")
        batch.drop_column("company_id")
    op.drop_index("ix_staff_company_id", "staff")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("webhook_url")
        batch.drop_column("project")
        batch.drop_column("company_id")
    op.drop_index("ix_projects_company_id", "projects")
    op.drop_table("projects")
    op.drop_table("companies")
