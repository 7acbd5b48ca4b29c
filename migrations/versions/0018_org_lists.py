"""the organisation's lists (P7): departments and case categories to choose from, and staff titles

Revision ID: 0018_org_lists
Revises: 0017_register_reminders
Create Date: 2026-12-08

The departments start as those the department accounts already name (P1 bound them); the categories as
the list in adapters.db.org.DEFAULT_CATEGORIES. Both are the administrator's to change afterwards.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_org_lists"
down_revision: str | None = "0017_register_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# as in adapters.db.org.DEFAULT_CATEGORIES when this migration was written (a migration keeps its own copy)
CATEGORIES = ("漏水", "渗水", "渗漏", "空鼓开裂", "门窗", "水电", "噪音", "设计缺陷", "交付延期", "物业服务",
              "使用不当", "其他")


def upgrade() -> None:
    departments = op.create_table(
        "departments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    categories = op.create_table(
        "case_categories",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("title", sa.String(64), nullable=True))
    staff = sa.table("staff", sa.column("department", sa.String))
    op.execute(departments.insert().from_select(  # one statement: also renders offline (--sql)
        ["name", "position", "active"],
        sa.select(staff.c.department, sa.literal(0), sa.true()).where(staff.c.department.is_not(None)).distinct()))
    op.bulk_insert(categories, [{"name": c, "position": i, "active": True} for i, c in enumerate(CATEGORIES)])


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("title")
    op.drop_table("case_categories")
    op.drop_table("departments")
