"""sign-out ends sessions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Sessions are signed cookies, so a copy of one stayed valid after its user signed out. A user's
signed_out_at now ends every session signed in before it.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_out_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("signed_out_at")
