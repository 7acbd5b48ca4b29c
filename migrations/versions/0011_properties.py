"""the property register (房产台账): units with sold / occupied flags, handover date and owner, and
the log of imports; revisit campaigns, their households and visit forms

Revision ID: 0011_properties
Revises: 0010_reports
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_properties"
down_revision: str | None = "0010_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "property_units",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("project_key", sa.String(128), nullable=False),
        sa.Column("building_key", sa.String(64), nullable=False),
        sa.Column("unit_key", sa.String(64), nullable=False),
        sa.Column("sold", sa.Boolean(), nullable=False),
        sa.Column("occupied", sa.Boolean(), nullable=False),
        sa.Column("handover_date", sa.Date(), nullable=True),
        sa.Column("owner_name", sa.String(64), nullable=True),
        sa.Column("owner_phone_masked", sa.String(32), nullable=True),
        sa.Column("owner_phone_sealed", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("project_key", "building_key", "unit_key", name="uq_property_unit"),
    )
    op.create_index("ix_property_units_project_key", "property_units", ["project_key"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("building_key", sa.String(64), nullable=True))
    op.create_index("ix_cases_project_building_key", "cases", ["project", "building_key", "received_at"])
    op.create_table(
        "property_imports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("filename", sa.String(256), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
    )


    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_campaigns_project", "campaigns", ["project"])
    op.create_table(
        "campaign_households",
        sa.Column("campaign_id", sa.String(32), primary_key=True),
        sa.Column("unit_id", sa.Integer(), primary_key=True),
        sa.Column("building", sa.String(64), nullable=False),
    )
    op.create_table(
        "campaign_visits",
        sa.Column("campaign_id", sa.String(32), primary_key=True),
        sa.Column("visit_no", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
    )
    op.create_index("ix_campaign_visits_unit_id", "campaign_visits", ["unit_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_visits_unit_id", table_name="campaign_visits")
    op.drop_table("campaign_visits")
    op.drop_table("campaign_households")
    op.drop_index("ix_campaigns_project", table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_index("ix_cases_project_building_key", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("building_key")
        batch.drop_column("unit_id")
    op.drop_table("property_imports")
    op.drop_index("ix_property_units_project_key", table_name="property_units")
    op.drop_table("property_units")
