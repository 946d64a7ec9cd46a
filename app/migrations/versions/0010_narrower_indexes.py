"""narrower indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

audit_event: (agent, at) replaces (agent), serving an agent's calls in time order (its page, a
re-evaluation of it); the indexes on tool and import_id go, as no query uses them and each costs
every inserted event a B-tree insert. finding: (team, severity) and (environment, severity) replace
(team) and (environment), for the findings page's filters, at no extra cost to each new finding;
(check_id) goes, as the unique key's index starts with check_id.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_agent")
        batch_op.drop_index("ix_audit_event_tool")
        batch_op.drop_index("ix_audit_event_import_id")
        batch_op.create_index("ix_audit_event_agent_at", ["agent", "at"], unique=False)
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_check_id")
        batch_op.drop_index("ix_finding_team")
        batch_op.drop_index("ix_finding_environment")
        batch_op.create_index("ix_finding_team_severity", ["team", "severity"], unique=False)
        batch_op.create_index("ix_finding_environment_severity", ["environment", "severity"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_environment_severity")
        batch_op.drop_index("ix_finding_team_severity")
        batch_op.create_index("ix_finding_environment", ["environment"], unique=False)
        batch_op.create_index("ix_finding_team", ["team"], unique=False)
        batch_op.create_index("ix_finding_check_id", ["check_id"], unique=False)
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_agent_at")
        batch_op.create_index("ix_audit_event_import_id", ["import_id"], unique=False)
        batch_op.create_index("ix_audit_event_tool", ["tool"], unique=False)
        batch_op.create_index("ix_audit_event_agent", ["agent"], unique=False)
