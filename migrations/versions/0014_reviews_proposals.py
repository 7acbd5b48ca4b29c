"""report reviews (K1: the gm's review of the monthly statistics, escalating per E1) and campaign
proposals (V1 once per project at 50% occupancy, V2 once per project and year)

Revision ID: 0014_reviews_proposals
Revises: 0013_report_facts
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_reviews_proposals"
down_revision: str | None = "0013_report_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_reviews",
        sa.Column("report_id", sa.Integer(), primary_key=True),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", UTC_TIME, nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at", UTC_TIME, nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    )
    op.create_table(
        "campaign_proposals",
        sa.Column("project_key", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("campaign_proposals")
    op.drop_table("report_reviews")
