"""discovered servers and tool definitions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mcp_server', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('bridge', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('is_enabled', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(
            sa.Column('is_auto_approve_all', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f('ix_mcp_server_source'), ['source'], unique=False)
    with op.batch_alter_table('tool', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('input_schema', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('output_schema', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('is_auto_approved', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column('reviewed_definition_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column('definition_reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table('agent_server',
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('server_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id', 'server_id')
    )
    with op.batch_alter_table('agent_server', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_server_server_id'), ['server_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_server', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_server_server_id'))
    op.drop_table('agent_server')
    with op.batch_alter_table('tool', schema=None) as batch_op:
        for column in ('definition_reviewed_at', 'reviewed_definition_hash', 'is_auto_approved',
                       'output_schema', 'input_schema', 'title'):
            batch_op.drop_column(column)
    with op.batch_alter_table('mcp_server', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mcp_server_source'))
        for column in ('is_auto_approve_all', 'is_enabled', 'bridge', 'scope', 'client'):
            batch_op.drop_column(column)
