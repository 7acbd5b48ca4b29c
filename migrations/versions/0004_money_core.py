"""money: every worker evaluation kept (R9), the deposit as a ledger of entries (A3)

- worker_evaluations replaces worker_scores: one row per evaluation event and worker, never
  overwritten (R9). The old rows move over as one combined evaluation each (parts = 2: sign-off +
  revisit), so the quarter's report keeps them.
- deposit_entries gain kind, by and shortfall_fen; the deposit a contractor lodged
  (contractors.deposit_initial_fen) becomes a 'lodged' entry, so the balance is the sum of the entries
  and an administrator's change is an entry (top-up or adjustment), never an overwrite (A3).

Revision ID: 0004_money_core
Revises: 0003_access
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_money_core"
down_revision: str | None = "0003_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_evaluations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("evaluation_key", sa.String(96), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("case_no", sa.String(32), nullable=False),
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("attitude", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("evaluation_key", "worker"),
    )
    op.create_index("ix_worker_evaluations_case_no", "worker_evaluations", ["case_no"])
    op.create_index("ix_worker_evaluations_quarter", "worker_evaluations", ["quarter"])
    op.execute("INSERT INTO worker_evaluations (evaluation_key, worker, case_no, quarter, source, parts, quality, "
               "attitude, at) SELECT case_no || '\\:legacy', worker, case_no, quarter, 'sign_off+revisit', 2, quality, "
               "attitude, at FROM worker_scores")
    op.drop_table("worker_scores")

    with op.batch_alter_table("deposit_entries") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="deduction"))
        batch.add_column(sa.Column("recorded_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("shortfall_fen", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("INSERT INTO deposit_entries (contractor_id, entry_key, case_no, amount_fen, note, at, kind, recorded_by, "
               "shortfall_fen) SELECT id, id || '\\:lodged', NULL, deposit_initial_fen, 'deposit lodged', "
               "CURRENT_TIMESTAMP, 'lodged', NULL, 0 FROM contractors WHERE deposit_initial_fen <> 0")
    with op.batch_alter_table("contractors") as batch:
        batch.drop_column("deposit_initial_fen")


def downgrade() -> None:
    with op.batch_alter_table("contractors") as batch:
        batch.add_column(sa.Column("deposit_initial_fen", sa.BigInteger(), nullable=False, server_default="0"))
    # The first release kept only what was lodged plus the deductions: top-ups and adjustments fold
    # into the lodged amount.
    op.execute("UPDATE contractors SET deposit_initial_fen = (SELECT COALESCE(SUM(amount_fen), 0) FROM "
               "deposit_entries WHERE deposit_entries.contractor_id = contractors.id AND kind <> 'deduction')")
    op.execute("DELETE FROM deposit_entries WHERE kind <> 'deduction'")
    with op.batch_alter_table("contractors") as batch:
        batch.alter_column("deposit_initial_fen", server_default=None)
    with op.batch_alter_table("deposit_entries") as batch:
        batch.drop_column("shortfall_fen")
        batch.drop_column("recorded_by")
        batch.drop_column("kind")

    op.create_table(
        "worker_scores",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("worker", sa.String(64), primary_key=True),
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("attitude", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_worker_scores_quarter", "worker_scores", ["quarter"])
    # The first release kept one row per repair and worker: the latest evaluation.
    op.execute("INSERT INTO worker_scores (case_no, worker, quarter, quality, attitude, at) "
               "SELECT e.case_no, e.worker, e.quarter, e.quality, e.attitude, e.at FROM worker_evaluations e "
               "WHERE e.id = (SELECT MAX(x.id) FROM worker_evaluations x WHERE x.case_no = e.case_no "
               "AND x.worker = e.worker)")
    op.drop_table("worker_evaluations")
