"""the findings page's orders as indexes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

The findings page sorts open findings most severe first, then by check and subject. Without an index
in that order the database sorts every open finding (100,000 at scale) for each page it shows. Its
filters by team, environment or severity get indexes in the page's order within one severity too,
ending with the status, so that a filtered page and its count come from the index alone.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# As app.models.assessment.SEVERITY_ORDER_SQL was when this migration was written.
SEVERITY_ORDER_SQL = (
    "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 9 END"
)


# (name, columns before, columns after)
WIDENED = (
    ("ix_finding_team_severity", ["team", "severity"], ["team", "severity", "check_id", "subject_id", "status"]),
    (
        "ix_finding_environment_severity",
        ["environment", "severity"],
        ["environment", "severity", "check_id", "subject_id", "status"],
    ),
    ("ix_finding_severity", ["severity"], ["severity", "check_id", "subject_id", "status"]),
)


def upgrade() -> None:
    # In parentheses: PostgreSQL takes an expression in an index only so; SQLite ignores them.
    expression = sa.text(f"({SEVERITY_ORDER_SQL})")
    op.create_index("ix_finding_severity_order", "finding", [expression, "check_id", "subject_id"])
    for name, _, columns in WIDENED:
        op.drop_index(name, table_name="finding")
        op.create_index(name, "finding", columns)


def downgrade() -> None:
    for name, columns, _ in WIDENED:
        op.drop_index(name, table_name="finding")
        op.create_index(name, "finding", columns)
    op.drop_index("ix_finding_severity_order", table_name="finding")
