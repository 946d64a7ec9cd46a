"""audit events

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('agent', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tool', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('task', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('approval', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('credential', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('chain_depth', sa.Integer(), nullable=True),
    sa.Column('delegated_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('source_format', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_agent'), ['agent'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_event_id'), ['event_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_audit_event_import_id'), ['import_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_tool'), ['tool'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_tool'))
        batch_op.drop_index(batch_op.f('ix_audit_event_import_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_event_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_agent'))

    op.drop_table('audit_event')
