"""sign-in failures

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

The sign-in throttle counts recent failures per username and per client address in the database,
so that every gunicorn worker sees the same count and a restart does not reset it.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sign_in_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_failure_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_in_failure_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_in_failure_username"), ["username"], unique=False)


def downgrade() -> None:
    op.drop_table("sign_in_failure")
