"""performance indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The state an incremental evaluation builds on: what the latest run checked (evaluation_basis) and
each agent's share of its per-agent check statistics (agent_check_share). The evaluation's reads
all go by primary key or by indexes that exist already (finding.agent_id, audit_event.agent and
audit_event.at), so it needs no new index.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("catalog_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("event_max_id", sa.Integer(), nullable=True),
        sa.Column("is_partitioned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "agent_check_share",
        sa.Column("agent_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id"),
    )


def downgrade() -> None:
    op.drop_table("agent_check_share")
    op.drop_table("evaluation_basis")
