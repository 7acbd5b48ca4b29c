"""photos and documents (D1–D4): case_files, the files each case references (claim check: the bytes are in
the blob store)

Revision ID: 0021_case_files
Revises: 0020_sessions_admin
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_case_files"
down_revision: str | None = "0020_sessions_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_files",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("file_id", sa.String(32), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("thumb", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("for_owner", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("shows_person", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_files_sha256", "case_files", ["sha256"])
    op.create_index("ix_case_files_thumb", "case_files", ["thumb"])


def downgrade() -> None:
    op.drop_index("ix_case_files_thumb", table_name="case_files")
    op.drop_index("ix_case_files_sha256", table_name="case_files")
    op.drop_table("case_files")
