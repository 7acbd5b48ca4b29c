"""O4: who gave the facts the reports count by provenance — the satisfaction and the sign-off (the owner themselves
or staff, 代录), and the owner's answers to more time asked (R8) by who gave them

Revision ID: 0027_provenance_facts
Revises: 0026_group_scale
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_provenance_facts"
down_revision: str | None = "0026_group_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("consents_owner", "consents_owner_yes", "consents_staff", "consents_staff_yes")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("satisfaction_by", sa.String(8), nullable=True))
        batch.add_column(sa.Column("sign_off_by", sa.String(8), nullable=True))
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name in ("satisfaction_by", "sign_off_by", *COUNTS):
            batch.drop_column(name)
