"""the findings page's default order as an index

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

The findings page sorts open findings most severe first, then by check and subject. Without an index
in that order the database sorts every open finding (100,000 at scale) for each page it shows.
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


def upgrade() -> None:
    op.create_index(
        "ix_finding_severity_order", "finding", [sa.text(SEVERITY_ORDER_SQL), "check_id", "subject_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_finding_severity_order", table_name="finding")
