"""inventory tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('environment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('autonomy', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('identity_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('identity_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('is_identity_attested', sa.Boolean(), nullable=False),
    sa.Column('network_reach', sa.JSON(), nullable=False),
    sa.Column('max_delegation_depth', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('review_interval_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_environment'), ['environment'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_identity_id'), ['identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_team'), ['team'], unique=False)

    op.create_table('approval',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tool_ref', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('task', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('credential_issued', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_tool_ref'), ['tool_ref'], unique=False)

    op.create_table('credential',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('issuer', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('ttl_seconds', sa.Integer(), nullable=True),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_rotated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('rotation_interval_days', sa.Integer(), nullable=False),
    sa.Column('storage', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('import_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('imported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('is_prune', sa.Boolean(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_record_imported_at'), ['imported_at'], unique=False)

    op.create_table('mcp_server',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('command', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('package', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('auth', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('is_audience_validated', sa.Boolean(), nullable=False),
    sa.Column('has_token_passthrough', sa.Boolean(), nullable=False),
    sa.Column('gateway', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('policy',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('engine', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('evaluation', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('effect', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subjects', sa.JSON(), nullable=False),
    sa.Column('tools', sa.JSON(), nullable=False),
    sa.Column('is_approval_required', sa.Boolean(), nullable=False),
    sa.Column('approvers', sa.JSON(), nullable=False),
    sa.Column('intents', sa.JSON(), nullable=False),
    sa.Column('max_chain_depth', sa.Integer(), nullable=True),
    sa.Column('jit_credential_ttl_seconds', sa.Integer(), nullable=True),
    sa.Column('rate_limit_per_minute', sa.Integer(), nullable=True),
    sa.Column('last_reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('review_interval_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('agent_credential',
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('credential_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id', 'credential_id')
    )
    with op.batch_alter_table('agent_credential', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_credential_credential_id'), ['credential_id'], unique=False)

    op.create_table('agent_delegation',
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('delegate_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id', 'delegate_id')
    )
    with op.batch_alter_table('agent_delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_delegation_delegate_id'), ['delegate_id'], unique=False)

    op.create_table('agent_tool',
    sa.Column('agent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tool_ref', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id', 'tool_ref')
    )
    with op.batch_alter_table('agent_tool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_tool_tool_ref'), ['tool_ref'], unique=False)

    op.create_table('tool',
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('server_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('sensitivity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('annotations', sa.JSON(), nullable=False),
    sa.Column('data_classes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['mcp_server.id'], ),
    sa.PrimaryKeyConstraint('ref')
    )
    with op.batch_alter_table('tool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tool_server_id'), ['server_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tool_server_id'))

    op.drop_table('tool')
    with op.batch_alter_table('agent_tool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_tool_tool_ref'))

    op.drop_table('agent_tool')
    with op.batch_alter_table('agent_delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_delegation_delegate_id'))

    op.drop_table('agent_delegation')
    with op.batch_alter_table('agent_credential', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_credential_credential_id'))

    op.drop_table('agent_credential')
    op.drop_table('policy')
    op.drop_table('mcp_server')
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_record_imported_at'))

    op.drop_table('import_record')
    op.drop_table('credential')
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_tool_ref'))
        batch_op.drop_index(batch_op.f('ix_approval_agent_id'))

    op.drop_table('approval')
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_team'))
        batch_op.drop_index(batch_op.f('ix_agent_status'))
        batch_op.drop_index(batch_op.f('ix_agent_owner'))
        batch_op.drop_index(batch_op.f('ix_agent_identity_id'))
        batch_op.drop_index(batch_op.f('ix_agent_environment'))

    op.drop_table('agent')
