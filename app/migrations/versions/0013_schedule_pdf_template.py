"""a schedule's PDF template

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

A report schedule may print its PDF with an uploaded template instead of the built-in one.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_schedule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf_template", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_schedule", schema=None) as batch_op:
        batch_op.drop_column("pdf_template")
