"""O4, D1: each file says whether the owner gave it (their own pages) or staff recorded it — case_files.provenance

Revision ID: 0028_case_files_provenance
Revises: 0027_provenance_facts
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_case_files_provenance"
down_revision: str | None = "0027_provenance_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_files") as batch:
        batch.add_column(sa.Column("provenance", sa.String(8), nullable=False, server_default="staff"))
    # the files the owner pages added before: their technical account (api/owners.py OWNER_APP) is the owner's
    op.execute("UPDATE case_files SET provenance = 'owner' WHERE added_by = 'owner_app'")


def downgrade() -> None:
    with op.batch_alter_table("case_files") as batch:
        batch.drop_column("provenance")
