"""who acts next: cases.next_roles ("|cs_staff|butler|") and cases.next_user (the named
handler), written by the projection, for the workbench's my-work queue and the register's filters

Revision ID: 0015_next_actors
Revises: 0014_reviews_proposals
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_next_actors"
down_revision: str | None = "0014_reviews_proposals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("next_roles", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("next_user", sa.String(64), nullable=True))
    op.create_index("ix_cases_next_user", "cases", ["next_user"])


def downgrade() -> None:
    op.drop_index("ix_cases_next_user", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("next_user")
        batch.drop_column("next_roles")
