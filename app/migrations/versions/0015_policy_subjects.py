"""policy subjects as rows

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

An agent's page shows the policies that can apply to it: those naming it, or '*', among their
subjects. Policy.subjects is a JSON list, so finding them meant reading every policy (10,000 at
scale) for each page. policy_subject holds one row per (policy, subject), indexed by subject, and
is filled here from the policies already stored.
"""

import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 5_000


def upgrade() -> None:
    table = op.create_table(
        "policy_subject",
        sa.Column("policy_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["policy_id"], ["policy.id"]),
        sa.PrimaryKeyConstraint("policy_id", "subject"),
    )
    op.create_index(op.f("ix_policy_subject_subject"), "policy_subject", ["subject"], unique=False)
    policies = sa.table("policy", sa.column("id", sa.String()), sa.column("subjects", sa.JSON()))
    connection = op.get_bind()
    rows = []
    for policy_id, subjects in connection.execute(sa.select(policies.c.id, policies.c.subjects)):
        if isinstance(subjects, str):  # a driver that hands JSON back as text
            subjects = json.loads(subjects)
        rows += [{"policy_id": policy_id, "subject": s} for s in dict.fromkeys(subjects or ())]
        if len(rows) >= BATCH:
            op.bulk_insert(table, rows)
            rows = []
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_subject_subject"), table_name="policy_subject")
    op.drop_table("policy_subject")
