"""RCPT-time refusals counted per hour and reason (the dashboard, `mailgate list-refusals`).

Revision ID: 0005_rcpt_refusals
Revises: 0004
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_rcpt_refusals"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rcpt_refusals",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "reason"),
    )


def downgrade() -> None:
    op.drop_table("rcpt_refusals")
