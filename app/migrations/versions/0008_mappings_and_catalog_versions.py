"""mappings and catalog versions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('first_run_id', sa.Integer(), nullable=False),
    sa.Column('pinned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('pin', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('catalog_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_version_hash'), ['hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_version_first_run_id'), ['first_run_id'], unique=False)

    with op.batch_alter_table('evaluation_run', schema=None) as batch_op:
        # Runs made before inference existed inferred nothing: an empty object, not NULL.
        batch_op.add_column(sa.Column('requirement_inferences', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('catalog_version_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evaluation_run_catalog_version_id'), ['catalog_version_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evaluation_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_run_catalog_version_id'))
        batch_op.drop_column('catalog_version_id')
        batch_op.drop_column('requirement_inferences')

    with op.batch_alter_table('catalog_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_version_first_run_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_version_hash'))

    op.drop_table('catalog_version')
